//! [`GcpSecretManagerBuilder`]: the settings of a [`GcpSecretManager`] (HTTP client,
//! retries, concurrency, endpoint, quota project) and the methods that end it by picking a
//! credential.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use url::Url;

use crate::Error;
use crate::provider::{HttpOptions, ProviderError, RetryPolicy, setting};

use super::adc::{self, Found};
use super::client::Client;
use super::credential::{self, Credential, KeyFile, configuration};
use super::error::PROVIDER_ID;
use super::gcloud::Gcloud;
use super::metadata::Metadata;
use super::secret_manager::GcpSecretManager;
use super::token::{TokenCache, TokenContext};

/// How many secret versions a batch accesses at once unless configured.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Settings for a [`GcpSecretManager`]; end with the method that picks the credential
/// ([`service_account_key`](Self::service_account_key),
/// [`authorized_user`](Self::authorized_user), [`external_account`](Self::external_account),
/// [`credentials_json`](Self::credentials_json), [`metadata_server`](Self::metadata_server),
/// [`gcloud`](Self::gcloud) or [`from_env`](Self::from_env)).
///
/// ```
/// use std::time::Duration;
/// use request_vault::GcpSecretManager;
/// use request_vault::provider::RetryPolicy;
///
/// let provider = GcpSecretManager::builder()
///     .id("gcp-prod")
///     .timeout(Duration::from_secs(10))
///     .retry(RetryPolicy::default().max_attempts(3))
///     .concurrency(8)
///     .metadata_server()?;
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct GcpSecretManagerBuilder {
    id: String,
    http: HttpOptions,
    retry: RetryPolicy,
    concurrency: usize,
    endpoint: Option<String>,
    quota_project: Option<String>,
    gcloud_path: Option<PathBuf>,
    command_timeout: Duration,
}

impl std::fmt::Debug for GcpSecretManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpSecretManagerBuilder")
            .field("id", &self.id)
            .field("http", &self.http)
            .field("concurrency", &self.concurrency)
            .field("endpoint", &self.endpoint)
            .field("quota_project", &self.quota_project)
            .finish_non_exhaustive()
    }
}

impl Default for GcpSecretManagerBuilder {
    fn default() -> Self {
        GcpSecretManagerBuilder {
            id: PROVIDER_ID.to_owned(),
            http: HttpOptions::new(),
            retry: RetryPolicy::default(),
            concurrency: DEFAULT_CONCURRENCY,
            endpoint: None,
            quota_project: None,
            gcloud_path: None,
            command_timeout: Duration::from_secs(30),
        }
    }
}

impl GcpSecretManagerBuilder {
    /// The provider's id ([`ExternalProvider::id`](crate::ExternalProvider::id)), `"gcp"`
    /// unless set: give each of several Google accounts its own.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The HTTP client for every request (TLS roots, proxies, DNS overrides; its own
    /// timeouts then apply). Build it with `redirect::Policy::none()`, or start from
    /// [`HttpOptions::client_builder`].
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.http = self.http.client(client);
        self
    }

    /// The longest one request (or one `gcloud` run) may take. Default 30 s; the
    /// metadata server gets at most 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self.command_timeout = timeout;
        self
    }

    /// The longest connecting may take. Default 10 s; the metadata server gets at most 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.connect_timeout(timeout);
        self
    }

    /// The most an answer may hold ([`MAX_RESPONSE_BYTES`](crate::provider::MAX_RESPONSE_BYTES)
    /// unless set; a secret's payload is at most 64 KiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.http = self.http.max_response_bytes(bytes);
        self
    }

    /// How transient failures (timeouts, dropped connections, 429 `RESOURCE_EXHAUSTED`,
    /// 503 `UNAVAILABLE`, other 5xx) are retried; its `max_elapsed` bounds a token fetch
    /// and an access together.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How many secret versions a batch accesses at once ([`DEFAULT_CONCURRENCY`] unless
    /// set; at least 1).
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Reaches Secret Manager at `base_url` for every secret, global or regional, instead
    /// of `https://secretmanager.googleapis.com` and
    /// `https://secretmanager.LOCATION.rep.googleapis.com`: a Private Service Connect
    /// endpoint, say. It must be `https://`, except on a loopback address (a local test
    /// server), since the token travels over it.
    pub fn endpoint(mut self, base_url: impl Into<String>) -> Self {
        self.endpoint = Some(base_url.into());
        self
    }

    /// The project billed for quota (`x-goog-user-project`); a credential file's
    /// `quota_project_id` is used unless this is set.
    pub fn quota_project(mut self, project: impl Into<String>) -> Self {
        self.quota_project = Some(project.into());
        self
    }

    /// Where the Google Cloud CLI is, when `gcloud` is not on `PATH`.
    pub fn gcloud_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.gcloud_path = Some(path.into());
        self
    }

    /// Signs in as the service account whose key file's text is `json` (`"type":
    /// "service_account"`): a JWT signed with its key is exchanged at its `token_uri`.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`](crate::ProviderErrorKind::Configuration)
    /// when `json` is not a service account key (its text is never quoted), the key is not
    /// an RSA private key, or a setting is invalid.
    pub fn service_account_key(self, json: &str) -> Result<GcpSecretManager, Error> {
        let file = credential::from_json(json, Some("service_account"))?;
        self.build_file(file)
    }

    /// Signs in as the user whose credentials' text is `json` (`"type": "authorized_user"`,
    /// as `gcloud auth application-default login` writes them).
    ///
    /// # Errors
    ///
    /// As [`service_account_key`](Self::service_account_key).
    pub fn authorized_user(self, json: &str) -> Result<GcpSecretManager, Error> {
        let file = credential::from_json(json, Some("authorized_user"))?;
        self.build_file(file)
    }

    /// Signs in with workload identity federation, configured by `json` (`"type":
    /// "external_account"`, as `gcloud iam workload-identity-pools create-cred-config`
    /// writes it): a subject token from a file or URL is exchanged at STS, then for a
    /// service account's token when the configuration names one.
    ///
    /// # Errors
    ///
    /// As [`service_account_key`](Self::service_account_key); an AWS- or
    /// executable-sourced configuration is refused, naming the file-sourced alternative.
    pub fn external_account(self, json: &str) -> Result<GcpSecretManager, Error> {
        let file = credential::from_json(json, Some("external_account"))?;
        self.build_file(file)
    }

    /// Signs in with a credential file of any type Application Default Credentials reads
    /// (the three above, and `impersonated_service_account`).
    ///
    /// # Errors
    ///
    /// As [`service_account_key`](Self::service_account_key).
    pub fn credentials_json(self, json: &str) -> Result<GcpSecretManager, Error> {
        let file = credential::from_json(json, None)?;
        self.build_file(file)
    }

    /// Signs in as the host's service account, through the metadata server
    /// (`metadata.google.internal`, or `GCE_METADATA_HOST` as Google's libraries read it):
    /// Compute Engine, GKE, Cloud Run, Cloud Functions.
    ///
    /// # Errors
    ///
    /// As [`service_account_key`](Self::service_account_key), when `GCE_METADATA_HOST` is
    /// not a `host[:port]`.
    pub fn metadata_server(self) -> Result<GcpSecretManager, Error> {
        let host = adc::metadata_host(&setting::var);
        let metadata = Metadata::on(&host)?;
        self.build(Credential::Metadata(metadata), None, None)
    }

    /// Signs in as the Google Cloud CLI's account (`gcloud auth print-access-token`, run
    /// within the timeout). A missing `gcloud` is reported when a token is first needed.
    ///
    /// # Errors
    ///
    /// As [`service_account_key`](Self::service_account_key), for the settings.
    pub fn gcloud(self) -> Result<GcpSecretManager, Error> {
        let program = self
            .gcloud_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("gcloud"));
        self.build(Credential::Gcloud(Gcloud { program }), None, None)
    }

    /// Signs in with Application Default Credentials; see [`GcpSecretManager::from_env`].
    ///
    /// # Errors
    ///
    /// As [`GcpSecretManager::from_env`].
    pub fn from_env(self) -> Result<GcpSecretManager, Error> {
        match adc::find(&setting::var)? {
            Found::File { path, text } => {
                let file = credential::from_json(secrecy::ExposeSecret::expose_secret(&text), None)
                    .map_err(|e| configuration(format!("{} ({})", e.message(), path.display())))?;
                self.build_file(file)
            }
            Found::Metadata { host } => {
                let metadata = Metadata::on(&host)?;
                self.build(Credential::Metadata(metadata), None, None)
            }
        }
    }

    fn build_file(self, file: KeyFile) -> Result<GcpSecretManager, Error> {
        self.build(file.credential, file.quota_project, file.private_key)
    }

    fn build(
        self,
        credential: Credential,
        file_quota_project: Option<String>,
        private_key: Option<secrecy::SecretString>,
    ) -> Result<GcpSecretManager, Error> {
        let endpoint = self.endpoint.as_deref().map(endpoint_url).transpose()?;
        let quota_project = self
            .quota_project
            .or(file_quota_project)
            .map(|project| {
                HeaderValue::from_str(project.trim())
                    .map_err(|_| configuration(format!("`{project}` is not a project ID")))
            })
            .transpose()?;
        let http = Arc::new(self.http.build(PROVIDER_ID, self.retry)?);
        let metadata = Arc::new(self.http.metadata().build(PROVIDER_ID, self.retry)?);
        let context = TokenContext {
            http: Arc::clone(&http),
            metadata,
            command_timeout: self.command_timeout,
        };
        credential.register(&context);
        if let Some(key) = &private_key {
            context.holds(key);
        }
        let client = Client {
            http,
            context,
            credential,
            tokens: TokenCache::default(),
            endpoint,
            quota_project,
            retry: self.retry,
        };
        Ok(GcpSecretManager {
            id: self.id,
            client: Arc::new(client),
            concurrency: self.concurrency,
        })
    }
}

/// The builder's endpoint: `https://`, or `http://` on a loopback address.
fn endpoint_url(text: &str) -> Result<Url, ProviderError> {
    let mut url = Url::parse(text.trim())
        .map_err(|_| configuration(format!("the endpoint `{text}` is not a URL")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() || url.query().is_some()
    {
        return Err(configuration(format!(
            "the endpoint `{}` must be an https:// URL (http:// only on a loopback address) \
             without credentials or query, since tokens travel over it",
            url.origin().ascii_serialization()
        )));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_unless_on_loopback() {
        assert_eq!(
            endpoint_url("https://secretmanager-psc.p.googleapis.com")
                .unwrap()
                .as_str(),
            "https://secretmanager-psc.p.googleapis.com/"
        );
        assert!(endpoint_url("http://127.0.0.1:8080").is_ok());
        assert!(endpoint_url("http://[::1]:8080/base").is_ok());
        assert!(endpoint_url("http://secretmanager.googleapis.com").is_err());
        assert!(endpoint_url("https://user:pw@example.com").is_err());
        assert!(endpoint_url("not a url").is_err());
    }
}
