//! The [`ExternalProvider`] trait that links vault secrets to external secret managers.
//!
//! A provider turns a reference string (`op://Prod/Postgres/password` for 1Password) into a
//! value. It holds only what is specific to its backend: the vault around it does the
//! caching, the TTL, the sharing of concurrent fetches and the domain checks. A provider is
//! registered with [`Vault::add_provider`](crate::Vault::add_provider) and used as
//! `Arc<dyn ExternalProvider>`; [`Vault::link`](crate::Vault::link) picks it by the
//! reference's URI scheme.
//!
//! # Writing a provider
//!
//! ```
//! use request_vault::{async_trait, Error, ExternalProvider, ProviderError, ProviderErrorKind, SecretString, Vault};
//!
//! /// Serves `env://NAME` references from the process environment.
//! #[derive(Debug)]
//! struct Env;
//!
//! #[async_trait]
//! impl ExternalProvider for Env {
//!     fn id(&self) -> &str { "env" }
//!     fn scheme(&self) -> &str { "env" }
//!     fn check_reference(&self, reference: &str) -> Result<(), Error> {
//!         match reference.strip_prefix("env://") {
//!             Some(name) if !name.is_empty() => Ok(()),
//!             _ => Err(Error::InvalidReference {
//!                 reference: reference.to_owned(),
//!                 offset: Some(0),
//!                 source: "expected env://NAME".into(),
//!             }),
//!         }
//!     }
//!     async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
//!         let name = &reference["env://".len()..];
//!         std::env::var(name).map(SecretString::from).map_err(|_| {
//!             ProviderError::new("env", ProviderErrorKind::NotFound, "no such environment variable")
//!                 .with_reference(reference)
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let vault = Vault::new();
//! vault.add_provider(Env);
//! vault.link("path", "env://PATH")?;
//! assert_eq!(vault.describe("path")?.provider.as_deref(), Some("env"));
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use secrecy::SecretString;

use crate::error::{BoxError, Error};

pub use crate::retry::RetryPolicy;

pub mod conformance;

/// How many references the default [`ExternalProvider::resolve_all`] resolves at once.
pub const DEFAULT_PROVIDER_CONCURRENCY: usize = 8;

/// An external secret manager that resolves references to values.
///
/// The trait is object-safe; the vault holds providers as `Arc<dyn ExternalProvider>`.
/// Implementations must never put a secret value or a credential into an error, a `Debug`
/// output or a log line.
#[async_trait]
pub trait ExternalProvider: fmt::Debug + Send + Sync {
    /// A stable identifier for this provider, such as `"1password"`.
    fn id(&self) -> &str;

    /// The URI scheme of the references this provider resolves, such as `"op"` for
    /// `op://…`, without `://`.
    fn scheme(&self) -> &str;

    /// Checks a reference offline, without contacting the backend.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidReference`] when the reference is malformed, with the byte offset of
    ///   the problem where there is one.
    fn check_reference(&self, reference: &str) -> Result<(), Error>;

    /// Fetches the value one reference points to.
    ///
    /// # Errors
    ///
    /// A [`ProviderError`] whose [`kind`](ProviderError::kind) says what failed:
    /// - [`ProviderErrorKind::NotFound`] when nothing matches the reference;
    /// - [`ProviderErrorKind::Ambiguous`] when several things match;
    /// - [`ProviderErrorKind::Unauthorized`] / [`ProviderErrorKind::Forbidden`] for credentials;
    /// - [`ProviderErrorKind::RateLimited`], [`ProviderErrorKind::Unavailable`],
    ///   [`ProviderErrorKind::Timeout`] for transient failures that outlived the provider's
    ///   own retries.
    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError>;

    /// Fetches many references, returning one result per reference, in order.
    ///
    /// The default resolves up to [`DEFAULT_PROVIDER_CONCURRENCY`] references at a time with
    /// [`resolve`](Self::resolve). Real providers override it to group requests (1Password
    /// fetches each item once, however many of its fields are wanted).
    ///
    /// # Errors
    ///
    /// Each element carries its own error, as for [`resolve`](Self::resolve); one failing
    /// reference does not fail the others.
    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        // Collected first: a lazy `map` here trips the compiler's higher-ranked lifetime check.
        let fetches: Vec<_> = references.iter().map(|r| self.resolve(r)).collect();
        stream::iter(fetches)
            .buffered(DEFAULT_PROVIDER_CONCURRENCY)
            .collect()
            .await
    }

    /// Forgets whatever the provider caches of its own (name-to-ID maps, sessions).
    ///
    /// Called by [`Vault::clear_cache`](crate::Vault::clear_cache). The default does nothing.
    fn clear_cache(&self) {}
}

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
        }
    }
}

/// A failure reported by an [`ExternalProvider`].
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
    candidates: Vec<String>,
    retry_after: Option<Duration>,
    source: Option<BoxError>,
}

impl ProviderError {
    /// A new error from provider `provider` (its [`ExternalProvider::id`]).
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
            candidates: Vec::new(),
            retry_after: None,
            source: None,
        }))
    }

    /// Names the reference the error is about.
    #[must_use]
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.0.reference = Some(reference.into());
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
    pub(crate) fn duplicate(&self) -> ProviderError {
        ProviderError(Box::new(Details {
            provider: self.0.provider.clone(),
            kind: self.0.kind,
            message: self.0.message.clone(),
            reference: self.0.reference.clone(),
            candidates: self.0.candidates.clone(),
            retry_after: self.0.retry_after,
            source: None,
        }))
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
            write!(f, " (reference `{reference}`)")?;
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
}
