//! [`VaultKey::save_to_keychain`] and [`VaultKey::from_keychain`]: the vault key kept in the
//! OS keychain, as Postman keeps its vault key in the system's password manager.

use secrecy::ExposeSecret;

use crate::provider::{ProviderError, ProviderErrorKind};
use crate::{Error, VaultKey};

use super::reference::EntryName;
use super::store::{PROVIDER_ID, Store, StoreKind};

/// The start of an age X25519 secret key; any other text in the entry is a passphrase.
const X25519_PREFIX: &str = "AGE-SECRET-KEY-1";

impl VaultKey {
    /// Saves the key in the platform's own keychain (macOS Keychain, Windows Credential
    /// Manager, the Secret Service on Linux) under `service` and `account`, replacing what
    /// was there, as the `keyring` crate writes entries: `keychain://SERVICE/ACCOUNT` (and
    /// any `keyring` user) reads it back. A generated key is saved as `AGE-SECRET-KEY-1…`, a
    /// passphrase as it is.
    ///
    /// This blocks on the keychain (a D-Bus round trip on Linux, perhaps a prompt to unlock
    /// it): from async code, call it inside `tokio::task::spawn_blocking`.
    ///
    /// ```no_run
    /// use request_vault::VaultKey;
    ///
    /// let key = VaultKey::generate();
    /// key.save_to_keychain("request-vault", "work")?;
    /// let again = VaultKey::from_keychain("request-vault", "work")?;
    /// assert_eq!(again.recipient(), key.recipient());
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] from provider `keychain`, whose kind says what failed (the key is
    /// never in a message):
    /// - `Unsupported` when `service` or `account` is empty, or the keychain refuses it;
    /// - `Unauthorized` when the keychain is locked or refused access;
    /// - `Unavailable` when there is no keychain to reach (on Linux: no D-Bus session bus or
    ///   Secret Service), with how to fix it.
    pub fn save_to_keychain(&self, service: &str, account: &str) -> Result<(), Error> {
        let name = entry_name(service, account)?;
        Store::new(StoreKind::Native, PROVIDER_ID)
            .write(&name, self.expose_secret())
            .map_err(Error::from)
    }

    /// Reads a key saved with [`save_to_keychain`](Self::save_to_keychain) (or by any tool
    /// that writes `keyring` entries) from the platform's own keychain. Text that starts
    /// with `AGE-SECRET-KEY-1` is parsed as a generated key; anything else is taken as a
    /// passphrase ([`VaultKey::from_passphrase`]). Blocks, as `save_to_keychain` does.
    ///
    /// ```no_run
    /// use request_vault::{Vault, VaultKey};
    ///
    /// let key = VaultKey::from_keychain("request-vault", "work")?;
    /// let vault = Vault::open("secrets.age", &key)?;
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::Provider`] from provider `keychain` whose kind is `NotFound` when there is
    ///   no such entry, `Ambiguous` when several match, and otherwise as for
    ///   [`save_to_keychain`](Self::save_to_keychain);
    /// - [`Error::InvalidKey`] when the entry starts as a generated key but is not a valid one.
    pub fn from_keychain(service: &str, account: &str) -> Result<VaultKey, Error> {
        let name = entry_name(service, account)?;
        let text = Store::new(StoreKind::Native, PROVIDER_ID)
            .read(&name)
            .map_err(Error::from)?;
        if text.expose_secret().starts_with(X25519_PREFIX) {
            text.expose_secret().parse()
        } else {
            Ok(VaultKey::from_passphrase(text))
        }
    }
}

/// The entry a key is kept in; both names must be given.
fn entry_name(service: &str, account: &str) -> Result<EntryName, Error> {
    if service.is_empty() || account.is_empty() {
        return Err(ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Unsupported,
            "a keychain entry needs a service and an account, and one of them is empty",
        )
        .into());
    }
    Ok(EntryName {
        service: service.to_owned(),
        account: account.to_owned(),
    })
}
