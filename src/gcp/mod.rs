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
mod secret_manager;
mod service_account;
mod token;
mod wire;

pub use builder::{DEFAULT_CONCURRENCY, GcpSecretManagerBuilder};
pub use error::PROVIDER_ID;
pub use reference::SCHEME;
pub use secret_manager::GcpSecretManager;

use crate::Error;

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
