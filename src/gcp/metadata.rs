//! The metadata server of Compute Engine, GKE, Cloud Run and Cloud Functions:
//! `GET http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token`
//! with `Metadata-Flavor: Google` (without it the server answers 403), answering
//! `{"access_token", "expires_in", "token_type"}`. `GCE_METADATA_HOST` names another host
//! (`host[:port]`), as Google's libraries read it. Requests go through the door's metadata
//! options: short timeouts and no proxy, so that a host off Google Cloud fails fast.

use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use crate::provider::http::{Outgoing, is_transient_status};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::PROVIDER_ID;
use super::oauth::{target, token_of};
use super::token::{AccessToken, TokenContext};

/// The metadata server's host name on Google Cloud.
pub(crate) const DEFAULT_HOST: &str = "metadata.google.internal";

/// The path of the default service account's token.
const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

/// The metadata server of this host.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) url: Url,
}

impl Metadata {
    /// The token URL on `host` (`host[:port]`, no scheme, as `GCE_METADATA_HOST` holds it).
    ///
    /// # Errors
    ///
    /// `Configuration` when `host` is not a host name or address with an optional port.
    pub(crate) fn on(host: &str) -> Result<Metadata, ProviderError> {
        let host = host.trim();
        let url = Url::parse(&format!("http://{host}{TOKEN_PATH}"))
            .ok()
            .filter(|url| url.host_str().is_some_and(|h| !h.is_empty()) && url.path() == TOKEN_PATH)
            .filter(|url| url.username().is_empty() && url.password().is_none())
            .ok_or_else(|| {
                ProviderError::new(
                    PROVIDER_ID,
                    ProviderErrorKind::Configuration,
                    format!(
                        "`{host}` is not a metadata server host: write `host` or `host:port` \
                         (GCE_METADATA_HOST)"
                    ),
                )
            })?;
        Ok(Metadata { url })
    }

    /// The default service account's token.
    ///
    /// # Errors
    ///
    /// `Unavailable` or `Timeout` off Google Cloud (nothing answers), the server's refusal
    /// otherwise (a 404 when the instance has no service account).
    pub(crate) async fn token(&self, context: &TokenContext) -> Result<AccessToken, ProviderError> {
        let request = Outgoing::get(
            self.url.clone(),
            format!("the metadata server at {}", target(&self.url)),
        )
        .header(
            HeaderName::from_static("metadata-flavor"),
            HeaderValue::from_static("Google"),
        );
        let who = format!("The metadata server at {}", target(&self.url));
        let reply = context
            .metadata
            .call(&request, |reply| {
                is_transient_status(reply.status)
                    .then(|| super::error::token_endpoint(reply, &who))
            })
            .await
            .map_err(|e| {
                let hint = "; is this a Google Cloud host? Elsewhere, set GOOGLE_APPLICATION_CREDENTIALS \
                            or run `gcloud auth application-default login`";
                ProviderError::new(PROVIDER_ID, e.kind(), format!("{}{hint}", e.message()))
                    .with_source(e)
            })?;
        let token = token_of(&reply, &who)?;
        context.obtained(&token.token);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_as_google_libraries_read_them() {
        assert_eq!(
            Metadata::on(DEFAULT_HOST).unwrap().url.as_str(),
            "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
        );
        assert_eq!(
            Metadata::on("127.0.0.1:8080").unwrap().url.as_str(),
            "http://127.0.0.1:8080/computeMetadata/v1/instance/service-accounts/default/token"
        );
        for bad in ["", "http://x", "a/b", "user@host", "a b"] {
            assert!(Metadata::on(bad).is_err(), "{bad}");
        }
    }
}
