//! [`ProviderError`]: what a provider reports when it fails, and its [`ProviderErrorKind`].
//!
//! Providers build these and nothing else; the vault owns the one conversion into the
//! crate's [`Error`](crate::Error), so a backend never constructs core error variants.

use std::fmt;
use std::time::Duration;

/// A boxed error used as the source of errors that wrap another crate's error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a provider reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// Nothing matches the reference (a vault, item, section, field or file).
    NotFound,
    /// Several things match the reference; see [`ProviderError::candidates`].
    Ambiguous,
    /// The credentials were refused: reauthenticate.
    Unauthorized,
    /// The credentials are valid but the reference is outside their scope.
    Forbidden,
    /// The backend's rate limit was hit.
    RateLimited,
    /// The backend is unreachable or failing (connection errors, 5xx).
    Unavailable,
    /// The backend did not answer in time.
    Timeout,
    /// The reference asks for something the matched value does not have (an OTP attribute on
    /// a field without one, say).
    Unsupported,
    /// The backend answered something the provider could not understand.
    Protocol,
    /// The provider is misconfigured (a missing program, a bad setting).
    Configuration,
    /// A reference is malformed; [`ProviderError::offset`] points at the problem. Returned
    /// by [`ExternalProvider::check_reference`](super::ExternalProvider::check_reference)
    /// and by `resolve` for a reference that was never checked.
    InvalidReference,
}

impl ProviderErrorKind {
    /// Whether retrying later may succeed (rate limits, timeouts, unavailability).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ProviderErrorKind::RateLimited
                | ProviderErrorKind::Unavailable
                | ProviderErrorKind::Timeout
        )
    }

    fn describe(self) -> &'static str {
        match self {
            ProviderErrorKind::NotFound => "not found",
            ProviderErrorKind::Ambiguous => "ambiguous",
            ProviderErrorKind::Unauthorized => "unauthorized (reauthenticate)",
            ProviderErrorKind::Forbidden => "forbidden (not in the credentials' scope)",
            ProviderErrorKind::RateLimited => "rate limited",
            ProviderErrorKind::Unavailable => "unavailable",
            ProviderErrorKind::Timeout => "timed out",
            ProviderErrorKind::Unsupported => "unsupported",
            ProviderErrorKind::Protocol => "unexpected response",
            ProviderErrorKind::Configuration => "misconfigured",
            ProviderErrorKind::InvalidReference => "invalid reference",
        }
    }
}

/// A failure reported by an [`ExternalProvider`](super::ExternalProvider).
///
/// Built by providers with [`ProviderError::new`] and the `with_*` methods; its message must
/// not contain a secret value or a credential.
///
/// ```
/// use request_vault::{ProviderError, ProviderErrorKind};
///
/// let err = ProviderError::new("1password", ProviderErrorKind::NotFound, "no item named `Postgres` in vault `Prod`")
///     .with_reference("op://Prod/Postgres/password");
/// assert_eq!(
///     err.to_string(),
///     "not found: no item named `Postgres` in vault `Prod` (reference `op://Prod/Postgres/password`)"
/// );
/// ```
#[derive(Debug)]
pub struct ProviderError(Box<Details>);

// Boxed so that `Result<SecretString, ProviderError>` stays two words wide.
#[derive(Debug)]
struct Details {
    provider: String,
    kind: ProviderErrorKind,
    message: String,
    reference: Option<String>,
    offset: Option<usize>,
    candidates: Vec<String>,
    retry_after: Option<Duration>,
    delivery: Delivery,
    source: Option<BoxError>,
}

/// What is known of whether the backend acted on a failed request: what decides whether a
/// request that must not run twice (a login spending a single-use secret ID) may be sent
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Delivery {
    /// Nothing is known: a timeout, a reply lost on the way, an error that did not come
    /// from the wire.
    #[default]
    Unknown,
    /// The request never left: the connection could not be made.
    NotSent,
    /// The backend answered that it did not act on it (429, 503).
    Refused,
}

impl Delivery {
    /// Whether a request that must not run twice may be sent again after this failure.
    pub(crate) fn allows_resending(self) -> bool {
        matches!(self, Delivery::NotSent | Delivery::Refused)
    }
}

impl ProviderError {
    /// A new error from provider `provider` (its [`ExternalProvider::id`](super::ExternalProvider::id)).
    pub fn new(
        provider: impl Into<String>,
        kind: ProviderErrorKind,
        message: impl Into<String>,
    ) -> Self {
        ProviderError(Box::new(Details {
            provider: provider.into(),
            kind,
            message: message.into(),
            reference: None,
            offset: None,
            candidates: Vec::new(),
            retry_after: None,
            delivery: Delivery::Unknown,
            source: None,
        }))
    }

    /// Names the reference the error is about.
    #[must_use]
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.0.reference = Some(reference.into());
        self
    }

    /// Names the provider by `id`, the id it is registered under in a vault, when the error
    /// names it otherwise (a provider built with another id than its kind's default).
    pub(crate) fn name_provider(&mut self, id: &str) {
        if self.0.provider != id {
            self.0.provider = id.to_owned();
        }
    }

    /// A malformed reference: kind [`ProviderErrorKind::InvalidReference`], naming the
    /// reference and the byte offset of the problem in it.
    ///
    /// ```
    /// use request_vault::{ProviderError, ProviderErrorKind};
    ///
    /// let err = ProviderError::invalid_reference("env", "env:/PATH", 3, "expected `env://NAME`");
    /// assert_eq!(err.kind(), ProviderErrorKind::InvalidReference);
    /// assert_eq!(err.offset(), Some(3));
    /// ```
    pub fn invalid_reference(
        provider: impl Into<String>,
        reference: impl Into<String>,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        ProviderError::new(provider, ProviderErrorKind::InvalidReference, message)
            .with_reference(reference)
            .with_offset(offset)
    }

    /// Records the byte offset of the problem in the reference.
    #[must_use]
    pub fn with_offset(mut self, offset: usize) -> Self {
        self.0.offset = Some(offset);
        self
    }

    /// Lists the IDs of the candidates of an ambiguous match.
    #[must_use]
    pub fn with_candidates(mut self, candidates: Vec<String>) -> Self {
        self.0.candidates = candidates;
        self
    }

    /// Records how long the backend asked to wait before retrying.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.0.retry_after = Some(retry_after);
        self
    }

    /// Attaches the underlying error (it must not print secrets either).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    /// A copy of this error without its source (which cannot be cloned), for handing one
    /// shared failure to each reference that met it.
    #[cfg_attr(
        not(any(feature = "onepassword", feature = "aws", feature = "hashicorp")),
        allow(dead_code)
    )]
    pub(crate) fn duplicate(&self) -> ProviderError {
        ProviderError(Box::new(Details {
            provider: self.0.provider.clone(),
            kind: self.0.kind,
            message: self.0.message.clone(),
            reference: self.0.reference.clone(),
            offset: self.0.offset,
            candidates: self.0.candidates.clone(),
            retry_after: self.0.retry_after,
            delivery: self.0.delivery,
            source: None,
        }))
    }

    /// Records what is known of whether the backend acted on the request.
    pub(crate) fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.0.delivery = delivery;
        self
    }

    /// What is known of whether the backend acted on the request.
    pub(crate) fn delivery(&self) -> Delivery {
        self.0.delivery
    }

    /// Replaces the message (the door's scrubbing rewrites server text this way).
    pub(crate) fn map_message(mut self, change: impl FnOnce(&str) -> String) -> Self {
        self.0.message = change(&self.0.message);
        self
    }

    /// Takes the underlying error out, for the one conversion into the crate's `Error`.
    pub(crate) fn take_source(&mut self) -> Option<BoxError> {
        self.0.source.take()
    }

    /// The id of the provider that failed.
    pub fn provider(&self) -> &str {
        &self.0.provider
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ProviderErrorKind {
        self.0.kind
    }

    /// The human-readable description, without the reference.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The reference the error is about, if known.
    pub fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }

    /// The byte offset of the problem in the reference, for
    /// [`InvalidReference`](ProviderErrorKind::InvalidReference) errors.
    pub fn offset(&self) -> Option<usize> {
        self.0.offset
    }

    /// The IDs of the candidates when the match was [ambiguous](ProviderErrorKind::Ambiguous).
    pub fn candidates(&self) -> &[String] {
        &self.0.candidates
    }

    /// How long the backend asked to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.kind.describe(), self.0.message)?;
        if !self.0.candidates.is_empty() {
            write!(f, " (candidates: {})", self.0.candidates.join(", "))?;
        }
        if let Some(reference) = &self.0.reference {
            write!(f, " (reference `{reference}`")?;
            if let Some(offset) = self.0.offset {
                write!(f, " at byte {offset}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_candidates_and_reference() {
        let err = ProviderError::new(
            "1password",
            ProviderErrorKind::Ambiguous,
            "2 items match `Postgres`",
        )
        .with_candidates(vec!["a".repeat(26), "b".repeat(26)])
        .with_reference("op://Prod/Postgres/password");
        let text = err.to_string();
        assert!(text.starts_with("ambiguous: 2 items match `Postgres` (candidates: aaaa"));
        assert!(text.ends_with("(reference `op://Prod/Postgres/password`)"));
    }

    #[test]
    fn transient_kinds() {
        assert!(ProviderErrorKind::RateLimited.is_transient());
        assert!(ProviderErrorKind::Timeout.is_transient());
        assert!(!ProviderErrorKind::NotFound.is_transient());
        assert!(!ProviderErrorKind::Unauthorized.is_transient());
    }

    #[test]
    fn invalid_references_carry_their_offset() {
        let err = ProviderError::invalid_reference("env", "env:/x", 3, "expected `env://NAME`");
        assert_eq!(err.offset(), Some(3));
        assert_eq!(err.duplicate().offset(), Some(3));
        assert_eq!(
            err.to_string(),
            "invalid reference: expected `env://NAME` (reference `env:/x` at byte 3)"
        );
    }
}
