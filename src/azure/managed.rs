//! Managed identity tokens: the Instance Metadata Service on Azure VMs
//! (`GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…` with
//! `Metadata: true`) and App Service / Functions (`GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=…`
//! with `X-IDENTITY-HEADER: $IDENTITY_HEADER`), for the system-assigned identity or a
//! user-assigned one by client ID.
//!
//! Both answer `{"access_token": …, "expires_in": "3599", "expires_on": "1700000000", …}`
//! (numbers as strings). IMDS answers 404 and 410 while it is updating and 429 when
//! throttled: those are retried; a 400 (`Identity not found`) is a configuration problem.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;

use reqwest::header::{HeaderName, HeaderValue};

use crate::provider::http::{Outgoing, Reply, sensitive_header, status_kind};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::PROVIDER_ID;
use super::credential::{AccessToken, Endpoints, ManagedSource};
use super::entra::TokenBody;

const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: String,
}

/// A token for `scope` from the managed identity endpoint. `timeout` bounds each request
/// (the chain's probe).
pub(crate) async fn token(
    endpoints: &Endpoints,
    source: &ManagedSource,
    client_id: Option<&str>,
    scope: &str,
    timeout: Option<Duration>,
) -> Result<AccessToken, ProviderError> {
    // Managed identity endpoints take a resource, not a scope.
    let resource = scope.strip_suffix("/.default").unwrap_or(scope);
    let (mut url, target) = match source {
        ManagedSource::Imds => (
            endpoints.imds_endpoint.clone(),
            "the managed identity endpoint (IMDS)",
        ),
        ManagedSource::AppService { endpoint, .. } => (
            endpoint.clone(),
            "the managed identity endpoint (IDENTITY_ENDPOINT)",
        ),
    };
    {
        let mut query = url.query_pairs_mut();
        let version = match source {
            ManagedSource::Imds => IMDS_API_VERSION,
            ManagedSource::AppService { .. } => APP_SERVICE_API_VERSION,
        };
        query.append_pair("api-version", version);
        query.append_pair("resource", resource);
        if let Some(client_id) = client_id {
            query.append_pair("client_id", client_id);
        }
    }
    let reply = endpoints
        .retry
        .run(|| async {
            let request = Outgoing::get(url.clone(), target);
            let request = match source {
                ManagedSource::Imds => request.header(
                    HeaderName::from_static("metadata"),
                    HeaderValue::from_static("true"),
                ),
                ManagedSource::AppService { header, .. } => {
                    let value = sensitive_header(header.expose_secret()).ok_or_else(|| {
                        ProviderError::new(
                            PROVIDER_ID,
                            ProviderErrorKind::Configuration,
                            "IDENTITY_HEADER cannot be sent as a header value",
                        )
                    })?;
                    request.header(HeaderName::from_static("x-identity-header"), value)
                }
            };
            let reply = match timeout {
                Some(timeout) => tokio::time::timeout(timeout, endpoints.http.send(&request))
                    .await
                    .map_err(|_| {
                        ProviderError::new(
                            PROVIDER_ID,
                            ProviderErrorKind::Timeout,
                            format!("the request to {target} timed out"),
                        )
                    })??,
                None => endpoints.http.send(&request).await?,
            };
            if matches!(reply.status.as_u16(), 404 | 410 | 429 | 500..=599) {
                return Err(failure(&reply, target, client_id));
            }
            Ok(reply)
        })
        .await?;
    if !reply.is_success() {
        return Err(failure(&reply, target, client_id));
    }
    reply
        .json::<TokenBody>(PROVIDER_ID, "a managed identity token")?
        .into_token()
}

fn failure(reply: &Reply, target: &str, client_id: Option<&str>) -> ProviderError {
    let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    let status = reply.status.as_u16();
    let kind = match status {
        400 => ProviderErrorKind::Configuration,
        404 | 410 => ProviderErrorKind::Unavailable,
        _ => status_kind(reply.status),
    };
    let identity = match client_id {
        Some(id) => format!("the user-assigned identity `{id}`"),
        None => "the system-assigned identity".to_owned(),
    };
    let code = if body.error.is_empty() {
        String::new()
    } else {
        format!(": {}", body.error)
    };
    let hint = if status == 400 {
        " (is a managed identity assigned to this host, and is the client ID right?)"
    } else {
        ""
    };
    reply.error_of_kind(
        PROVIDER_ID,
        kind,
        &format!("{target} gave no token for {identity}{code}{hint}"),
    )
}
