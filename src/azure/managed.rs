//! Managed identity tokens: the Instance Metadata Service on Azure VMs
//! (`GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…` with
//! `Metadata: true`) and App Service / Functions (`GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=…`
//! with `X-IDENTITY-HEADER: $IDENTITY_HEADER`), for the system-assigned identity or a
//! user-assigned one by client ID.
//!
//! Both answer `{"access_token": …, "expires_in": "3599", "expires_on": "1700000000", …}`
//! (numbers as strings). IMDS answers 404 and 410 while it is updating and 429 when
//! throttled: those are retried; a 400 (`Identity not found`) is a configuration problem.
//!
//! These endpoints are always reached with the metadata client the crate builds (see
//! [`TokenContext::metadata`]), never a caller's: the identity header is a custom header,
//! which a client that follows redirects would carry to wherever a redirect points.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::provider::http::{Outgoing, Reply, sensitive_header};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::{PROVIDER_ID, configuration, empty_token, managed_failure, managed_transient};
use super::token::{AccessToken, TokenContext, TokenSource};
use super::wire::TokenBody;

const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

/// How long a chain waits for IMDS before deciding it is not on an Azure host.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a managed identity's tokens come from.
#[derive(Clone)]
pub(crate) enum ManagedSource {
    /// The VM's Instance Metadata Service (the endpoint is a setting).
    Imds,
    /// App Service / Functions: `IDENTITY_ENDPOINT` with the `IDENTITY_HEADER` secret.
    AppService { endpoint: Url, header: SecretString },
}

impl ManagedSource {
    /// App Service's endpoint when both of its variables are set (read through `var`),
    /// else IMDS.
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::Configuration`] when `IDENTITY_ENDPOINT` is not a URL.
    pub(crate) fn from_env(
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ManagedSource, ProviderError> {
        match (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => ManagedSource::app_service(&endpoint, header.into()),
            _ => Ok(ManagedSource::Imds),
        }
    }

    /// An App Service–style endpoint and its header.
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::Configuration`] when `endpoint` is not an http(s) URL.
    pub(crate) fn app_service(
        endpoint: &str,
        header: SecretString,
    ) -> Result<ManagedSource, ProviderError> {
        let endpoint = Url::parse(endpoint)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| {
                configuration("the managed identity endpoint (IDENTITY_ENDPOINT) is not a URL")
            })?;
        Ok(ManagedSource::AppService { endpoint, header })
    }
}

/// A managed identity, system-assigned or user-assigned (by client ID).
pub(crate) struct ManagedIdentity {
    source: ManagedSource,
    client_id: Option<String>,
}

impl ManagedIdentity {
    /// The identity `client_id` (the system-assigned one when `None`) from `source`.
    pub(crate) fn new(source: ManagedSource, client_id: Option<String>) -> Self {
        ManagedIdentity { source, client_id }
    }

    /// Whether this is an App Service identity (which `from_env` uses alone, unchained).
    pub(crate) fn is_app_service(&self) -> bool {
        matches!(self.source, ManagedSource::AppService { .. })
    }

    /// The token request for `scope` and what it is sent to.
    fn request(&self, context: &TokenContext, scope: &str) -> Result<Outgoing, ProviderError> {
        // Managed identity endpoints take a resource, not a scope.
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        let (mut url, version) = match &self.source {
            ManagedSource::Imds => (context.imds_endpoint.clone(), IMDS_API_VERSION),
            ManagedSource::AppService { endpoint, .. } => {
                (endpoint.clone(), APP_SERVICE_API_VERSION)
            }
        };
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("api-version", version);
            query.append_pair("resource", resource);
            if let Some(client_id) = &self.client_id {
                query.append_pair("client_id", client_id);
            }
        }
        let request = Outgoing::get(url, self.target());
        Ok(match &self.source {
            ManagedSource::Imds => request.header(
                HeaderName::from_static("metadata"),
                HeaderValue::from_static("true"),
            ),
            ManagedSource::AppService { header, .. } => {
                let value = sensitive_header(header.expose_secret()).ok_or_else(|| {
                    configuration("IDENTITY_HEADER cannot be sent as a header value")
                })?;
                request.header(HeaderName::from_static("x-identity-header"), value)
            }
        })
    }

    fn target(&self) -> &'static str {
        match self.source {
            ManagedSource::Imds => "the managed identity endpoint (IMDS)",
            ManagedSource::AppService { .. } => "the managed identity endpoint (IDENTITY_ENDPOINT)",
        }
    }

    fn read(&self, reply: &Reply) -> Result<AccessToken, ProviderError> {
        if !reply.is_success() {
            return Err(managed_failure(
                reply,
                self.target(),
                self.client_id.as_deref(),
            ));
        }
        reply
            .json::<TokenBody>(PROVIDER_ID, "a managed identity token")?
            .into_token()
            .ok_or_else(|| empty_token(self.target()))
    }
}

#[async_trait]
impl TokenSource for ManagedIdentity {
    fn kind(&self) -> &'static str {
        match self.source {
            ManagedSource::Imds => "managed identity (IMDS)",
            ManagedSource::AppService { .. } => "managed identity (App Service)",
        }
    }

    fn chooses_tenant(&self) -> bool {
        false
    }

    fn held_credentials(&self) -> Vec<&SecretString> {
        match &self.source {
            ManagedSource::Imds => Vec::new(),
            ManagedSource::AppService { header, .. } => vec![header],
        }
    }

    async fn token(
        &self,
        context: &TokenContext,
        _tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError> {
        let request = self.request(context, scope)?;
        let client_id = self.client_id.as_deref();
        let reply = context
            .metadata
            .call(&request, |reply| {
                managed_transient(reply).then(|| managed_failure(reply, self.target(), client_id))
            })
            .await?;
        self.read(&reply)
    }

    /// IMDS tried once, briefly, so that a host without it (a laptop) falls through the
    /// chain quickly; App Service as usual.
    async fn probe(
        &self,
        context: &TokenContext,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError> {
        if self.is_app_service() {
            return self.token(context, tenant, scope).await;
        }
        let request = self.request(context, scope)?;
        let reply = tokio::time::timeout(PROBE_TIMEOUT, context.metadata.send(&request))
            .await
            .map_err(|_| {
                ProviderError::new(
                    PROVIDER_ID,
                    ProviderErrorKind::Timeout,
                    format!("the request to {} timed out", self.target()),
                )
            })??;
        self.read(&reply)
    }
}

impl fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("ManagedIdentity");
        match &self.source {
            ManagedSource::Imds => out.field("source", &"imds"),
            ManagedSource::AppService { endpoint, .. } => out
                .field("source", &"app service")
                .field("endpoint", &endpoint.as_str()),
        };
        out.field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_service_needs_both_variables_and_a_url() {
        let vars = |endpoint: Option<&'static str>, header: Option<&'static str>| {
            move |name: &str| match name {
                "IDENTITY_ENDPOINT" => endpoint.map(str::to_owned),
                "IDENTITY_HEADER" => header.map(str::to_owned),
                _ => None,
            }
        };
        let app = ManagedSource::from_env(&vars(Some("http://127.0.0.1:41/msi/token"), Some("h")));
        assert!(matches!(app, Ok(ManagedSource::AppService { .. })));
        let imds = ManagedSource::from_env(&vars(Some("http://127.0.0.1:41/msi/token"), None));
        assert!(matches!(imds, Ok(ManagedSource::Imds)));
        let bad = ManagedSource::from_env(&vars(Some("not a url"), Some("h")));
        assert_eq!(
            bad.err().map(|e| e.kind()),
            Some(ProviderErrorKind::Configuration)
        );
    }

    #[test]
    fn the_identity_header_is_held_and_never_shown() {
        let source =
            ManagedSource::app_service("http://127.0.0.1:41/msi/token", "header-planted".into())
                .unwrap();
        let identity = ManagedIdentity::new(source, Some("user".into()));
        assert_eq!(identity.held_credentials().len(), 1);
        assert!(!identity.chooses_tenant());
        let shown = format!("{identity:?}");
        assert!(
            !shown.contains("header-planted") && shown.contains("user"),
            "{shown}"
        );
    }
}
