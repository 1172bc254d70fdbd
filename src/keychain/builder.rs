//! [`KeychainBuilder`]: the settings of a [`Keychain`](super::Keychain) with another id,
//! timeout or store (the methods that end it, and so name the provider, are in `mod.rs`).

use std::time::Duration;

use super::store::PROVIDER_ID;

/// How long one fetch (or batch) may take before it fails as
/// [`Timeout`](crate::ProviderErrorKind::Timeout), unless [`KeychainBuilder::timeout`] says
/// otherwise: long enough for a person to answer a prompt to unlock the keychain.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds a [`Keychain`](super::Keychain): its [id](Self::id), [timeout](Self::timeout),
/// and the store, which the final method picks: [`build`](Self::build) for the platform's
/// own, or on Linux [`keyutils`](Self::keyutils) for the kernel's.
///
/// ```
/// use std::time::Duration;
/// use request_vault::{ExternalProvider, Keychain};
///
/// let keychain = Keychain::builder()
///     .id("keychain-ci")
///     .timeout(Duration::from_secs(5))
///     .build();
/// assert_eq!(keychain.id(), "keychain-ci");
/// assert_eq!(keychain.scheme(), "keychain");
/// ```
#[derive(Debug, Clone)]
pub struct KeychainBuilder {
    pub(super) id: String,
    pub(super) timeout: Duration,
}

impl Default for KeychainBuilder {
    fn default() -> Self {
        KeychainBuilder {
            id: PROVIDER_ID.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl KeychainBuilder {
    /// The provider's id (default `keychain`), so that a vault can hold several keychain
    /// providers (the native one and keyutils, say) and link secrets to one by id.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// How long one fetch or batch may take (default [`DEFAULT_TIMEOUT`]) before it fails
    /// as [`Timeout`](crate::ProviderErrorKind::Timeout). The blocking call it gave up on
    /// finishes in the background.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
