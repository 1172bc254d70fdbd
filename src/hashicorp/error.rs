//! Vault's HTTP API: URLs under `/v1/`, the `X-Vault-Token` (sensitive) and
//! `X-Vault-Namespace` headers, a limit on requests in flight, retries of transient failures
//! (429, 412, 5xx, timeouts, dropped connections), and Vault's error bodies
//! (`{"errors": ["…"]}`).

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::Semaphore;
use url::Url;
use zeroize::Zeroizing;

use super::{PROVIDER_ID, error};
use crate::provider::http::{self, Http, Outgoing, Reply};
use crate::provider::{ProviderError, ProviderErrorKind};

/// One request to Vault.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    /// The path under `/v1/`, unencoded (`secret/data/app`).
    pub(crate) path: &'a str,
    /// `?version=N` for KV v2 reads.
    pub(crate) version: Option<u64>,
    /// The namespace for `X-Vault-Namespace`, if any.
    pub(crate) namespace: Option<&'a str>,
    /// A JSON body (login bodies hold credentials: wiped when dropped).
    pub(crate) body: Option<Zeroizing<Vec<u8>>>,
}

impl<'a> Call<'a> {
    pub(crate) fn get(path: &'a str, namespace: Option<&'a str>) -> Self {
        Call {
            method: Method::GET,
            path,
            version: None,
            namespace,
            body: None,
        }
    }

    pub(crate) fn post(
        path: &'a str,
        namespace: Option<&'a str>,
        body: Zeroizing<Vec<u8>>,
    ) -> Self {
        Call {
            method: Method::POST,
            path,
            version: None,
            namespace,
            body: Some(body),
        }
    }
}

/// The HTTP side of the provider.
pub(crate) struct Api {
    http: Http,
    addr: String,
    base: Url,
    namespace: Option<String>,
    requests: Semaphore,
}

impl Api {
    /// An API client for the server at `addr` (`https://vault.example.com:8200`).
    pub(crate) fn new(
        http: Http,
        addr: &str,
        namespace: Option<String>,
        concurrency: usize,
    ) -> Result<Self, ProviderError> {
        let trimmed = addr.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        let base = Url::parse(&format!("{trimmed}/v1/"))
            .ok()
            .filter(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.query().is_none()
                    && url.username().is_empty()
                    && url.password().is_none()
            })
            .ok_or_else(|| {
                error(
                    ProviderErrorKind::Configuration,
                    "the Vault address is not an http(s) URL such as https://vault.example.com:8200"
                        .to_owned(),
                )
            })?;
        let namespace = namespace
            .map(|ns| ns.trim().trim_matches('/').to_owned())
            .filter(|ns| !ns.is_empty());
        if let Some(ns) = &namespace
            && http::sensitive_header(ns).is_none()
        {
            return Err(error(
                ProviderErrorKind::Configuration,
                "the Vault namespace holds characters a header cannot hold".to_owned(),
            ));
        }
        Ok(Api {
            http,
            addr: trimmed.to_owned(),
            base,
            namespace,
            requests: Semaphore::new(concurrency.max(1)),
        })
    }

    /// The server's address, as configured (no credentials: refused by [`Api::new`]).
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// The credentials the provider holds, scrubbed out of server text in errors.
    pub(crate) fn scrubber(&self) -> &crate::provider::http::Scrubber {
        self.http.scrubber()
    }

    /// The provider's namespace.
    pub(crate) fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Sends `call` with `token`, retrying transient failures per the policy.
    ///
    /// # Errors
    ///
    /// Transport failures and transient statuses (429, 412, 5xx) that outlived the retries,
    /// with Vault's error text. Any other status is returned as a [`Reply`] for the caller to
    /// read.
    pub(crate) async fn send(
        &self,
        call: &Call<'_>,
        token: Option<&SecretString>,
    ) -> Result<Reply, ProviderError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| {
                error(
                    ProviderErrorKind::Configuration,
                    "the Vault address cannot take a path".to_owned(),
                )
            })?
            .pop_if_empty()
            .extend(call.path.split('/'));
        if let Some(version) = call.version {
            url.query_pairs_mut()
                .append_pair("version", &version.to_string());
        }
        let _permit = self.requests.acquire().await.ok();
        let mut request =
            Outgoing::new(call.method.clone(), url, format!("Vault at {}", self.addr)).header(
                HeaderName::from_static("x-vault-request"),
                HeaderValue::from_static("true"),
            );
        if let Some(token) = token {
            // In `Authorization`, which no redirect carries to another origin, rather than
            // `X-Vault-Token`, which one would.
            request = request.bearer(PROVIDER_ID, token).map_err(|_| {
                error(
                    ProviderErrorKind::Configuration,
                    "the Vault token holds characters a header cannot hold".to_owned(),
                )
            })?;
        }
        if let Some(namespace) = call.namespace.filter(|ns| !ns.is_empty()) {
            let value = http::sensitive_header(namespace).ok_or_else(|| {
                error(
                    ProviderErrorKind::Configuration,
                    format!("the namespace `{namespace}` cannot be sent as a header"),
                )
            })?;
            request = request.header(HeaderName::from_static("x-vault-namespace"), value);
        }
        if let Some(body) = &call.body {
            request = request.body("application/json", body.clone());
        }
        tracing::trace!(method = %call.method, path = call.path, "Vault request");
        self.http
            .call(&request, |reply| {
                is_transient(reply.status)
                    .then(|| failure(reply, &format!("`{} {}`", call.method, call.path), &[]))
            })
            .await
    }
}

/// Whether a status is worth retrying: 429, 412 (a performance standby not caught up yet),
/// and 5xx (503 is a sealed or standby node).
fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 412 | 429 | 500..=599)
}

/// The error kind of a status: as [`http::status_kind`], and 412 Unavailable.
pub(crate) fn kind_of(status: StatusCode) -> ProviderErrorKind {
    match status.as_u16() {
        412 => ProviderErrorKind::Unavailable,
        _ => http::status_kind(status),
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<String>,
}

/// Vault's error texts, joined, shortened, and with any of `secrets` (credentials the
/// request carried) removed. Empty when the body is not Vault's error shape.
pub(crate) fn error_text(reply: &Reply, secrets: &[&str]) -> String {
    let Ok(body) = serde_json::from_slice::<ErrorBody>(&reply.body) else {
        return String::new();
    };
    let mut text = body
        .errors
        .iter()
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if text.contains(secret) {
            text = text.replace(secret, "[redacted]");
        }
    }
    if text.len() > 300 {
        let mut end = 300;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The error for a non-2xx reply to `what` (a phrase such as "reading `secret/app`"), with
/// the kind the status stands for.
pub(crate) fn failure(reply: &Reply, what: &str, secrets: &[&str]) -> ProviderError {
    failure_of_kind(reply, kind_of(reply.status), what, secrets)
}

/// As [`failure`] with a chosen kind.
pub(crate) fn failure_of_kind(
    reply: &Reply,
    kind: ProviderErrorKind,
    what: &str,
    secrets: &[&str],
) -> ProviderError {
    let text = error_text(reply, secrets);
    let message = if text.is_empty() {
        format!("Vault refused {what}")
    } else {
        format!("Vault refused {what}: {text}")
    };
    reply.error_of_kind(PROVIDER_ID, kind, &message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply::fake(status, body)
    }

    #[test]
    fn error_bodies_are_read_and_scrubbed() {
        let r = reply(
            400,
            r#"{"errors":["invalid secret id s3cr3t-id","2 errors occurred:\n\t* permission denied\n"]}"#,
        );
        let text = error_text(&r, &["s3cr3t-id"]);
        assert_eq!(
            text,
            "invalid secret id [redacted]; 2 errors occurred: * permission denied"
        );
        let e = failure(&r, "the AppRole login", &["s3cr3t-id"]);
        assert_eq!(e.kind(), ProviderErrorKind::Protocol);
        assert!(e.message().ends_with("(HTTP 400)"), "{}", e.message());
        assert_eq!(error_text(&reply(500, "<html>"), &[]), "");
    }

    #[test]
    fn statuses() {
        let kind = |s| kind_of(StatusCode::from_u16(s).unwrap());
        assert_eq!(kind(412), ProviderErrorKind::Unavailable);
        assert_eq!(kind(503), ProviderErrorKind::Unavailable);
        assert_eq!(kind(429), ProviderErrorKind::RateLimited);
        assert!(is_transient(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_transient(StatusCode::FORBIDDEN));
    }

    #[test]
    fn addresses_must_be_plain_http_urls() {
        let api = |addr: &str| {
            let http = crate::provider::HttpOptions::new()
                .build(PROVIDER_ID, crate::provider::RetryPolicy::never())
                .unwrap();
            Api::new(http, addr, None, 1)
        };
        assert_eq!(
            api("https://vault:8200/v1/").unwrap().addr(),
            "https://vault:8200"
        );
        assert!(api("vault:8200").is_err());
        assert!(api("https://user:pw@vault:8200").is_err());
        assert!(api("https://vault:8200/?x=1").is_err());
    }
}
