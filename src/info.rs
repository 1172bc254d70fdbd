//! [`SecretInfo`]: what the vault can tell about a secret without revealing its value.

use std::fmt;
use std::time::SystemTime;

use crate::domain::DomainPattern;
use crate::provider::{ProviderError, ProviderErrorKind};

/// Whether a secret's value lives in the vault or in an external provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretKind {
    /// The value is kept in the vault (encrypted at rest when the vault has a file).
    Local,
    /// The vault keeps a reference; the value is fetched from a provider when needed.
    Linked,
}

/// The description of one secret: the "Configure vault" view of Postman Vault.
///
/// Returned by [`Vault::describe`](crate::Vault::describe) and
/// [`Vault::secrets`](crate::Vault::secrets). It never holds the value.
///
/// ```
/// use request_vault::{SecretKind, Vault};
///
/// let vault = Vault::new();
/// vault.set("api-key", "s3cr3t")?;
/// vault.set_allowed_domains("api-key", ["api.example.com"])?;
/// let info = vault.describe("api-key")?;
/// assert_eq!(info.kind, SecretKind::Local);
/// assert_eq!(info.to_string(), "api-key: local, enabled, allowed domains: api.example.com");
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretInfo {
    /// The secret's name.
    pub name: String,
    /// Local or linked.
    pub kind: SecretKind,
    /// The id of the provider a linked secret resolves through.
    pub provider: Option<String>,
    /// The reference of a linked secret, such as `op://Prod/Postgres/password`.
    pub reference: Option<String>,
    /// Where the secret may be sent; empty means anywhere.
    pub allowed_domains: Vec<DomainPattern>,
    /// Whether the secret resolves (a disabled one is kept but refused).
    pub enabled: bool,
    /// When the secret was added.
    pub created: SystemTime,
    /// When the secret was last changed.
    pub updated: SystemTime,
    /// When a linked secret's value was last fetched, if it is cached now.
    pub last_fetched: Option<SystemTime>,
    /// Until when a linked secret's value stays cached, if it is cached now (for a value
    /// served stale, the latest it may still be served).
    pub cached_until: Option<SystemTime>,
    /// When a linked secret's cached value is refreshed ahead of time: the first resolve
    /// from then on refetches it in the background (only with
    /// [`VaultBuilder::refresh_ahead`](crate::VaultBuilder::refresh_ahead), and not for a
    /// value served stale).
    pub refreshes_at: Option<SystemTime>,
    /// Set when a linked secret's value is served past its cache TTL because refreshing it
    /// failed with a transient error (stale-if-error, see
    /// [`VaultBuilder::stale_if_error`](crate::VaultBuilder::stale_if_error)): since when
    /// and why.
    pub stale: Option<Staleness>,
}

/// Why a linked secret's value is served stale: its refresh failed with a transient error
/// after its cache TTL ran out, and the vault allows stale values
/// ([`VaultBuilder::stale_if_error`](crate::VaultBuilder::stale_if_error)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Staleness {
    /// When the value's cache TTL ran out.
    pub expired_at: SystemTime,
    /// The kind of the latest refresh failure (always a transient one).
    pub kind: ProviderErrorKind,
    /// The latest refresh failure, as its message (which never holds a value).
    pub reason: String,
}

impl Staleness {
    pub(crate) fn new(expired_at: SystemTime, error: &ProviderError) -> Self {
        Staleness {
            expired_at,
            kind: error.kind(),
            reason: error.to_string(),
        }
    }
}

impl fmt::Display for SecretInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        match (&self.provider, &self.reference) {
            (Some(provider), Some(reference)) => write!(f, "linked via {provider} to {reference}")?,
            _ => f.write_str("local")?,
        }
        f.write_str(if self.enabled {
            ", enabled"
        } else {
            ", disabled"
        })?;
        if self.allowed_domains.is_empty() {
            f.write_str(", any domain")?;
        } else {
            f.write_str(", allowed domains: ")?;
            for (i, domain) in self.allowed_domains.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{domain}")?;
            }
        }
        if let Some(stale) = &self.stale {
            write!(f, ", stale (refresh failed: {})", stale.reason)?;
        }
        if let Some(until) = self.cached_until {
            let left = until.duration_since(SystemTime::now()).unwrap_or_default();
            write!(f, ", cached for {}s more", left.as_secs())?;
        }
        if let Some(at) = self.refreshes_at {
            let left = at.duration_since(SystemTime::now()).unwrap_or_default();
            write!(f, ", refreshed ahead in {}s", left.as_secs())?;
        }
        Ok(())
    }
}
