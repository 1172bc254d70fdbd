//! [`Reply`]: an answer read whole (within the cap), and what a backend reads off it: the
//! status as an error kind, `Retry-After`, JSON, and server text scrubbed of credentials.
//! Also the header helpers: sensitive values, `Authorization: Bearer`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use zeroize::Zeroizing;

use super::Scrubber;
use crate::provider::{ProviderError, ProviderErrorKind};

/// A response read whole.
pub(crate) struct Reply {
    /// The status code.
    pub(crate) status: StatusCode,
    /// The response headers.
    pub(crate) headers: HeaderMap,
    /// The body, wiped when the reply drops (it may hold a secret).
    pub(crate) body: Zeroizing<Vec<u8>>,
    /// The provider's credentials, taken out of any server text an error quotes.
    pub(crate) scrubber: Arc<Scrubber>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Reply {
    /// Whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// How long the server asked to wait (`Retry-After`), when it said.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// The error for a non-2xx reply: kind from the status ([`status_kind`]), the message
    /// with `(HTTP n)` appended, and `Retry-After` when given.
    pub(crate) fn error(&self, provider: &str, message: &str) -> ProviderError {
        self.error_of_kind(provider, status_kind(self.status), message)
    }

    /// As [`error`](Self::error) with a kind the backend chose. The message may quote the
    /// server: it is scrubbed of every credential the provider holds.
    pub(crate) fn error_of_kind(
        &self,
        provider: &str,
        kind: ProviderErrorKind,
        message: &str,
    ) -> ProviderError {
        let message = if message.is_empty() {
            self.status.canonical_reason().unwrap_or("error")
        } else {
            message
        };
        let mut error = ProviderError::new(
            provider,
            kind,
            format!("{} (HTTP {})", self.scrubber.scrub(message), self.status.as_u16()),
        );
        if let Some(after) = self.retry_after() {
            error = error.with_retry_after(after);
        }
        error
    }

    /// A reply with `status` and `body` and no headers, for backends' unit tests.
    #[cfg(test)]
    pub(crate) fn fake(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).expect("a status code"),
            headers: HeaderMap::new(),
            body: Zeroizing::new(body.as_bytes().to_vec()),
            scrubber: Arc::new(Scrubber::new()),
        }
    }

    /// The body parsed as JSON of type `T`; `what` names it in the error.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        provider: &str,
        what: &str,
    ) -> Result<T, ProviderError> {
        parse_json(provider, &self.body, what)
    }
}

/// The error kind a status code stands for: 401 Unauthorized, 403 Forbidden, 404 NotFound,
/// 408 and 504 Timeout, 429 RateLimited, other 5xx Unavailable, anything else Protocol.
pub(crate) fn status_kind(status: StatusCode) -> ProviderErrorKind {
    match status.as_u16() {
        401 => ProviderErrorKind::Unauthorized,
        403 => ProviderErrorKind::Forbidden,
        404 => ProviderErrorKind::NotFound,
        408 | 504 => ProviderErrorKind::Timeout,
        429 => ProviderErrorKind::RateLimited,
        500..=599 => ProviderErrorKind::Unavailable,
        _ => ProviderErrorKind::Protocol,
    }
}

/// The `Retry-After` header: delay-seconds or an HTTP date (RFC 9110, section 10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// A header value marked sensitive (kept out of reqwest's and hyper's `Debug`), such as
/// `Bearer <token>`. `None` when the text cannot be a header value; the text is never
/// echoed.
pub(crate) fn sensitive_header(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `Authorization: Bearer <token>`, marked sensitive; the formatted copy is zeroized.
pub(crate) fn bearer(token: &str) -> Option<HeaderValue> {
    let text = Zeroizing::new(format!("Bearer {token}"));
    sensitive_header(&text)
}

/// `body` parsed as JSON; `what` names it in the error. serde_json's errors name a line and
/// column, never the input's content.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    provider: &str,
    body: &[u8],
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(
            provider,
            ProviderErrorKind::Protocol,
            format!("the server sent {what} in a form this client cannot read: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let soon = std::time::SystemTime::now()
            .checked_add(Duration::from_secs(30))
            .unwrap();
        let waited = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            waited > Duration::from_secs(25) && waited <= Duration::from_secs(30),
            "{waited:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn statuses_map_to_kinds() {
        let kind = |code| status_kind(StatusCode::from_u16(code).unwrap());
        assert_eq!(kind(401), ProviderErrorKind::Unauthorized);
        assert_eq!(kind(403), ProviderErrorKind::Forbidden);
        assert_eq!(kind(404), ProviderErrorKind::NotFound);
        assert_eq!(kind(429), ProviderErrorKind::RateLimited);
        assert_eq!(kind(503), ProviderErrorKind::Unavailable);
        assert_eq!(kind(504), ProviderErrorKind::Timeout);
        assert_eq!(kind(400), ProviderErrorKind::Protocol);
    }

    #[test]
    fn bearer_headers_are_sensitive_and_refuse_newlines() {
        assert!(bearer("abc").unwrap().is_sensitive());
        assert!(bearer("a\nb").is_none());
    }
}
