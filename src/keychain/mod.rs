//! The OS keychain: the [`Keychain`] provider for `keychain://SERVICE/ACCOUNT` references,
//! read from the macOS Keychain, the Windows Credential Manager, or on Linux the Secret
//! Service (GNOME Keyring, KWallet) or the kernel's keyutils.
//!
//! ```no_run
//! use request_vault::{Keychain, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! vault.add_provider(Keychain::new());
//! vault.link("github", "keychain://gh%3Agithub.com/octocat")?; // checked offline
//! let token = vault.resolve("github").await?;
//! # Ok(()) }
//! ```
//!
//! Entries are the ones the [`keyring`](https://crates.io/crates/keyring) crate (and so
//! many Rust tools) writes: a password stored under a *service* and an *account* (keyring's
//! `user`). On macOS that is a generic password of that service and account in the login
//! keychain; on Windows a generic credential whose target name is `ACCOUNT.SERVICE`; on
//! Linux a Secret Service item with the attributes `service` and `username`, or a keyutils
//! key described `keyring:ACCOUNT@SERVICE`. References are read-only: the provider never
//! writes an entry (only [`VaultKey::save_to_keychain`](crate::VaultKey::save_to_keychain)
//! does, for the vault key).
//!
//! # Dependencies
//!
//! The platform stores come from `keyring-core` 1 and its store crates
//! (`apple-native-keyring-store`, `windows-native-keyring-store`,
//! `zbus-secret-service-keyring-store` with Rust cryptography, over `zbus`, a pure-Rust D-Bus
//! with no C library; `linux-keyutils-keyring-store`), each built only on its platform. On
//! Linux they add 81 crates, nearly all of them `zbus` and its async runtime; `keyring` 3 with
//! `async-secret-service` adds one more. Talking to `secret-service` directly on its tokio
//! runtime saves 13 of them, but ties the D-Bus connection to the runtime it was made on and
//! leaves the synchronous [`VaultKey::save_to_keychain`](crate::VaultKey::save_to_keychain)
//! without one.
//!
//! The stores' calls block (D-Bus round trips, a prompt to unlock): a [`Keychain`] makes
//! them on tokio's blocking pool, never on the runtime's own threads, and gives up after
//! its [timeout](KeychainBuilder::timeout).

mod builder;
#[cfg(feature = "file")]
mod key;
mod reference;
mod store;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

pub use builder::{DEFAULT_TIMEOUT, KeychainBuilder};
pub use reference::SCHEME;
pub use store::PROVIDER_ID;

use crate::provider::{ExternalProvider, ProviderError, ProviderErrorKind};

use reference::EntryName;
use store::{Store, StoreKind};

/// Resolves `keychain://SERVICE/ACCOUNT` references (a `ref+` prefix is accepted) from the
/// operating system's password manager. Cheap to clone; clones share one connection.
///
/// - `SERVICE` and `ACCOUNT` name an entry as the `keyring` crate writes it (see the
///   [module docs](self)); each is percent-decoded, so that `/`, spaces, `#`, `?` and `%`
///   can be named (`keychain://my%20app/me`). Malformed references are refused offline, with
///   the byte offset of the problem.
/// - The store is the platform's own ([`Keychain::new`]): macOS Keychain, Windows Credential
///   Manager, the Secret Service on Linux; or the Linux kernel's keyutils
///   (`KeychainBuilder::keyutils`). It is connected at the first fetch, not when built.
/// - A batch reads each distinct entry once, in one blocking task.
/// - Errors: no entry is [`NotFound`](ProviderErrorKind::NotFound); several matching
///   entries [`Ambiguous`](ProviderErrorKind::Ambiguous); a locked keychain or denied access
///   [`Unauthorized`](ProviderErrorKind::Unauthorized); no reachable store (no D-Bus session
///   or Secret Service) [`Unavailable`](ProviderErrorKind::Unavailable), saying how to fix
///   it; a value that is not UTF-8 [`Unsupported`](ProviderErrorKind::Unsupported); a call
///   that outlasts the timeout [`Timeout`](ProviderErrorKind::Timeout).
///
/// ```
/// use request_vault::{ExternalProvider, Keychain};
///
/// let keychain = Keychain::builder().id("keychain-work").build();
/// assert_eq!(keychain.id(), "keychain-work");
/// assert!(keychain.check_reference("keychain://request-vault/work").is_ok());
/// let err = keychain.check_reference("keychain://request vault/work").unwrap_err();
/// assert_eq!(err.offset(), Some(18)); // a space is written `%20`
/// ```
#[derive(Clone)]
pub struct Keychain {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    store: Store,
    timeout: Duration,
}

impl Keychain {
    /// The platform's own keychain (macOS Keychain, Windows Credential Manager, the Secret
    /// Service on Linux), with id `keychain` and the [`DEFAULT_TIMEOUT`]. Nothing is
    /// contacted until the first fetch.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for another id, timeout or store.
    pub fn builder() -> KeychainBuilder {
        KeychainBuilder::default()
    }

    fn from_parts(id: String, kind: StoreKind, timeout: Duration) -> Self {
        let store = Store::new(kind, id.clone());
        Keychain {
            inner: Arc::new(Inner { id, store, timeout }),
        }
    }

    /// Reads each distinct entry once, on the blocking pool, within the timeout.
    async fn read_all(
        &self,
        names: BTreeSet<EntryName>,
    ) -> Result<HashMap<EntryName, Result<SecretString, ProviderError>>, ProviderError> {
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || {
            names
                .into_iter()
                .map(|name| {
                    let value = inner.store.read(&name);
                    (name, value)
                })
                .collect::<HashMap<_, _>>()
        });
        let failed = |kind, message: String| ProviderError::new(&self.inner.id, kind, message);
        match tokio::time::timeout(self.inner.timeout, task).await {
            Ok(Ok(values)) => Ok(values),
            Ok(Err(_)) => Err(failed(
                ProviderErrorKind::Unavailable,
                format!(
                    "reading {} failed: the blocking task panicked or was cancelled",
                    self.inner.store.kind().describe()
                ),
            )),
            Err(_) => Err(failed(
                ProviderErrorKind::Timeout,
                format!(
                    "{} did not answer within {:?} (is it waiting for someone to unlock it?)",
                    self.inner.store.kind().describe(),
                    self.inner.timeout
                ),
            )),
        }
    }
}

impl KeychainBuilder {
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

impl Default for Keychain {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl ExternalProvider for Keychain {
    fn id(&self) -> &str {
        &self.inner.id
    }

    fn scheme(&self) -> &str {
        SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        EntryName::parse(&self.inner.id, reference).map(drop)
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let mut results = self.resolve_all(&[reference]).await;
        results.pop().unwrap_or_else(|| {
            Err(
                ProviderError::new(&self.inner.id, ProviderErrorKind::Protocol, "no result")
                    .with_reference(reference),
            )
        })
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        let parsed: Vec<Result<EntryName, ProviderError>> = references
            .iter()
            .map(|reference| EntryName::parse(&self.inner.id, reference))
            .collect();
        let names: BTreeSet<EntryName> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok().cloned())
            .collect();
        let values = if names.is_empty() {
            Ok(HashMap::new())
        } else {
            self.read_all(names).await
        };
        references
            .iter()
            .zip(parsed)
            .map(|(reference, parsed)| {
                let name = parsed?;
                let value = match &values {
                    Ok(values) => values.get(&name),
                    Err(failure) => return Err(failure.duplicate().with_reference(*reference)),
                };
                match value {
                    Some(Ok(value)) => Ok(value.clone()),
                    Some(Err(failure)) => Err(failure.duplicate().with_reference(*reference)),
                    None => Err(ProviderError::new(
                        &self.inner.id,
                        ProviderErrorKind::Protocol,
                        "the entry was not read",
                    )
                    .with_reference(*reference)),
                }
            })
            .collect()
    }

    fn clear_cache(&self) {
        self.inner.store.forget();
    }
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("id", &self.inner.id)
            .field("store", &self.inner.store.kind().describe())
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}
