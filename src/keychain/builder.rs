//! [`KeychainBuilder`]: a [`Keychain`] with another id, timeout or store.

use std::time::Duration;

use super::store::StoreKind;
use super::{DEFAULT_TIMEOUT, Keychain, PROVIDER_ID};

/// Builds a [`Keychain`]: its [id](Self::id), [timeout](Self::timeout), and the store, which
/// the final method picks: [`build`](Self::build) for the platform's own, or on Linux
/// [`keyutils`](Self::keyutils) for the kernel's.
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
    id: String,
    timeout: Duration,
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

    /// A provider for the platform's own keychain: the macOS Keychain (login keychain), the
    /// Windows Credential Manager, or on Linux the Secret Service on the D-Bus session bus
    /// (GNOME Keyring, KWallet). Nothing is contacted until the first fetch.
    pub fn build(self) -> Keychain {
        Keychain::from_parts(self.id, StoreKind::Native, self.timeout)
    }

    /// A provider for the Linux kernel's keyutils (the session keyring), which needs no
    /// daemon or D-Bus; keys live in memory only, until they are removed or the machine
    /// restarts. Keys are the ones the `keyring` crate's keyutils store writes, described
    /// `keyring:ACCOUNT@SERVICE`.
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use request_vault::{ExternalProvider, Keychain};
    ///
    /// let keyutils = Keychain::builder().id("keyutils").keyutils();
    /// assert_eq!(keyutils.id(), "keyutils");
    /// # }
    /// ```
    #[cfg(target_os = "linux")]
    #[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
    pub fn keyutils(self) -> Keychain {
        Keychain::from_parts(self.id, StoreKind::Keyutils, self.timeout)
    }
}
