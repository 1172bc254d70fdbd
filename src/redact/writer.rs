//! [`RedactingWriter`]: a line-buffered [`std::io::Write`] that masks secrets on their way
//! through.

use std::fmt;
use std::io::{self, Write};

use zeroize::Zeroizing;

use super::live::View;
use super::redactor::Redactor;

/// How long a line may grow before part of it goes out without waiting for its end.
const LINE_BOUND: usize = 64 * 1024;

/// A [`Write`] that masks every secret its [`Redactor`] knows before the text reaches the
/// inner writer; made by [`Redactor::writer`].
///
/// It is line-buffered, so that a secret split across two `write` calls is masked whole:
/// text goes out at each line break, at [`flush`](Write::flush), when the writer is dropped
/// and when a line passes 64 KiB (then all of it but a tail long enough to hold any secret
/// in any form, which waits for the rest). A line that may be the start of a multi-line
/// secret (a PEM key) waits for the next lines too. The buffer is wiped when done with.
///
/// A live redactor's writer masks values the vault fetches while it is in use.
///
/// ```
/// use std::io::Write;
/// use request_vault::Redactor;
///
/// let redactor = Redactor::new([("token", "t0k3n-value")]);
/// let mut w = redactor.writer(Vec::new());
/// w.write_all(b"sending t0k3n")?;
/// w.write_all(b"-value now\n")?;
/// assert_eq!(w.into_inner(), b"sending [vault:token] now\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RedactingWriter<W: Write> {
    /// `None` only once [`into_inner`](Self::into_inner) took it.
    inner: Option<W>,
    redactor: Redactor,
    /// Text not sent yet: the line under way, or lines held back.
    pending: Zeroizing<Vec<u8>>,
}

impl Redactor {
    /// A writer that masks what goes through it before passing it to `inner`; see
    /// [`RedactingWriter`].
    ///
    /// ```
    /// use std::io::Write;
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::new();
    /// let mut log = vault.redactor().writer(std::io::stderr());
    /// vault.set("api-key", "s3cr3t")?;
    /// writeln!(log, "key is s3cr3t")?; // prints "key is [vault:api-key]"
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer<W: Write>(&self, inner: W) -> RedactingWriter<W> {
        RedactingWriter {
            inner: Some(inner),
            redactor: self.clone(),
            pending: Zeroizing::new(Vec::new()),
        }
    }
}

impl<W: Write> RedactingWriter<W> {
    /// Sends what is pending (masked), flushes the inner writer and returns it. A write or
    /// flush error on the way is dropped (the text not sent is wiped with the writer): use
    /// [`try_into_inner`](Self::try_into_inner) to see it.
    ///
    /// ```
    /// use std::io::Write;
    /// use request_vault::Redactor;
    ///
    /// let mut w = Redactor::new([("k", "v4lue")]).writer(Vec::new());
    /// w.write_all(b"no line break: v4lue")?;
    /// assert_eq!(w.into_inner(), b"no line break: [vault:k]");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(mut self) -> W {
        let _ = self.flush();
        match self.inner.take() {
            Some(inner) => inner,
            // `inner` is only taken here and in `try_into_inner`, both of which consume the
            // writer, so it is always there.
            None => unreachable!("the inner writer is taken only when the writer is consumed"),
        }
    }

    /// As [`into_inner`](Self::into_inner), reporting a failure to send what was pending.
    ///
    /// # Errors
    ///
    /// The inner writer's error; the text that was not sent is then wiped with the writer.
    pub fn try_into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("the inner writer was taken"))
    }

    fn inner(&mut self) -> io::Result<&mut W> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("the inner writer was taken"))
    }

    /// Appends `bytes` to the pending text. The buffer never grows in place (which could
    /// leave a copy of the text in freed memory): a larger one is made and the old wiped.
    fn stash(&mut self, bytes: &[u8]) {
        let needed = self.pending.len() + bytes.len();
        if needed > self.pending.capacity() {
            let capacity = needed.max(self.pending.capacity() * 2).max(256);
            let mut larger = Zeroizing::new(Vec::with_capacity(capacity));
            larger.extend_from_slice(&self.pending);
            self.pending = larger;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// Drops the first `sent` pending bytes, keeping the rest at the front.
    fn consume(&mut self, sent: usize) {
        let len = self.pending.len();
        self.pending.copy_within(sent..len, 0);
        self.pending.truncate(len - sent);
    }

    /// Sends `text` (whole lines) masked, but for a tail that may start a multi-line
    /// secret; returns how many bytes went out.
    fn send_lines(&mut self, view: &View, text: &[u8]) -> io::Result<usize> {
        let ready = text.len() - view.held_back(text);
        if ready > 0 {
            let masked = Redactor::redact_bytes(view, &text[..ready]);
            self.inner()?.write_all(&masked)?;
        }
        Ok(ready)
    }

    /// Sends the pending text but a tail in which a secret may still be under way, when the
    /// line has passed its bound.
    fn send_bounded(&mut self) -> io::Result<()> {
        if self.pending.len() <= LINE_BOUND {
            return Ok(());
        }
        let view = self.redactor.view();
        let reach = view.reach();
        let Some(cut) = self.pending.len().checked_sub(reach) else {
            return Ok(());
        };
        let mut cut = token_start(&self.pending, cut, reach);
        let spans = super::scan::spans(&view.masks(), &self.pending);
        // A secret found across the cut goes out whole, masked.
        for span in &spans {
            if span.start < cut && span.end > cut {
                cut = span.end;
            }
        }
        if cut == 0 {
            return Ok(());
        }
        let before: Vec<_> = spans.into_iter().filter(|s| s.end <= cut).collect();
        let masked = super::scan::mask_bytes(&self.pending[..cut], &before);
        self.inner()?.write_all(&masked)?;
        drop(masked);
        self.consume(cut);
        Ok(())
    }

    /// Sends everything pending, masked.
    fn send_all(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let view = self.redactor.view();
        let masked = Redactor::redact_bytes(&view, &self.pending);
        self.inner()?.write_all(&masked)?;
        self.pending.clear();
        Ok(())
    }
}

/// Where to cut a long line at `cut` or before: not inside a run of base64 characters (a
/// token, an encoded body) that reaches it, nor between a `Basic`/`Bearer` scheme and its
/// token, so that both are searched whole with the rest; unless that run starts more than
/// `reach` bytes before the cut.
fn token_start(text: &[u8], cut: usize, reach: usize) -> usize {
    let is_token =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    let floor = cut.saturating_sub(reach);
    let mut at = cut;
    // A cut between a scheme and the space before its token moves before the scheme.
    if text.get(at) == Some(&b' ') {
        for word in [&b"basic"[..], b"bearer"] {
            if at >= word.len() && text[at - word.len()..at].eq_ignore_ascii_case(word) {
                at -= word.len();
                break;
            }
        }
    }
    if !text.get(at).copied().is_some_and(is_token) {
        return at;
    }
    while at > floor && is_token(text[at - 1]) {
        at -= 1;
    }
    if at == floor && at > 0 && is_token(text[at - 1]) {
        return cut;
    }
    for scheme in [&b"basic "[..], b"bearer "] {
        if at >= scheme.len() && text[at - scheme.len()..at].eq_ignore_ascii_case(scheme) {
            return at - scheme.len();
        }
    }
    at
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(last) = memchr::memrchr(b'\n', buf) {
            let (lines, rest) = buf.split_at(last + 1);
            let view = self.redactor.view();
            if self.pending.is_empty() {
                let sent = self.send_lines(&view, lines)?;
                self.stash(&lines[sent..]);
            } else {
                let before = self.pending.len();
                self.stash(lines);
                let pending = std::mem::take(&mut self.pending);
                let sent = self.send_lines(&view, &pending);
                self.pending = pending;
                match sent {
                    Ok(sent) => self.consume(sent),
                    Err(error) => {
                        self.pending.truncate(before);
                        return Err(error);
                    }
                }
            }
            self.stash(rest);
        } else {
            self.stash(buf);
        }
        self.send_bounded()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_all()?;
        self.inner()?.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            // Nowhere to report a failure from a drop; the text is wiped either way.
            let _ = self.send_all();
        }
    }
}

impl<W: Write + fmt::Debug> fmt::Debug for RedactingWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactingWriter")
            .field("inner", &self.inner)
            .field("redactor", &self.redactor)
            .field("pending_bytes", &self.pending.len())
            .finish()
    }
}
