//! The HTTP client the AWS SDK is given: every request of Secrets Manager, Parameter
//! Store, STS, SSO and the instance-metadata credential providers goes through the provider
//! door, so the crate's one policy holds for AWS too (no redirect followed, answers capped,
//! the call's one deadline). The credentials a signed request carries (the access key ID,
//! the session token) are registered with the scrubber as they go out, so that a server
//! echoing them finds them masked in any error.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::SecretString;
use url::{Host, Url};
use zeroize::Zeroizing;

use crate::provider::http::{Http, OnceBody, Outgoing, Scrubber};
use crate::provider::{HttpOptions, ProviderError, ProviderErrorKind, RetryPolicy};

/// Headers whose values are credentials or signatures: marked sensitive on the way out.
const SENSITIVE: &[&str] = &["authorization", "x-amz-security-token"];

/// The SDK's HTTP client over the door: one [`Http`] for AWS endpoints (the caller's client
/// when given) and one on the crate's own client, with the short metadata timeouts and no
/// proxy, for link-local credential endpoints (EC2 instance metadata, ECS and EKS container
/// credentials), whose tokens travel in headers a redirect-following client would carry
/// elsewhere.
#[derive(Clone)]
pub(crate) struct DoorClient {
    http: Arc<Http>,
    metadata: Arc<Http>,
}

impl DoorClient {
    /// The client for `provider`'s calls, per `options` and through `client` (the
    /// caller's) when given. Each call is one attempt: the provider's [`RetryPolicy`]
    /// retries whole SDK calls.
    ///
    /// # Errors
    ///
    /// A [`ProviderErrorKind::Configuration`] error when the HTTP client cannot be built.
    pub(crate) fn new(
        options: &HttpOptions,
        client: Option<reqwest::Client>,
        provider: &str,
    ) -> Result<Self, ProviderError> {
        let metadata = options.metadata().build(provider, RetryPolicy::never())?;
        let options = match client {
            Some(client) => options.clone().client(client),
            None => options.clone(),
        };
        let http = options.build(provider, RetryPolicy::never())?;
        Ok(DoorClient {
            http: Arc::new(http),
            metadata: Arc::new(metadata),
        })
    }

    /// The scrubber every error of the provider goes through.
    pub(crate) fn scrubber(&self) -> Arc<Scrubber> {
        Arc::clone(self.http.scrubber())
    }

    async fn send(&self, mut request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let url = Url::parse(request.uri()).map_err(|e| ConnectorError::user(e.into()))?;
        let method = Method::from_bytes(request.method().as_bytes())
            .map_err(|e| ConnectorError::user(e.into()))?;
        self.remember_credentials(&request);
        let target = format!("AWS at {}", url.origin().ascii_serialization());
        let http = if is_metadata(&url) {
            &self.metadata
        } else {
            &self.http
        };
        let mut outgoing = Outgoing::new(method, url, target);
        let mut content_type = None;
        for (name, value) in request.headers().iter() {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| ConnectorError::user(e.into()))?;
            let mut value =
                HeaderValue::from_str(value).map_err(|e| ConnectorError::user(e.into()))?;
            if name == CONTENT_TYPE {
                content_type = Some(value);
                continue;
            }
            value.set_sensitive(SENSITIVE.contains(&name.as_str()));
            outgoing = outgoing.header(name, value);
        }
        let body = request.take_body();
        let bytes = body.bytes().ok_or_else(|| {
            ConnectorError::user("the AWS SDK gave a streaming body, which is never sent".into())
        })?;
        if !bytes.is_empty() || content_type.is_some() {
            let content_type =
                content_type.unwrap_or(HeaderValue::from_static("application/octet-stream"));
            outgoing = outgoing.framed_body(content_type, Zeroizing::new(bytes.to_vec()));
        }
        let mut reply = http.send(&outgoing).await.map_err(connector_error)?;
        let status = StatusCode::try_from(reply.status.as_u16())
            .map_err(|e| ConnectorError::other(e.into(), None))?;
        // The answer moves into the SDK as a body it must collect, so that the response it
        // traces (`received response from service`, at TRACE level) shows `BoxBody`, not a
        // secret value.
        let body = OnceBody::owned(std::mem::take(&mut reply.body));
        let mut response = HttpResponse::new(status, SdkBody::from_body_1_x(body));
        for (name, value) in &reply.headers {
            if let Ok(value) = value.to_str() {
                let _ = response
                    .headers_mut()
                    .try_append(name.as_str().to_owned(), value.to_owned());
            }
        }
        Ok(response)
    }

    /// Registers the access key ID and session token of a signed request with the
    /// scrubber (credentials from the chain or a role are only known here).
    fn remember_credentials(&self, request: &HttpRequest) {
        let scrubber = self.http.scrubber();
        if let Some(key_id) = request
            .headers()
            .get("authorization")
            .and_then(|value| value.split("Credential=").nth(1))
            .and_then(|rest| rest.split('/').next())
        {
            scrubber.add_obtained(&SecretString::from(key_id));
        }
        if let Some(token) = request.headers().get("x-amz-security-token") {
            scrubber.add_obtained(&SecretString::from(token));
        }
    }
}

/// Whether `url` is a link-local credential endpoint: EC2 instance metadata
/// (`169.254.169.254`, `fd00:ec2::254`), ECS and EKS container credentials.
fn is_metadata(url: &Url) -> bool {
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return false,
    };
    match ip {
        IpAddr::V4(ip) => ip.is_link_local(),
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            first & 0xffc0 == 0xfe80 || (first == 0xfd00 && ip.segments()[1] == 0x0ec2)
        }
    }
}

/// The door's failure as the SDK's connector error, kept whole as its source so that the
/// provider's error mapping finds the door's own message.
fn connector_error(error: ProviderError) -> ConnectorError {
    match error.kind() {
        ProviderErrorKind::Timeout => ConnectorError::timeout(error.into()),
        ProviderErrorKind::Unavailable => ConnectorError::io(error.into()),
        _ => ConnectorError::other(error.into(), None),
    }
}

impl HttpConnector for DoorClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.clone();
        HttpConnectorFuture::new(async move { client.send(request).await })
    }
}

impl HttpClient for DoorClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl fmt::Debug for DoorClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoorClient")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_endpoints_are_metadata() {
        for (url, metadata) in [
            ("http://169.254.169.254/latest/api/token", true),
            ("http://169.254.170.2/v2/credentials/x", true),
            ("http://[fd00:ec2::254]/latest/api/token", true),
            ("http://[fe80::1]/", true),
            ("https://secretsmanager.us-east-1.amazonaws.com/", false),
            ("http://127.0.0.1:4566/", false),
            ("http://[fd00:1::1]/", false),
        ] {
            assert_eq!(is_metadata(&Url::parse(url).unwrap()), metadata, "{url}");
        }
    }

    #[test]
    fn answers_show_no_byte_when_the_sdk_traces_them() {
        let answer = b"{\"SecretString\":\"s3cr3t-v4lue\"}".to_vec();
        let body = SdkBody::from_body_1_x(OnceBody::owned(Zeroizing::new(answer)));
        let shown = format!("{body:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(body.content_length(), Some(31));
    }

    #[test]
    fn door_failures_keep_their_kind() {
        let timeout = connector_error(ProviderError::new(
            "aws",
            ProviderErrorKind::Timeout,
            "slow",
        ));
        assert!(timeout.is_timeout());
        let io = connector_error(ProviderError::new(
            "aws",
            ProviderErrorKind::Unavailable,
            "down",
        ));
        assert!(io.is_io());
        let other = connector_error(ProviderError::new(
            "aws",
            ProviderErrorKind::Protocol,
            "redirected",
        ));
        assert!(!other.is_io() && !other.is_timeout());
    }

    #[test]
    fn signed_credentials_are_remembered_for_scrubbing() {
        let client = DoorClient::new(&HttpOptions::new(), None, "aws").unwrap();
        let mut request = HttpRequest::new(SdkBody::empty());
        request.headers_mut().insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ASIAOBTAINED00000001/20240101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=00",
        );
        request
            .headers_mut()
            .insert("x-amz-security-token", "obtained-session-token");
        client.remember_credentials(&request);
        let scrubbed = client
            .scrubber()
            .scrub("ASIAOBTAINED00000001 and obtained-session-token");
        assert_eq!(scrubbed, "[credential] and [credential]");
    }
}
