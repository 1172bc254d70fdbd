//! The operating system's credential store behind a [`Keychain`](super::Keychain): which
//! one, connected lazily, and the blocking reads and writes through the `keyring-core` store
//! crates, with their errors mapped to [`ProviderError`]s that never carry a value; and the
//! provider's id they carry unless the builder gives another.
//!
//! Entries are read and written with `get_password`/`set_password`, as the `keyring` crate
//! does, so that what one writes the other reads on every platform (Windows keeps passwords
//! as UTF-16, which raw secret bytes would not match).

use std::sync::{Arc, Mutex, PoisonError};

use keyring_core::{CredentialStore, Entry, Error as KeyringError};
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use crate::provider::{ProviderError, ProviderErrorKind};

use super::reference::EntryName;

/// The id of the keychain provider, unless
/// [`KeychainBuilder::id`](super::KeychainBuilder::id) gives another.
pub const PROVIDER_ID: &str = "keychain";

/// Which of the platform's stores a keychain uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    /// The platform's own: macOS Keychain, Windows Credential Manager, the Secret Service
    /// on Linux.
    Native,
    /// The Linux kernel's keyutils (the session keyring): always there, kept in memory only.
    #[cfg(target_os = "linux")]
    Keyutils,
}

impl StoreKind {
    /// What the store is called in messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            StoreKind::Native => NATIVE_NAME,
            #[cfg(target_os = "linux")]
            StoreKind::Keyutils => "the kernel keyutils session keyring",
        }
    }

    /// How to make the store reachable, for the messages that say it is not.
    fn how_to_fix(self) -> &'static str {
        match self {
            StoreKind::Native => NATIVE_HOW_TO_FIX,
            #[cfg(target_os = "linux")]
            StoreKind::Keyutils => "keyutils needs a Linux kernel built with it (CONFIG_KEYS)",
        }
    }
}

#[cfg(target_os = "linux")]
const NATIVE_NAME: &str = "the Secret Service";
#[cfg(target_os = "macos")]
const NATIVE_NAME: &str = "the macOS Keychain";
#[cfg(target_os = "windows")]
const NATIVE_NAME: &str = "the Windows Credential Manager";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const NATIVE_NAME: &str = "the OS keychain";

/// How to make the native store reachable, for the message that says it is not.
#[cfg(target_os = "linux")]
const NATIVE_HOW_TO_FIX: &str = "it needs a D-Bus session bus (DBUS_SESSION_BUS_ADDRESS) with a \
    Secret Service on it, such as gnome-keyring-daemon or KWallet, with its login keyring \
    unlocked; on a headless machine run the program under `dbus-run-session` after \
    `gnome-keyring-daemon --unlock --components=secrets`, or use \
    `Keychain::builder().keyutils()`";
#[cfg(any(target_os = "macos", target_os = "windows"))]
const NATIVE_HOW_TO_FIX: &str = "it is only reachable from a user's logged-in session";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const NATIVE_HOW_TO_FIX: &str = "this platform has no keychain the crate knows: macOS, Windows \
    and Linux have one";

/// One of the platform's credential stores, connected on first use (and again after a
/// failure that may have broken the connection).
pub(crate) struct Store {
    kind: StoreKind,
    provider: String,
    connected: Mutex<Option<Arc<CredentialStore>>>,
}

impl Store {
    pub(crate) fn new(kind: StoreKind, provider: impl Into<String>) -> Self {
        Store {
            kind,
            provider: provider.into(),
            connected: Mutex::new(None),
        }
    }

    pub(crate) fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Drops the connection; the next use connects again.
    pub(crate) fn forget(&self) {
        *self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Reads the password of an entry. Blocks.
    ///
    /// # Errors
    ///
    /// [`ProviderError`]s without a reference: `NotFound` when there is no such entry,
    /// `Ambiguous` when several match, `Unauthorized` when the store is locked or refused
    /// access, `Unavailable` when it cannot be reached (with how to fix it), `Unsupported`
    /// for a value that is not UTF-8.
    pub(crate) fn read(&self, name: &EntryName) -> Result<SecretString, ProviderError> {
        let entry = self.entry(name)?;
        let password = entry
            .get_password()
            .map_err(|err| self.failure(err, name))?;
        // Wiped once copied into the secret, which is sized exactly.
        let password = Zeroizing::new(password);
        Ok(SecretString::from(password.as_str()))
    }

    /// Writes (creates or replaces) the password of an entry. Blocks.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), less `NotFound`.
    #[cfg(feature = "file")]
    pub(crate) fn write(&self, name: &EntryName, value: &str) -> Result<(), ProviderError> {
        let entry = self.entry(name)?;
        entry
            .set_password(value)
            .map_err(|err| self.failure(err, name))
    }

    fn entry(&self, name: &EntryName) -> Result<Entry, ProviderError> {
        let store = self.connect()?;
        Entry::new_in_store(&store, &name.service, &name.account)
            .map_err(|err| self.failure(err, name))
    }

    fn connect(&self) -> Result<Arc<CredentialStore>, ProviderError> {
        let mut connected = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = connected.as_ref() {
            return Ok(Arc::clone(store));
        }
        let store = open(self.kind).map_err(|err| {
            let error = ProviderError::new(
                &self.provider,
                ProviderErrorKind::Unavailable,
                format!(
                    "cannot reach {}: {}",
                    self.kind.describe(),
                    self.kind.how_to_fix()
                ),
            );
            with_platform_source(error, err)
        })?;
        *connected = Some(Arc::clone(&store));
        Ok(store)
    }

    /// Maps a store's error; forgets the connection when the error may come from it.
    fn failure(&self, err: KeyringError, name: &EntryName) -> ProviderError {
        let store = self.kind.describe();
        let EntryName { service, account } = name;
        let error = |kind, message: String| ProviderError::new(&self.provider, kind, message);
        match err {
            KeyringError::NoEntry => error(
                ProviderErrorKind::NotFound,
                format!("{store} has no entry for service `{service}` and account `{account}`"),
            ),
            KeyringError::Ambiguous(entries) => error(
                ProviderErrorKind::Ambiguous,
                format!(
                    "{} entries of {store} match service `{service}` and account `{account}`",
                    entries.len()
                ),
            ),
            KeyringError::BadEncoding(mut bytes) => {
                bytes.zeroize();
                error(
                    ProviderErrorKind::Unsupported,
                    format!(
                        "the entry for service `{service}` and account `{account}` is not UTF-8 text"
                    ),
                )
            }
            KeyringError::BadDataFormat(mut bytes, _) => {
                bytes.zeroize();
                error(
                    ProviderErrorKind::Protocol,
                    format!(
                        "the entry for service `{service}` and account `{account}` is not in the format {store} uses"
                    ),
                )
            }
            KeyringError::TooLong(attribute, limit) => error(
                ProviderErrorKind::Unsupported,
                format!("the {attribute} is longer than the {limit} characters {store} allows"),
            ),
            KeyringError::Invalid(attribute, reason) => error(
                ProviderErrorKind::Unsupported,
                format!("{store} refuses the {attribute}: {reason}"),
            ),
            KeyringError::NotSupportedByStore(what) => error(
                ProviderErrorKind::Unsupported,
                format!("{store} cannot do this: {what}"),
            ),
            KeyringError::NoStorageAccess(source) => {
                self.forget();
                error(
                    ProviderErrorKind::Unauthorized,
                    format!(
                        "{store} refused access to the entry for service `{service}` and account \
                         `{account}`: it is locked, or access was denied; unlock it (on Linux, the \
                         login keyring) and allow this program"
                    ),
                )
                .with_source(source)
            }
            KeyringError::PlatformFailure(source) => {
                self.forget();
                error(
                    ProviderErrorKind::Unavailable,
                    format!("{store} failed: {}", self.kind.how_to_fix()),
                )
                .with_source(source)
            }
            _ => {
                self.forget();
                error(
                    ProviderErrorKind::Protocol,
                    format!("{store} answered with an error this crate does not know"),
                )
            }
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("kind", &self.kind.describe())
            .finish_non_exhaustive()
    }
}

/// Keeps the platform's own error as the source, except errors that may hold data.
fn with_platform_source(error: ProviderError, err: KeyringError) -> ProviderError {
    match err {
        KeyringError::PlatformFailure(source) | KeyringError::NoStorageAccess(source) => {
            error.with_source(source)
        }
        _ => error,
    }
}

/// Connects to the store. Blocks (the Secret Service is reached over D-Bus).
fn open(kind: StoreKind) -> Result<Arc<CredentialStore>, KeyringError> {
    match kind {
        StoreKind::Native => open_native(),
        #[cfg(target_os = "linux")]
        StoreKind::Keyutils => {
            let store: Arc<CredentialStore> = linux_keyutils_keyring_store::Store::new()?;
            Ok(store)
        }
    }
}

#[cfg(target_os = "linux")]
fn open_native() -> Result<Arc<CredentialStore>, KeyringError> {
    let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn open_native() -> Result<Arc<CredentialStore>, KeyringError> {
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "windows")]
fn open_native() -> Result<Arc<CredentialStore>, KeyringError> {
    let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn open_native() -> Result<Arc<CredentialStore>, KeyringError> {
    Err(KeyringError::NotSupportedByStore(
        "no OS keychain on this platform".to_owned(),
    ))
}
