//! HashiCorp Vault: the [`HashiCorpVault`] provider for `vault://` references.
//!
//! ```no_run
//! use request_vault::{HashiCorpVault, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! vault.add_provider(HashiCorpVault::from_env()?); // VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE
//! vault.link("db-password", "vault://secret/myapp/db#password")?; // checked offline, now
//! vault.link("db-user", "vault://database/creds/app#username")?;  // a dynamic secret
//! vault.link("db-pass", "vault://database/creds/app#password")?;  // … from the same lease
//! let all = vault.resolve_all(["db-password", "db-user", "db-pass"]).await?;
//! # Ok(()) }
//! ```
//!
//! # References
//!
//! `vault://PATH[?version=N&namespace=NS]#KEY`, as `vals` users write them (a `ref+` prefix
//! is accepted). `PATH` starts with the mount. The mount and its engine are found as the
//! `vault` CLI finds them (`sys/internal/ui/mounts/PATH`, once per mount): KV version 2
//! secrets are read at `MOUNT/data/REST` (`?version=N` picks a version), KV version 1 and
//! every other engine (`database/creds/ROLE`, `aws/creds/ROLE`, …) at the path as is.
//! `#KEY` picks a field and `#/a/b` a nested one; without `#`, a secret with exactly one
//! field yields it, and one with several is an [`Ambiguous`] error listing the field names
//! (names only).
//!
//! # Batches and round trips
//!
//! A batch reads each distinct path once, all at once (up to
//! [`DEFAULT_CONCURRENCY`] requests in flight, or
//! [`concurrency`](HashiCorpVaultBuilder::concurrency)). A path under a mount not known yet
//! waits for the mount's look-up, which every path of the batch with the same first segment
//! shares: a cold batch in one mount costs two round trips, and one once the mount is known
//! (for the cache TTL) or when it is declared on the builder
//! ([`mount`](HashiCorpVaultBuilder::mount) with a [`KvVersion`]):
//!
//! ```
//! use request_vault::HashiCorpVault;
//! use request_vault::hashicorp::KvVersion;
//!
//! let provider = HashiCorpVault::builder("https://vault.example.com:8200")
//!     .mount("secret", KvVersion::V2) // no look-up for `vault://secret/…`
//!     .token("hvs.example")?;
//! # Ok::<(), request_vault::Error>(())
//! ```
//!
//! # Signing in
//!
//! A token ([`HashiCorpVaultBuilder::token`], or `VAULT_TOKEN` / `~/.vault-token`), or a
//! login: AppRole, JWT/OIDC (a CI system's token, from a file too) and Kubernetes (the
//! service-account token file), each at a custom mount if needed. A login's token is
//! renewed (or obtained again) shortly before it expires, and Vault refusing it with 403
//! triggers one new login and one retry.
//!
//! Vault answers 403 `permission denied` both for a token it no longer knows and for a path
//! outside the token's policies. A 403 that says `invalid token`, or whose token
//! `auth/token/lookup-self` also refuses, is [`Unauthorized`] (sign in again); any other 403
//! is [`Forbidden`].
//!
//! # Leases
//!
//! A read that comes with a lease (dynamic secrets) is kept by the provider for the lease's
//! time less a margin (a fifth of it, at most a minute), and its values are cached by the
//! vault no longer than that: the fields of one dynamic read, resolved together or one
//! after the other within that time, always come from the same lease, fetched once.
//! [`HashiCorpVaultBuilder::revoke_leases_on_clear`] revokes the leases on
//! [`clear_cache`](crate::ExternalProvider::clear_cache). A lease of any length is fine (a
//! `lease_duration` of `u64::MAX` seconds means "until cleared").
//!
//! # Errors
//!
//! 403 is [`Forbidden`] or [`Unauthorized`] (above); 404 [`NotFound`], saying when a KV v2
//! version was deleted or destroyed; 503 (sealed, standby) and other 5xx [`Unavailable`];
//! 429 [`RateLimited`]; these and 412 are retried with the [`RetryPolicy`]. A 400
//! `unknown role` from a dynamic engine is [`NotFound`]. A login is never sent again after
//! its reply was lost (an AppRole `secret_id` may have a use limit). Requests go through
//! the provider door: no redirect is followed (a 3xx is a [`Protocol`] error naming where it
//! pointed), answers are read up to
//! [`max_response_bytes`](HashiCorpVaultBuilder::max_response_bytes), and Vault's error text
//! is scrubbed of the token, the AppRole role and secret IDs and the JWT.
//!
//! [`Ambiguous`]: crate::ProviderErrorKind::Ambiguous
//! [`Unauthorized`]: crate::ProviderErrorKind::Unauthorized
//! [`Forbidden`]: crate::ProviderErrorKind::Forbidden
//! [`NotFound`]: crate::ProviderErrorKind::NotFound
//! [`Unavailable`]: crate::ProviderErrorKind::Unavailable
//! [`RateLimited`]: crate::ProviderErrorKind::RateLimited
//! [`Protocol`]: crate::ProviderErrorKind::Protocol
//! [`RetryPolicy`]: crate::provider::RetryPolicy

mod api;
mod auth;
mod builder;
mod client;
mod connection;
mod error;
mod lease;
mod mounts;
mod read;
mod reference;
mod vault;
mod wire;

pub use builder::{
    DEFAULT_ADDR, DEFAULT_CONCURRENCY, HashiCorpVaultBuilder, KUBERNETES_TOKEN_PATH,
};
pub use error::PROVIDER_ID;
pub use mounts::KvVersion;
pub use reference::SCHEME;
pub use vault::HashiCorpVault;

use crate::Error;

impl HashiCorpVault {
    /// A builder for the server at `addr` (such as `https://vault.example.com:8200`).
    pub fn builder(addr: &str) -> HashiCorpVaultBuilder {
        HashiCorpVaultBuilder::new(addr)
    }

    /// A provider configured from the environment, with default options; see
    /// [`HashiCorpVaultBuilder::from_env`].
    ///
    /// # Errors
    ///
    /// As [`HashiCorpVaultBuilder::from_env`].
    pub fn from_env() -> Result<Self, Error> {
        HashiCorpVaultBuilder::default().from_env()
    }
}
