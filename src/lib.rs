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
//! [`Vault::send`] renders and sends, following redirects itself and re-checking each hop.
//!
//! # Logs and child processes
//!
//! [`Vault::redactor`] masks secrets in text, also in their encoded forms (percent-encoded,
//! JSON-escaped, base64, once or twice over), and follows the vault: values stored or
//! fetched later are masked too, and a value once masked stays masked. Its
//! [`writer`](Redactor::writer) masks what goes through any [`std::io::Write`], line by
//! line; with the `tracing` feature, [`make_writer`](Redactor::make_writer) does the same for
//! a `tracing_subscriber` writer.
//!
//! ```
//! use std::io::Write;
//! use request_vault::Vault;
//!
//! let vault = Vault::new();
//! let mut log = vault.redactor().writer(Vec::new());
//! vault.set("api-key", "s3cr3t")?;
//! writeln!(log, "key=s3cr3t")?;
//! assert_eq!(log.into_inner(), b"key=[vault:api-key]\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Vault::render_env`] renders a child process's environment from templates, in one
//! batched fetch, failing closed (`examples/run.rs` runs a command with it, as `op run`
//! does, and masks the command's output).
//!
//! # 1Password and other secret managers
//!
//! [`OnePassword`] (feature `onepassword`, on by default) resolves secret references such as
//! `op://Prod/Postgres/password`, through a Connect server, a service account or the `op`
//! CLI's own sign-in. References are parsed exactly ([`SecretReference`]) and checked
//! offline when linked; see the [`onepassword`] module for a worked example.
//!
//! Each secret manager is one cargo feature, so that a build compiles only what it uses:
//!
//! | feature | what it adds |
//! |---|---|
//! | `onepassword` (default) | [`OnePassword`]: `op://` references |
//! | `ssh` | the `ssh-format=openssh` attribute of `op://` references |
//! | `file` (default) | the age-encrypted vault file, lock/unlock, export and import |
//! | `aws` | [`AwsSecretsManager`] and [`AwsParameterStore`]: `awssecrets://` and `awsssm://` references (needs Rust 1.94.1) |
//! | `hashicorp` | [`HashiCorpVault`]: `vault://` references |
//! | `azure` | [`AzureKeyVault`]: `azurekeyvault://` references |
//! | `gcp` | [`GcpSecretManager`]: `gcpsecrets://` references |
//! | `keychain` | [`Keychain`]: `keychain://` references to the OS keychain; with `file`, [`VaultKey::save_to_keychain`] and [`VaultKey::from_keychain`] |
//! | `conformance` | [`provider::conformance`], the suite a provider should pass |
//! | `middleware` | [`middleware::VaultMiddleware`]: placeholders in `reqwest-middleware` clients |
//! | `tracing` | [`Redactor::make_writer`]: a `tracing_subscriber` writer that masks secrets |
//!
//! A reference for a provider whose feature is off is refused by [`Vault::link`] with
//! [`Error::FeatureDisabled`], naming the feature to enable.
//!
//! Two providers are built in and never registered by default: [`provider::Env`]
//! (`env://NAME`) and [`provider::Files`] (`file://RELATIVE/PATH`, confined to one
//! directory). A vault file may come from someone else, and its links choose what is read:
//! a default `env://` or `file://` provider would let them send the process's variables or
//! local files to an allowed domain of their author's choosing. Add them to vaults whose
//! links you write yourself.
//!
//! # Cache control
//!
//! Linked values are cached for a TTL ([`VaultBuilder::cache_ttl`], one hour unless set).
//! [`Vault::refresh`] fetches one now, [`Vault::invalidate`] and [`Vault::clear_cache`]
//! forget one or all of them, and [`VaultBuilder::refresh_ahead`] refetches values in the
//! background before they expire, so that a long-running service never waits for its secret
//! manager after the first fetch. [`Vault::resolve_reference`] reads a reference without
//! naming a secret.
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
//! pass (feature `conformance`). [`Vault::link`] picks the provider by the reference's URI
//! scheme; several providers of one kind (two accounts, each built with its own `.id(..)`)
//! are told apart by id with [`Vault::link_with`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate docs link to every feature's items; a build that leaves some out has no target.
#![cfg_attr(
    not(all(
        feature = "onepassword",
        feature = "file",
        feature = "conformance",
        feature = "middleware",
        feature = "tracing"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

mod builder;
mod cache;
mod domain;
mod env;
mod error;
mod escape;
mod info;
mod link;
mod name;
mod name_index;
pub mod provider;
mod redact;
mod refresh;
mod registry;
mod request;
mod resolve;
mod resolver;
mod send;
mod template;
mod template_cache;
mod vault;
mod watch;

#[cfg(feature = "file")]
mod document;
#[cfg(feature = "file")]
mod exchange;
#[cfg(feature = "file")]
mod key;
#[cfg(feature = "file")]
mod persist;
#[cfg(feature = "file")]
mod store;

#[cfg(feature = "onepassword")]
#[cfg_attr(docsrs, doc(cfg(feature = "onepassword")))]
pub mod onepassword;

#[cfg(feature = "aws")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws")))]
pub mod aws;
#[cfg(feature = "azure")]
#[cfg_attr(docsrs, doc(cfg(feature = "azure")))]
pub mod azure;
#[cfg(feature = "gcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "gcp")))]
pub mod gcp;
#[cfg(feature = "hashicorp")]
#[cfg_attr(docsrs, doc(cfg(feature = "hashicorp")))]
pub mod hashicorp;
#[cfg(feature = "keychain")]
#[cfg_attr(docsrs, doc(cfg(feature = "keychain")))]
pub mod keychain;
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub mod middleware;

pub use async_trait::async_trait;
#[cfg(feature = "aws")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws")))]
pub use aws::{
    AwsParameterStore, AwsParameterStoreBuilder, AwsSecretsManager, AwsSecretsManagerBuilder,
};
#[cfg(feature = "azure")]
#[cfg_attr(docsrs, doc(cfg(feature = "azure")))]
pub use azure::{AzureKeyVault, AzureKeyVaultBuilder};
pub use builder::VaultBuilder;
pub use domain::DomainPattern;
pub use error::{BoxError, Error, ErrorKind, Result};
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub use exchange::{ImportOptions, ImportReport, OnClash};
#[cfg(feature = "gcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "gcp")))]
pub use gcp::{GcpSecretManager, GcpSecretManagerBuilder};
#[cfg(feature = "hashicorp")]
#[cfg_attr(docsrs, doc(cfg(feature = "hashicorp")))]
pub use hashicorp::{HashiCorpVault, HashiCorpVaultBuilder};
pub use info::{SecretInfo, SecretKind, Staleness};
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub use key::{MIN_PASSPHRASE_LEN, VaultKey};
#[cfg(feature = "keychain")]
#[cfg_attr(docsrs, doc(cfg(feature = "keychain")))]
pub use keychain::{Keychain, KeychainBuilder};
pub use name::{MAX_NAME_LEN, SecretName};
#[cfg(feature = "onepassword")]
#[cfg_attr(docsrs, doc(cfg(feature = "onepassword")))]
pub use onepassword::{OnePassword, OnePasswordBuilder, SecretReference};
pub use provider::{ExternalProvider, ProviderContext, ProviderError, ProviderErrorKind, Resolved};
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use redact::RedactingMakeWriter;
pub use redact::{RedactingWriter, Redactor};
pub use request::RequestTemplate;
/// The [`reqwest`](https://docs.rs/reqwest) this crate is built with: the client, requests
/// and methods that [`Vault::render_request`], [`Vault::send`], [`RequestTemplate`] and
/// [`VaultBuilder::client`] take and give are its types. Use it to build them without
/// matching reqwest's version by hand.
///
/// ```
/// use request_vault::{reqwest, RequestTemplate, Vault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = reqwest::Client::builder()
///     .redirect(reqwest::redirect::Policy::none())
///     .build()?;
/// let vault = Vault::builder().client(client.clone()).build();
/// vault.set("token", "t0k3n")?;
/// let template = RequestTemplate::new(reqwest::Method::GET, "https://api.example.com/")
///     .bearer_auth("<<vault:token>>");
/// let request: reqwest::Request = vault.render_request(&client, &template).await?;
/// assert!(request.headers().contains_key(reqwest::header::AUTHORIZATION));
/// # Ok(()) }
/// ```
pub use reqwest;
pub use secrecy::{ExposeSecret, SecretBox, SecretString};
pub use send::MAX_REDIRECTS;
pub use template::Template;
pub use vault::{DEFAULT_CACHE_TTL, Vault};

/// The README's examples, run as doc tests so that they stay true.
#[cfg(all(doctest, feature = "onepassword", feature = "file"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
