//! [`VaultKey`]: the key a vault file is encrypted under.

use std::fmt;
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

/// The key of a vault file: an age X25519 identity (`AGE-SECRET-KEY-1…`, made by
/// [`VaultKey::generate`]) or a passphrase (age's scrypt recipient,
/// [`VaultKey::from_passphrase`]). Its `Debug` never shows key material.
///
/// # Where to keep the key
///
/// Not next to the vault file. Keep a generated key in the operating system's keychain or a
/// secret manager (a 1Password item, say), or hand it to the process through its environment
/// from such a place; keep a passphrase in a person's head or password manager. Anyone with
/// the key and the file can read every local secret, with this crate or the `age` CLI.
///
/// ```
/// use request_vault::{ExposeSecret, VaultKey};
///
/// let key = VaultKey::generate();
/// assert!(key.expose_secret().starts_with("AGE-SECRET-KEY-1"));
/// assert!(key.recipient().starts_with("age1"));
/// let again: VaultKey = key.expose_secret().parse()?;
/// assert_eq!(again.recipient(), key.recipient());
/// assert!(!format!("{key:?}").contains("AGE-SECRET-KEY"));
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Clone)]
pub struct VaultKey {
    kind: Kind,
    text: SecretString,
}

#[derive(Clone)]
enum Kind {
    X25519(age::x25519::Identity),
    Passphrase,
}

/// The shortest passphrase accepted for a vault key or an encrypted export.
pub const MIN_PASSPHRASE_LEN: usize = 12;

impl VaultKey {
    /// A new random X25519 key. Show it to its owner once, as [`expose_secret`](Self::expose_secret)
    /// gives it, and keep it somewhere safe.
    pub fn generate() -> Self {
        let identity = age::x25519::Identity::generate();
        VaultKey {
            text: identity.to_string(),
            kind: Kind::X25519(identity),
        }
    }

    /// A key derived from a passphrase with scrypt (age's passphrase recipient). Opening and
    /// saving take about a second each, by design. [`Vault::create`](crate::Vault::create)
    /// and [`Vault::rekey`](crate::Vault::rekey) refuse passphrases shorter than
    /// [`MIN_PASSPHRASE_LEN`] characters; opening accepts whatever the file was made with.
    pub fn from_passphrase(passphrase: SecretString) -> Self {
        VaultKey {
            kind: Kind::Passphrase,
            text: passphrase,
        }
    }

    /// Refuses a passphrase key too weak to protect a new file.
    pub(crate) fn check_strength(&self) -> Result<(), Error> {
        match self.kind {
            Kind::Passphrase => check_passphrase(&self.text),
            Kind::X25519(_) => Ok(()),
        }
    }

    /// The public recipient (`age1…`) of an X25519 key, which anyone may know; for a
    /// passphrase key, `scrypt` (a passphrase has no public part).
    pub fn recipient(&self) -> String {
        match &self.kind {
            Kind::X25519(identity) => identity.to_public().to_string(),
            Kind::Passphrase => "scrypt".to_owned(),
        }
    }

    pub(crate) fn encryptor(&self) -> Result<age::Encryptor, Error> {
        match &self.kind {
            Kind::X25519(identity) => {
                let recipient = identity.to_public();
                age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                    .map_err(|_| Error::Encryption)
            }
            Kind::Passphrase => Ok(age::Encryptor::with_user_passphrase(self.text.clone())),
        }
    }

    pub(crate) fn identity(&self) -> Box<dyn age::Identity> {
        match &self.kind {
            Kind::X25519(identity) => Box::new(identity.clone()),
            Kind::Passphrase => Box::new(age::scrypt::Identity::new(self.text.clone())),
        }
    }
}

pub(crate) fn check_passphrase(passphrase: &SecretString) -> Result<(), Error> {
    if passphrase.expose_secret().chars().count() < MIN_PASSPHRASE_LEN {
        return Err(Error::WeakPassphrase {
            min: MIN_PASSPHRASE_LEN,
        });
    }
    Ok(())
}

impl ExposeSecret<str> for VaultKey {
    /// The key as text: `AGE-SECRET-KEY-1…`, or the passphrase.
    fn expose_secret(&self) -> &str {
        self.text.expose_secret()
    }
}

impl FromStr for VaultKey {
    type Err = Error;

    /// Parses an `AGE-SECRET-KEY-1…` key.
    fn from_str(text: &str) -> Result<Self, Error> {
        let identity =
            age::x25519::Identity::from_str(text.trim()).map_err(|_| Error::InvalidKey)?;
        Ok(VaultKey {
            text: identity.to_string(),
            kind: Kind::X25519(identity),
        })
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::X25519(_) => "x25519",
            Kind::Passphrase => "passphrase",
        };
        f.debug_struct("VaultKey")
            .field("kind", &kind)
            .field("recipient", &self.recipient())
            .finish_non_exhaustive()
    }
}
