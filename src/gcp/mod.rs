//! Google Cloud Secret Manager: the [`GcpSecretManager`] provider for
//! `gcpsecrets://PROJECT/SECRET[?version=V][#KEY]` references, signed in with Application
//! Default Credentials.
//!
//! ```no_run
//! use request_vault::{GcpSecretManager, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! // GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, or the metadata server.
//! vault.add_provider(GcpSecretManager::from_env()?);
//! vault.link("db", "gcpsecrets://my-project/db-credentials#password")?; // checked offline
//! vault.link("eu", "gcpsecrets://my-project/api-key?version=3&location=europe-west1")?;
//! let password = vault.resolve("db").await?;
//! # Ok(()) }
//! ```
//!
//! `PROJECT` is a project ID or number; `SECRET` a secret ID; `?version=` a version number
//! or alias (`latest` by default); `?location=` a region, whose regional endpoint
//! (`secretmanager.LOCATION.rep.googleapis.com`) serves the regional secret; `#KEY` or
//! `#/a/b` picks a field of a JSON value. A `ref+` prefix, as `vals` writes it, is
//! accepted.
//!
//! Each access is `GET https://secretmanager.googleapis.com/v1/projects/P/secrets/S/versions/V:access`
//! with an OAuth 2.0 bearer token; the answer's `dataCrc32c` is checked, and a payload that
//! does not match it is refused as corrupt. A batch accesses each distinct version once, up
//! to [`DEFAULT_CONCURRENCY`] at a time.
//!
//! # Why not Google's crates
//!
//! `google-cloud-secretmanager-v1` and `google-cloud-auth` (the official crates) bring gRPC
//! and REST stacks, `google-cloud-gax`, `prost`-generated types, `time`, `rand` and more:
//! far past the five crates this feature may add. One REST call (`versions.access`) and
//! four token exchanges (OAuth 2.0 JWT bearer and refresh token grants, STS, IAM
//! Credentials) are spoken directly over the crate's reqwest client and the provider door,
//! which also gives every request the door's policy (no redirects, capped answers,
//! scrubbed errors, one deadline). The service account's RS256 signature uses aws-lc-rs,
//! which rustls already brings: the feature adds no crate at all.

mod access;
mod adc;
mod builder;
mod client;
mod crc32c;
mod credential;
mod error;
mod external;
mod gcloud;
mod impersonate;
mod jwt;
mod metadata;
mod oauth;
mod reference;
mod service_account;
mod token;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

pub use builder::GcpSecretManagerBuilder;
pub use reference::SCHEME;

use crate::Error;
use crate::provider::batch;
use crate::provider::{ExternalProvider, ProviderError};

/// The id of the Secret Manager provider unless its builder gives another
/// ([`GcpSecretManagerBuilder::id`]).
pub const PROVIDER_ID: &str = "gcp";

/// How many secret versions a batch accesses at once unless configured.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Resolves `gcpsecrets://PROJECT/SECRET[?version=V][&location=L][#KEY]` references (a
/// `ref+` prefix is accepted) from Google Cloud Secret Manager. Cheap to clone; clones share
/// the credential and its token.
///
/// - References are checked offline by Google's rules for project, secret, version and
///   location names, with the byte offset of a problem.
/// - The token is kept until shortly before it expires and renewed once when Secret Manager
///   refuses it (`UNAUTHENTICATED`).
/// - A missing secret or version is [`NotFound`](crate::ProviderErrorKind::NotFound); a
///   destroyed version is `NotFound` and a disabled one
///   [`Forbidden`](crate::ProviderErrorKind::Forbidden), each saying which; missing
///   permission is `Forbidden`; `RESOURCE_EXHAUSTED` and `UNAVAILABLE` are retried, then
///   [`RateLimited`](crate::ProviderErrorKind::RateLimited) and
///   [`Unavailable`](crate::ProviderErrorKind::Unavailable). An answer whose CRC32C does
///   not match its payload, or that names another secret, is
///   [`Protocol`](crate::ProviderErrorKind::Protocol).
/// - A batch accesses each distinct secret version once, concurrently.
///
/// Build one with [`GcpSecretManager::from_env`] or [`GcpSecretManager::builder`]:
///
/// ```
/// use request_vault::GcpSecretManager;
///
/// # fn main() -> Result<(), request_vault::Error> {
/// # let key_file_text = include_str!("../../tests/fixtures/gcp/service-account.json");
/// let provider = GcpSecretManager::builder().service_account_key(key_file_text)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GcpSecretManager {
    id: String,
    client: Arc<client::Client>,
    concurrency: usize,
}

impl GcpSecretManager {
    /// A builder for a provider with other settings or an explicit credential.
    pub fn builder() -> GcpSecretManagerBuilder {
        GcpSecretManagerBuilder::default()
    }

    /// A provider signed in with Application Default Credentials, in Google's order: the
    /// credential file `GOOGLE_APPLICATION_CREDENTIALS` names (a service account key, user
    /// credentials, a workload identity federation configuration, or impersonated
    /// credentials); else gcloud's `application_default_credentials.json` (in
    /// `CLOUDSDK_CONFIG`, `~/.config/gcloud` or `%APPDATA%\gcloud`); else the metadata
    /// server (`GCE_METADATA_HOST` or `metadata.google.internal`).
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind
    /// [`Configuration`](crate::ProviderErrorKind::Configuration) when the file found cannot
    /// be read or is not a credential file this provider reads (its text is never quoted).
    /// Off Google Cloud with no file, the provider is built and its first token request
    /// says what to set.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().from_env()
    }
}

#[async_trait]
impl ExternalProvider for GcpSecretManager {
    fn id(&self) -> &str {
        &self.id
    }

    fn scheme(&self) -> &str {
        SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        reference::SecretRef::parse(reference).map(drop)
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let results = self.resolve_all(&[reference]).await;
        batch::one(results, PROVIDER_ID, reference)
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        access::resolve_all(&self.client, self.concurrency, references).await
    }

    fn clear_cache(&self) {
        self.client.tokens.clear();
    }
}

impl std::fmt::Debug for GcpSecretManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpSecretManager")
            .field("id", &self.id)
            .field("client", &self.client)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}
