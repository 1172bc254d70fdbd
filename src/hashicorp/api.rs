//! Vault's HTTP API: URLs under `/v1/`, the token in `Authorization: Bearer` and the
//! `X-Vault-Namespace` header, a limit on requests in flight, and retries of transient
//! failures (429, 412, 5xx, timeouts, dropped connections) through the provider door.

use std::sync::Arc;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::SecretString;
use tokio::sync::Semaphore;
use url::Url;
use zeroize::Zeroizing;

use super::error::{PROVIDER_ID, error, failure, is_transient};
use crate::provider::http::{self, Http, Outgoing, Reply, Scrubber};
use crate::provider::{ProviderError, ProviderErrorKind, RetryPolicy};

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
    /// Whether a `POST` may be sent again after a lost reply (a renewal may; a login,
    /// which can spend a secret ID with a use limit, may not).
    pub(crate) idempotent: bool,
}

impl<'a> Call<'a> {
    pub(crate) fn get(path: &'a str, namespace: Option<&'a str>) -> Self {
        Call {
            method: Method::GET,
            path,
            version: None,
            namespace,
            body: None,
            idempotent: true,
        }
    }

    /// A `POST`, sent once unless marked [`idempotent`](Self::idempotent).
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
            idempotent: false,
        }
    }

    /// Marks a call that may run twice.
    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
}

/// The HTTP side of the provider: one server, one namespace, a limit on requests in flight.
pub(crate) struct Api {
    http: Http,
    retry: RetryPolicy,
    addr: String,
    base: Url,
    namespace: Option<String>,
    requests: Semaphore,
}

impl Api {
    /// An API client for the server at `addr` (`https://vault.example.com:8200`), sending
    /// through `http`, which retries per `retry`.
    pub(crate) fn new(
        http: Http,
        retry: RetryPolicy,
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
            retry,
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
    pub(crate) fn scrubber(&self) -> &Arc<Scrubber> {
        self.http.scrubber()
    }

    /// The provider's namespace.
    pub(crate) fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Runs `work` (a sign-in and a read, say, each with its retries) under one deadline of
    /// the retry policy, so that layers of requests cannot add up their time limits.
    pub(crate) async fn bounded<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.retry.bounded(work).await
    }

    /// Sends `call` with `token`, retrying transient failures per the policy (a call that
    /// must run once only when it surely did not run).
    ///
    /// # Errors
    ///
    /// Transport failures, redirects, answers past the cap, and transient statuses (429,
    /// 412, 5xx) that outlived the retries, with Vault's error text. Any other status is
    /// returned as a [`Reply`] for the caller to read.
    pub(crate) async fn send(
        &self,
        call: &Call<'_>,
        token: Option<&SecretString>,
    ) -> Result<Reply, ProviderError> {
        let request = self.outgoing(call, token)?;
        let _permit = self.requests.acquire().await.ok();
        tracing::trace!(method = %call.method, path = call.path, "Vault request");
        self.http
            .call(&request, |reply| {
                is_transient(reply.status)
                    .then(|| failure(reply, &format!("`{} {}`", call.method, call.path)))
            })
            .await
    }

    /// The request for `call`: its URL, the token in `Authorization` (which no redirect
    /// carries to another origin, where `X-Vault-Token` would go along), the namespace.
    fn outgoing(
        &self,
        call: &Call<'_>,
        token: Option<&SecretString>,
    ) -> Result<Outgoing, ProviderError> {
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
        let mut request =
            Outgoing::new(call.method.clone(), url, format!("Vault at {}", self.addr)).header(
                HeaderName::from_static("x-vault-request"),
                HeaderValue::from_static("true"),
            );
        if call.idempotent {
            request = request.idempotent();
        }
        if let Some(token) = token {
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
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(addr: &str) -> Result<Api, ProviderError> {
        let http = crate::provider::HttpOptions::new()
            .build(PROVIDER_ID, RetryPolicy::never())
            .unwrap();
        Api::new(http, RetryPolicy::never(), addr, None, 1)
    }

    #[test]
    fn addresses_must_be_plain_http_urls() {
        assert_eq!(
            api("https://vault:8200/v1/").unwrap().addr(),
            "https://vault:8200"
        );
        assert!(api("vault:8200").is_err());
        assert!(api("https://user:pw@vault:8200").is_err());
        assert!(api("https://vault:8200/?x=1").is_err());
    }

    #[test]
    fn only_idempotent_calls_say_so() {
        let body = || Zeroizing::new(b"{}".to_vec());
        assert!(Call::get("a/b", None).idempotent);
        assert!(!Call::post("auth/approle/login", None, body()).idempotent);
        assert!(
            Call::post("auth/token/renew-self", None, body())
                .idempotent()
                .idempotent
        );
    }
}
