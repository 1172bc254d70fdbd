//! A request body that a redirect cannot carry further: reqwest re-sends a body on a 307 or
//! 308 only when it can clone it, and it never clones a body it did not build itself. The
//! bytes (a login's secret ID, a client secret) are wiped when the last reference drops.
//! The same body hands an answer's bytes to a library that reads `http_body` bodies (an
//! SDK), which then holds them only as a stream it cannot print.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use zeroize::Zeroizing;

/// One chunk of bytes, sent once, with its exact length (so that servers get a
/// `Content-Length`, not chunked encoding), or no bytes at all.
pub(crate) struct OnceBody {
    data: Option<Bytes>,
    len: u64,
}

impl OnceBody {
    /// A body of `data` (empty for a request without one: an empty body that cannot be
    /// cloned stops reqwest from following a 301, 302, 307 or 308 with it).
    pub(super) fn body(data: Option<&Zeroizing<Vec<u8>>>) -> reqwest::Body {
        let data = data
            .filter(|data| !data.is_empty())
            .map(|data| Bytes::from_owner(Zeroizing::new(data.to_vec())));
        let len = data.as_ref().map_or(0, |d| d.len() as u64);
        reqwest::Body::wrap(OnceBody { data, len })
    }

    /// A body of `data`, taken as it is (no copy) and wiped when the body drops.
    pub(crate) fn owned(data: Zeroizing<Vec<u8>>) -> OnceBody {
        let len = data.len() as u64;
        let data = (len > 0).then(|| Bytes::from_owner(data));
        OnceBody { data, len }
    }
}

impl http_body::Body for OnceBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.data.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // No exact 0 for an empty body: redirect layers clone an exactly empty body freely.
        // Being at its end already, it is still sent as no body at all.
        match self.len {
            0 => SizeHint::new(),
            len => SizeHint::with_exact(len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[test]
    fn an_owned_body_yields_its_bytes_once_with_their_length() {
        let mut body = OnceBody::owned(Zeroizing::new(b"answer".to_vec()));
        assert_eq!(body.size_hint().exact(), Some(6));
        assert!(!body.is_end_stream());
        let waker = std::task::Waker::noop();
        let mut context = Context::from_waker(waker);
        let frame = Pin::new(&mut body).poll_frame(&mut context);
        let Poll::Ready(Some(Ok(frame))) = frame else {
            panic!("no frame");
        };
        assert_eq!(frame.into_data().ok().as_deref(), Some(&b"answer"[..]));
        assert!(body.is_end_stream());
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut context),
            Poll::Ready(None)
        ));
        let empty = OnceBody::owned(Zeroizing::new(Vec::new()));
        assert!(empty.is_end_stream());
    }
}
