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
//! # Templates and requests
//!
//! `<<vault:NAME>>` placeholders are rendered into text ([`Vault::render`]) or into the parts
//! of an HTTP request ([`RequestTemplate`]), each part escaped as it needs. A secret with
//! allowed domains is only ever rendered into requests to those hosts, checked before any
//! value is fetched.
//!
//! ```
//! use request_vault::{RequestTemplate, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! vault.set("token", "t0k/en")?;
//! vault.set_allowed_domains("token", ["api.example.com"])?;
//! let template = RequestTemplate::new(reqwest::Method::GET, "https://api.example.com/items?t=<<vault:token>>")
//!     .bearer_auth("<<vault:token>>");
//! let request = vault.render_request(&reqwest::Client::new(), &template).await?;
//! assert_eq!(request.url().query(), Some("t=t0k%2Fen"));
//!
//! let elsewhere = RequestTemplate::new(reqwest::Method::GET, "https://evil.example/?t=<<vault:token>>");
//! assert!(vault.render_request(&reqwest::Client::new(), &elsewhere).await.is_err());
//! # Ok(()) }
//! ```
//!
//! [`Vault::send`] renders and sends, following redirects itself and re-checking each hop;
//! [`Vault::redactor`] masks secrets in logs, also in their encoded forms.
//!
//! # 1Password
//!
//! [`OnePassword`] resolves secret references such as `op://Prod/Postgres/password`, through
//! a Connect server or a service account (the `op` CLI). References are parsed exactly
//! ([`SecretReference`]) and checked offline when linked.
//!
//! ```no_run
//! # use request_vault::{OnePassword, Vault};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! vault.add_provider(OnePassword::from_env()?);
//! vault.link("db", "op://Prod/Postgres/password")?;
//! vault.link("otp", "op://dev/stripe/api keys/secret?attribute=otp")?;
//! let values = vault.resolve_all(["db", "otp"]).await?; // one request per item
//! # Ok(()) }
//! ```
//!
//! # Storage
//!
//! A vault can live in an age-encrypted file under a [`VaultKey`]; see [`Vault::create`].
//! Saving is atomic and durable; [`Vault::lock`] wipes values from memory.
//!
//! # Errors
//!
//! Every fallible call returns the one [`Error`] type. Its [`kind`](Error::kind) separates
//! *empty* secrets (no such secret) from *unresolved* ones (disabled, provider missing or
//! failing, domain not allowed, locked), as Postman Vault's troubleshooting guide does.
//! Messages name the secret, reference, host or byte offset, never a value or a token.
//!
//! # Providers
//!
//! [`ExternalProvider`] is the trait a secret manager implements; see the [`provider`]
//! module for a worked example and [`provider::conformance`] for the suite a provider should
//! pass. [`Vault::link`] picks the provider by the reference's URI scheme.

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
