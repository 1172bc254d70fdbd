//! A vault of named secrets for Rust programs that make HTTP requests.
//!
//! A [`Vault`] holds named secrets. Each is **local** (the value is kept in the vault) or
//! **linked** to an external secret manager through an [`ExternalProvider`] (the vault
//! keeps a reference such as `op://Prod/Postgres/password` and fetches the value when it
//! is needed, caching it in memory for a TTL). Values are [`SecretString`]s: they never
//! show in `Debug` output, error messages or logs, and are zeroized when dropped.
//!
//! ```
//! use request_vault::{ExposeSecret, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! vault.set("api-key", "s3cr3t")?;
//! vault.set_allowed_domains("api-key", ["api.example.com"])?;
//!
//! let value = vault.resolve("api-key").await?;
//! assert_eq!(value.expose_secret(), "s3cr3t");
//!
//! // Descriptions never hold values.
//! for info in vault.secrets() {
//!     println!("{info}"); // api-key: local, enabled, allowed domains: api.example.com
//! }
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Every fallible call returns the one [`Error`] type. Its [`kind`](Error::kind) separates
//! *empty* secrets (no such secret) from *unresolved* ones (disabled, provider missing or
//! failing, domain not allowed), as Postman Vault's troubleshooting guide does.
//!
//! # Providers
//!
//! [`ExternalProvider`] is the trait a secret manager implements; see the [`provider`]
//! module for a worked example. [`Vault::link`] picks the provider by the reference's URI
//! scheme and checks the reference offline before anything is stored.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod domain;
mod error;
mod escape;
mod exchange;
mod info;
mod key;
mod name;
pub mod onepassword;
mod persist;
pub mod provider;
mod redact;
mod request;
mod resolve;
mod retry;
mod send;
mod store;
mod template;
mod vault;

pub use async_trait::async_trait;
pub use domain::DomainPattern;
pub use error::{BoxError, Error, ErrorKind, Result};
pub use exchange::{ImportOptions, ImportReport, OnClash};
pub use info::{SecretInfo, SecretKind};
pub use key::{MIN_PASSPHRASE_LEN, VaultKey};
pub use name::{MAX_NAME_LEN, SecretName};
pub use onepassword::{OnePassword, OnePasswordBuilder, SecretReference};
pub use provider::{ExternalProvider, ProviderError, ProviderErrorKind};
pub use redact::Redactor;
pub use request::RequestTemplate;
pub use secrecy::{ExposeSecret, SecretBox, SecretString};
pub use send::MAX_REDIRECTS;
pub use template::Template;
pub use vault::{DEFAULT_CACHE_TTL, Vault, VaultBuilder};

/// The README's examples, run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
