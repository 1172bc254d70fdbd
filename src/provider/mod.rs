//! The door between the vault and secret managers: the [`ExternalProvider`] trait and
//! everything a backend needs to implement it.
//!
//! **This module is the only thing a backend imports** (besides the crate's public types
//! such as [`SecretString`]): the trait, [`ProviderError`], [`RetryPolicy`], and inside the
//! crate a single-flight memo, HTTP helpers, batch assembly and `#KEY` field selection.
//! Backends (`onepassword/`, `aws/`, `hashicorp/`, `azure/`) never reach into the vault,
//! the cache, templates or each other.
//!
//! A provider turns a reference string (`op://Prod/Postgres/password` for 1Password) into a
//! value. It holds only what is specific to its backend: the vault around it does the
//! caching, the TTL, the sharing of concurrent fetches and the domain checks. A provider is
//! registered with [`Vault::add_provider`](crate::Vault::add_provider) and used as
//! `Arc<dyn ExternalProvider>`; [`Vault::link`](crate::Vault::link) picks it by the
//! reference's URI scheme (a `ref+` prefix, as `vals` writes it, is accepted).
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
//!     fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
//!         match reference.strip_prefix("env://") {
//!             Some(name) if !name.is_empty() => Ok(()),
//!             _ => Err(ProviderError::invalid_reference("env", reference, 0, "expected env://NAME")),
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

#[cfg(any(feature = "onepassword", feature = "azure", feature = "gcp"))]
#[cfg_attr(
    not(all(feature = "onepassword", feature = "azure", feature = "gcp")),
    allow(dead_code)
)]
pub(crate) mod command;
pub(crate) mod deadline;
mod env;
mod error;
mod files;
mod retry;
pub(crate) mod segment;

/// Declares the helpers the backends share: a build that leaves some backends out leaves
/// parts of them unused, which is no sign of dead code.
macro_rules! backend_helpers {
    ($($name:ident),*) => {$(
        #[cfg_attr(
            not(all(
                feature = "onepassword",
                feature = "aws",
                feature = "hashicorp",
                feature = "azure"
            )),
            allow(dead_code, unused_imports)
        )]
        pub(crate) mod $name;
    )*};
}

backend_helpers!(batch, field, http, memo, setting, token);

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

pub use self::http::HttpOptions;
pub use env::{ENV_PROVIDER_ID, ENV_SCHEME, Env};
pub use error::{BoxError, ProviderError, ProviderErrorKind};
pub use files::{FILES_PROVIDER_ID, FILES_SCHEME, Files, MAX_FILE_BYTES};
pub use retry::RetryPolicy;

/// The most an answer from a backend may hold unless its provider's builder says otherwise:
/// 16 MiB. The door reads answers as they come and stops as soon as this is passed, so a
/// hostile server cannot make the process hold more.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// How many references the default [`ExternalProvider::resolve_all`] resolves at once.
pub const DEFAULT_PROVIDER_CONCURRENCY: usize = 8;

/// How long fetched values are cached unless configured otherwise: one hour, as Postman.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60 * 60);

/// The URI schemes of the crate's own providers and the cargo feature that builds each, so
/// that a reference for a provider left out of the build is refused with the feature to
/// enable.
pub const KNOWN_SCHEMES: &[(&str, &str)] = &[
    ("op", "onepassword"),
    ("awssecrets", "aws"),
    ("awsssm", "aws"),
    ("vault", "hashicorp"),
    ("azurekeyvault", "azure"),
    ("gcpsecrets", "gcp"),
    ("keychain", "keychain"),
];

/// The prefix `vals` (helmfile) writes before a reference: `ref+vault://…`. Accepted and
/// ignored by every provider.
pub const REF_PREFIX: &str = "ref+";

/// A reference without its optional [`REF_PREFIX`].
///
/// ```
/// use request_vault::provider::strip_ref_prefix;
/// assert_eq!(strip_ref_prefix("ref+vault://secret/app#password"), "vault://secret/app#password");
/// assert_eq!(strip_ref_prefix("op://Prod/db/password"), "op://Prod/db/password");
/// ```
pub fn strip_ref_prefix(reference: &str) -> &str {
    reference.strip_prefix(REF_PREFIX).unwrap_or(reference)
}

/// A value a provider fetched, with how long it may be cached at most.
///
/// Most values carry no limit and are cached for the vault's TTL. A value the backend
/// leased (a HashiCorp Vault dynamic secret, say) carries the lease's remaining time, so
/// that the vault never serves it past the lease.
#[derive(Debug, Clone)]
pub struct Resolved {
    value: SecretString,
    max_age: Option<Duration>,
}

impl Resolved {
    /// A value with no limit of its own.
    pub fn new(value: impl Into<SecretString>) -> Self {
        Resolved {
            value: value.into(),
            max_age: None,
        }
    }

    /// Caps how long the value may be cached (the shorter of this and the vault's TTL).
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(self.max_age.map_or(max_age, |m| m.min(max_age)));
        self
    }

    /// The value.
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// The value, taken out.
    pub fn into_value(self) -> SecretString {
        self.value
    }

    /// How long the value may be cached at most, when the backend said.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }
}

/// What the vault tells a provider when it is added
/// ([`ExternalProvider::attach`]): settings the provider's own caches follow unless the
/// provider was configured otherwise.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderContext {
    cache_ttl: Duration,
}

impl ProviderContext {
    /// A context with the vault's cache TTL.
    pub fn new(cache_ttl: Duration) -> Self {
        ProviderContext { cache_ttl }
    }

    /// How long the vault caches fetched values; providers keep their own lookups
    /// (name-to-ID maps, sessions) as long by default.
    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }
}

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
    /// - [`ProviderErrorKind::InvalidReference`] when the reference is malformed, with the
    ///   byte offset of the problem ([`ProviderError::offset`]);
    /// - [`ProviderErrorKind::Unsupported`] when it asks for something this build cannot do
    ///   (a cargo feature left out), naming the feature.
    fn check_reference(&self, reference: &str) -> Result<(), ProviderError>;

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

    /// Fetches one reference as [`resolve`](Self::resolve) does, with how long the value may
    /// be cached at most. This is what the vault calls for a lone secret.
    ///
    /// The default wraps [`resolve`](Self::resolve) with no limit. A provider whose backend
    /// leases values overrides it and [`resolve_all_leased`](Self::resolve_all_leased).
    ///
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve).
    async fn resolve_leased(&self, reference: &str) -> Result<Resolved, ProviderError> {
        self.resolve(reference).await.map(Resolved::new)
    }

    /// Fetches many references as [`resolve_all`](Self::resolve_all) does, each value with
    /// how long it may be cached at most. This is what the vault calls for a batch.
    ///
    /// The default wraps [`resolve_all`](Self::resolve_all) with no limits. A provider whose
    /// backend leases values (so that a value stops working at a known time) overrides it.
    ///
    /// # Errors
    ///
    /// As [`resolve_all`](Self::resolve_all).
    async fn resolve_all_leased(
        &self,
        references: &[&str],
    ) -> Vec<Result<Resolved, ProviderError>> {
        self.resolve_all(references)
            .await
            .into_iter()
            .map(|result| result.map(Resolved::new))
            .collect()
    }

    /// Called once by [`Vault::add_provider`](crate::Vault::add_provider) with the vault's
    /// settings. A provider whose own caches were not configured explicitly follows the
    /// vault's TTL. The default does nothing.
    fn attach(&self, context: &ProviderContext) {
        let _ = context;
    }

    /// Forgets whatever the provider caches of its own (name-to-ID maps, sessions).
    ///
    /// Called by [`Vault::clear_cache`](crate::Vault::clear_cache). The default does nothing.
    fn clear_cache(&self) {}
}

/// The cargo feature that builds the provider for `scheme`, when it is one of the crate's
/// own and that feature is off in this build.
pub(crate) fn disabled_feature(scheme: &str) -> Option<&'static str> {
    KNOWN_SCHEMES
        .iter()
        .find(|(known, _)| *known == scheme)
        .map(|(_, feature)| *feature)
        .filter(|feature| !feature_enabled(feature))
}

/// Whether each provider feature is on in this build.
const BUILT: &[(&str, bool)] = &[
    ("onepassword", cfg!(feature = "onepassword")),
    ("aws", cfg!(feature = "aws")),
    ("hashicorp", cfg!(feature = "hashicorp")),
    ("azure", cfg!(feature = "azure")),
    ("gcp", cfg!(feature = "gcp")),
    ("keychain", cfg!(feature = "keychain")),
];

fn feature_enabled(feature: &str) -> bool {
    BUILT
        .iter()
        .find(|(name, _)| *name == feature)
        .is_none_or(|(_, on)| *on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_only_shortens() {
        let resolved = Resolved::new("v")
            .with_max_age(Duration::from_secs(30))
            .with_max_age(Duration::from_secs(60));
        assert_eq!(resolved.max_age(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn every_known_scheme_names_a_feature() {
        for (scheme, feature) in KNOWN_SCHEMES {
            assert_eq!(
                disabled_feature(scheme).is_some(),
                !feature_enabled(feature),
                "{scheme}"
            );
        }
        assert_eq!(disabled_feature("env"), None);
    }
}
