//! The Microsoft Entra ID v2.0 token endpoint, client credentials grant:
//! `POST {authority}/{tenant}/oauth2/v2.0/token` with a client secret or a client assertion
//! (workload identity), and its errors (`{"error": "invalid_client", "error_codes":
//! [7000215], "error_description": "AADSTS7000215: …"}`) turned into error kinds.
//!
//! Errors name the tenant, the client ID, the OAuth error code and the `AADSTS` number; the
//! description text is left out, and the secret, the assertion and the token never appear.

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::provider::http::{Outgoing, Reply, status_kind};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::PROVIDER_ID;
use super::credential::{AccessToken, Endpoints};

/// The client assertion type for a federated token (RFC 7521).
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What proves the client's identity.
pub(crate) enum Grant {
    Secret(SecretString),
    Assertion(SecretString),
}

/// The token endpoint's success body. `expires_in` is a number in v2.0 answers and a string
/// in some older ones.
#[derive(Deserialize)]
pub(crate) struct TokenBody {
    pub(crate) access_token: Zeroizing<String>,
    #[serde(default)]
    pub(crate) expires_in: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) expires_on: Option<serde_json::Value>,
}

impl TokenBody {
    /// The token and its lifetime: `expires_in`, else `expires_on` (Unix seconds) less now,
    /// else an hour (Entra's default).
    pub(crate) fn into_token(self) -> Result<AccessToken, ProviderError> {
        if self.access_token.is_empty() {
            return Err(ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Protocol,
                "the token endpoint sent an empty access token",
            ));
        }
        let lifetime = match (
            self.expires_in.as_ref().and_then(seconds),
            self.expires_on.as_ref().and_then(seconds),
        ) {
            (Some(secs), _) => Duration::from_secs(secs),
            (None, Some(at)) => Duration::from_secs(at.saturating_sub(unix_now())),
            (None, None) => Duration::from_secs(3600),
        };
        Ok(AccessToken {
            token: SecretString::from(self.access_token.as_str()),
            lifetime,
        })
    }
}

/// A JSON number or a string of digits.
pub(crate) fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Entra's error body (RFC 6749 section 5.2 plus `error_codes`).
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// A token from the v2.0 endpoint.
pub(crate) async fn token(
    endpoints: &Endpoints,
    tenant: &str,
    client_id: &str,
    grant: Grant,
    scope: &str,
) -> Result<AccessToken, ProviderError> {
    let url = endpoints
        .authority_host
        .join(&format!("{tenant}/oauth2/v2.0/token"))
        .map_err(|_| {
            ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Configuration,
                "the authority host and tenant do not make a token URL",
            )
        })?;
    let target = format!(
        "Microsoft Entra ID at {}",
        endpoints.authority_host.as_str().trim_end_matches('/')
    );
    let reply = endpoints
        .retry
        .run(|| async {
            let body = {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("scope", scope);
                match &grant {
                    Grant::Secret(secret) => {
                        form.append_pair("client_secret", secret.expose_secret());
                    }
                    Grant::Assertion(assertion) => {
                        form.append_pair("client_assertion_type", ASSERTION_TYPE)
                            .append_pair("client_assertion", assertion.expose_secret());
                    }
                }
                Zeroizing::new(form.finish())
            };
            // A token request may run twice; its body goes nowhere but this origin.
            let request = Outgoing::post(url.clone(), target.as_str())
                .idempotent()
                .body(
                    "application/x-www-form-urlencoded",
                    Zeroizing::new(body.as_bytes().to_vec()),
                );
            let reply = endpoints.http.send(&request).await?;
            if reply.status.is_server_error() || reply.status.as_u16() == 429 {
                return Err(failure(&reply, tenant, client_id));
            }
            Ok(reply)
        })
        .await?;
    if !reply.is_success() {
        return Err(failure(&reply, tenant, client_id));
    }
    reply
        .json::<TokenBody>(PROVIDER_ID, "a token")?
        .into_token()
}

fn failure(reply: &Reply, tenant: &str, client_id: &str) -> ProviderError {
    let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    let kind = match body.error.as_str() {
        "invalid_client" | "unauthorized_client" | "invalid_grant" => {
            ProviderErrorKind::Unauthorized
        }
        "invalid_request" | "invalid_scope" if reply.status.as_u16() == 400 => {
            ProviderErrorKind::Configuration
        }
        _ => status_kind(reply.status),
    };
    let mut detail = if body.error.is_empty() {
        String::new()
    } else {
        format!(": {}", body.error)
    };
    if let Some(code) = body.error_codes.first() {
        detail.push_str(&format!(" (AADSTS{code})"));
    }
    reply.error_of_kind(
        PROVIDER_ID,
        kind,
        &format!(
            "Microsoft Entra ID refused a token for client `{client_id}` in tenant `{tenant}`{detail}"
        ),
    )
}

/// The federated token of a workload identity, read anew at each request (the kubelet
/// rotates it).
pub(crate) async fn read_assertion(path: &Path) -> Result<SecretString, ProviderError> {
    let path = path.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        std::fs::read_to_string(&path)
            .map(Zeroizing::new)
            .map_err(|e| (path, e))
    })
    .await
    .map_err(|_| {
        ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Configuration,
            "reading the federated token file was interrupted",
        )
    })?;
    match read {
        Ok(text) if !text.trim().is_empty() => Ok(SecretString::from(text.trim())),
        Ok(_) => Err(ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Configuration,
            "the federated token file (AZURE_FEDERATED_TOKEN_FILE) is empty",
        )),
        Err((path, e)) => Err(ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Configuration,
            format!(
                "cannot read the federated token file `{}` (AZURE_FEDERATED_TOKEN_FILE)",
                path.display()
            ),
        )
        .with_source(e)),
    }
}
