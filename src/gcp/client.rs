//! [`Client`]: the provider's HTTP client for Secret Manager. It holds the credential and
//! its one cached token, builds the access URL of a version (global or regional endpoint, or
//! the builder's own), and makes the authorized call: the token is fetched before the
//! retried request (never inside it), a 401 renews it once, and the token fetch and the
//! access share one deadline.

use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use secrecy::SecretString;
use url::Url;

use crate::provider::http::{Http, Outgoing, Reply, is_transient_status};
use crate::provider::{ProviderError, ProviderErrorKind, RetryPolicy};

use super::credential::Credential;
use super::error::{self, PROVIDER_ID};
use super::reference::VersionKey;
use super::token::{TokenCache, TokenContext};

/// The global Secret Manager endpoint.
pub(crate) const GLOBAL_ENDPOINT: &str = "https://secretmanager.googleapis.com/";

/// The header that names the project billed for quota (`quota_project_id`).
const USER_PROJECT: &str = "x-goog-user-project";

/// The authorized Secret Manager client.
pub(crate) struct Client {
    pub(crate) http: Arc<Http>,
    pub(crate) context: TokenContext,
    pub(crate) credential: Credential,
    pub(crate) tokens: TokenCache,
    /// The builder's endpoint, used for every secret, global or regional.
    pub(crate) endpoint: Option<Url>,
    pub(crate) quota_project: Option<HeaderValue>,
    pub(crate) retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("signs_in_with", &self.credential.kind())
            .field("credential", &self.credential)
            .field("endpoint", &self.endpoint.as_ref().map(Url::as_str))
            .field("quota_project", &self.quota_project)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The kept token, or a new one.
    ///
    /// # Errors
    ///
    /// The credential's error.
    pub(crate) async fn token(&self) -> Result<SecretString, ProviderError> {
        self.tokens
            .get(|| self.credential.token(&self.context))
            .await
    }

    /// The answer to `GET …/v1/{name}:access` for `key`, whatever its status (a refused
    /// token is renewed once first).
    ///
    /// # Errors
    ///
    /// A token that cannot be had, a transport failure, or a transient answer that outlived
    /// the retries.
    pub(crate) async fn access(&self, key: &VersionKey) -> Result<Reply, ProviderError> {
        self.retry
            .bounded(async {
                let token = self.token().await?;
                let reply = self.send(key, &token).await?;
                if reply.status.as_u16() != 401 {
                    return Ok(reply);
                }
                self.tokens.forget(&token).await;
                let token = self.token().await?;
                self.send(key, &token).await
            })
            .await
    }

    async fn send(&self, key: &VersionKey, token: &SecretString) -> Result<Reply, ProviderError> {
        let url = self.url(key)?;
        let mut request =
            Outgoing::get(url.clone(), self.target(&url)).bearer(PROVIDER_ID, token)?;
        if let Some(project) = &self.quota_project {
            request = request.header(HeaderName::from_static(USER_PROJECT), project.clone());
        }
        let what = what(key);
        self.http
            .call(&request, |reply| {
                is_transient_status(reply.status).then(|| error::secret_manager(reply, &what))
            })
            .await
    }

    /// The access URL of `key`.
    fn url(&self, key: &VersionKey) -> Result<Url, ProviderError> {
        let base = match (&self.endpoint, &key.location) {
            (Some(endpoint), _) => endpoint.clone(),
            (None, Some(location)) => Url::parse(&format!(
                "https://secretmanager.{location}.rep.googleapis.com/"
            ))
            .map_err(|_| {
                ProviderError::new(
                    PROVIDER_ID,
                    ProviderErrorKind::InvalidReference,
                    format!("`{location}` does not make a regional endpoint"),
                )
            })?,
            (None, None) => Url::parse(GLOBAL_ENDPOINT).map_err(|_| {
                ProviderError::new(
                    PROVIDER_ID,
                    ProviderErrorKind::Configuration,
                    "bad endpoint",
                )
            })?,
        };
        let mut url = base;
        let path = format!("{}v1/{}:access", url.path(), key.name());
        url.set_path(&path);
        Ok(url)
    }

    fn target(&self, url: &Url) -> String {
        format!("Secret Manager at {}", url.origin().ascii_serialization())
    }
}

/// How errors name a version: ``secret version `projects/p/secrets/s/versions/latest` ``.
pub(crate) fn what(key: &VersionKey) -> String {
    format!("secret version `{}`", key.name())
}
