//! [`Http`]: the door's client. One request at a time ([`Http::send`]) or with retries
//! ([`Http::call`]), under the module's policy: no redirect followed, answers capped, server
//! text scrubbed, every request within the deadline of the call it belongs to.

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use zeroize::Zeroizing;

use super::body::OnceBody;
use super::reply::Reply;
use super::scrub::Scrubber;
use crate::provider::error::Delivery;
use crate::provider::retry::{self, Idempotency};
use crate::provider::{ProviderError, ProviderErrorKind, RetryPolicy};

/// One request, as a backend describes it. Built once: the door sends it as often as the
/// retry policy says, each time with a body no redirect can carry on.
pub(crate) struct Outgoing {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Zeroizing<Vec<u8>>>,
    idempotency: Idempotency,
    target: String,
}

impl Outgoing {
    /// A request of `method` to `url`; `target` names the server in errors (`Vault at
    /// https://vault.example.com:8200`): never a URL with a query, which may hold a secret.
    /// `GET`, `HEAD`, `PUT` and `DELETE` are idempotent; anything else is sent again only
    /// when the backend surely did not act on it, unless [`idempotent`](Self::idempotent)
    /// says otherwise.
    pub(crate) fn new(method: Method, url: Url, target: impl Into<String>) -> Self {
        let idempotency = if matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        ) {
            Idempotency::Idempotent
        } else {
            Idempotency::Once
        };
        Outgoing {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            idempotency,
            target: target.into(),
        }
    }

    /// A `GET` of `url`.
    pub(crate) fn get(url: Url, target: impl Into<String>) -> Self {
        Outgoing::new(Method::GET, url, target)
    }

    /// A `POST` to `url` (sent once unless marked [`idempotent`](Self::idempotent)).
    pub(crate) fn post(url: Url, target: impl Into<String>) -> Self {
        Outgoing::new(Method::POST, url, target)
    }

    /// Marks a request that may run twice (fetching a token, say).
    #[must_use]
    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotency = Idempotency::Idempotent;
        self
    }

    /// Adds a header. A value that holds a credential must be marked sensitive, and a
    /// credential belongs in `Authorization` ([`bearer`](Self::bearer)): other headers
    /// survive a redirect that the caller's client follows.
    #[must_use]
    pub(crate) fn header(mut self, name: impl Into<HeaderName>, value: HeaderValue) -> Self {
        self.headers.append(name.into(), value);
        self
    }

    /// `Authorization: Bearer <token>`, marked sensitive.
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::Configuration`] when the token cannot be a header value (the
    /// token is never echoed).
    pub(crate) fn bearer(self, provider: &str, token: &SecretString) -> Result<Self, ProviderError> {
        let value = super::bearer(token.expose_secret()).ok_or_else(|| {
            ProviderError::new(
                provider,
                ProviderErrorKind::Configuration,
                "the token holds characters a header cannot hold",
            )
        })?;
        Ok(self.header(AUTHORIZATION, value))
    }

    /// A body of `content_type`, wiped when the request is dropped.
    #[must_use]
    pub(crate) fn body(self, content_type: &'static str, body: Zeroizing<Vec<u8>>) -> Self {
        self.framed_body(HeaderValue::from_static(content_type), body)
    }

    /// A body whose `Content-Type` is only known at run time (a request another library
    /// framed, such as an SDK's signed request), wiped when the request is dropped. Any
    /// `Content-Type` set before is replaced.
    #[must_use]
    pub(crate) fn framed_body(
        mut self,
        content_type: HeaderValue,
        body: Zeroizing<Vec<u8>>,
    ) -> Self {
        self.headers.insert(CONTENT_TYPE, content_type);
        self.body = Some(body);
        self
    }
}

/// A provider's HTTP client under the door's policy.
pub(crate) struct Http {
    client: reqwest::Client,
    provider: String,
    retry: RetryPolicy,
    max_response_bytes: usize,
    scrubber: Arc<Scrubber>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("provider", &self.provider)
            .field("retry", &self.retry)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub(super) fn new(
        client: reqwest::Client,
        provider: &str,
        retry: RetryPolicy,
        max_response_bytes: usize,
        scrubber: Arc<Scrubber>,
    ) -> Self {
        Http {
            client,
            provider: provider.to_owned(),
            retry,
            max_response_bytes,
            scrubber,
        }
    }

    /// The most an answer may hold: also what the backend reads of a command-line tool's
    /// output, when it has one (`az`, `gcloud`).
    pub(crate) fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// The provider's credentials, for the backend to register what it holds and obtains.
    pub(crate) fn scrubber(&self) -> &Arc<Scrubber> {
        &self.scrubber
    }

    /// Sends `request` with retries: an answer that `transient` turns into an error (the
    /// backend's reading of a 429, a 5xx, a 412 from a Vault standby) is retried like a
    /// transport failure, per the policy and the request's idempotency. Any other answer is
    /// returned for the backend to read.
    ///
    /// # Errors
    ///
    /// The last failure once the policy is spent, or at once for one that is not transient:
    /// see [`send`](Self::send). Every error's message is scrubbed of the provider's
    /// credentials.
    pub(crate) async fn call(
        &self,
        request: &Outgoing,
        transient: impl Fn(&Reply) -> Option<ProviderError>,
    ) -> Result<Reply, ProviderError> {
        self.retry
            .run_as(request.idempotency, || async {
                let reply = self.send(request).await?;
                match transient(&reply) {
                    None => Ok(reply),
                    Some(error) => {
                        let delivery = match reply.status {
                            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                                Delivery::Refused
                            }
                            _ => Delivery::Unknown,
                        };
                        Err(self.scrubber.scrub_error(error).with_delivery(delivery))
                    }
                }
            })
            .await
    }

    /// Sends `request` once and reads the answer whole.
    ///
    /// # Errors
    ///
    /// - [`ProviderErrorKind::Timeout`] or [`ProviderErrorKind::Unavailable`] for transport
    ///   failures, with reqwest's error (stripped of its URL) as the source;
    /// - [`ProviderErrorKind::Protocol`] for a redirect (answered, or followed by the
    ///   caller's client), naming the origin it points to, and for an answer larger than the
    ///   cap.
    ///
    /// A non-2xx status is *not* an error here: the caller reads it off the [`Reply`].
    pub(crate) async fn send(&self, request: &Outgoing) -> Result<Reply, ProviderError> {
        // The call's deadline bounds the request on top of the client's own timeout (which a
        // per-request timeout would replace).
        match retry::remaining() {
            Some(left) => tokio::time::timeout(left, self.send_now(request))
                .await
                .unwrap_or_else(|_| {
                    Err(ProviderError::new(
                        &self.provider,
                        ProviderErrorKind::Timeout,
                        format!(
                            "the request to {} outlived the call's deadline",
                            request.target
                        ),
                    ))
                }),
            None => self.send_now(request).await,
        }
    }

    async fn send_now(&self, request: &Outgoing) -> Result<Reply, ProviderError> {
        let response = self
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .body(OnceBody::body(request.body.as_ref()))
            .send()
            .await
            .map_err(|e| self.transport_error(request, e))?;
        if response.url() != &request.url {
            return Err(self.error(format!(
                "the request to {} was redirected to {} by the HTTP client given to the provider; \
                 providers never follow redirects: build that client with \
                 `redirect::Policy::none()` (HttpOptions::client_builder does)",
                request.target,
                origin(response.url()),
            )));
        }
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(LOCATION)
                .and_then(|location| location.to_str().ok())
                .and_then(|location| request.url.join(location).ok())
                .map_or_else(|| "nowhere it says".to_owned(), |url| origin(&url));
            return Err(self.error(format!(
                "{} answered {} redirecting to {to}; providers never follow redirects, so that no \
                 credential goes where it was not configured to go: configure the final address",
                request.target,
                status.as_u16(),
            )));
        }
        let headers = response.headers().clone();
        let body = self.read(response, request).await?;
        Ok(Reply {
            status,
            headers,
            body,
            scrubber: Arc::clone(&self.scrubber),
        })
    }

    /// The answer's body, read as it comes, stopping as soon as it passes the cap. Every
    /// buffer that held part of it is wiped.
    async fn read(
        &self,
        mut response: reqwest::Response,
        request: &Outgoing,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let cap = self.max_response_bytes;
        let declared = response.content_length().unwrap_or(0);
        if declared > cap as u64 {
            return Err(self.too_large(request));
        }
        // Bounded by the cap just checked.
        let mut body = Zeroizing::new(Vec::with_capacity(declared as usize));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(request, e))?
        {
            let len = body.len().saturating_add(chunk.len());
            if len > cap {
                return Err(self.too_large(request));
            }
            if len > body.capacity() {
                // Grown by hand so that the smaller buffer is wiped, not freed as it is.
                let mut bigger =
                    Zeroizing::new(Vec::with_capacity(len.max(body.capacity() * 2).min(cap)));
                bigger.extend_from_slice(&body);
                body = bigger;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn too_large(&self, request: &Outgoing) -> ProviderError {
        self.error(format!(
            "the answer of {} passed the cap of {} bytes; the provider's builder raises it with \
             `max_response_bytes` (provider::MAX_RESPONSE_BYTES by default)",
            request.target, self.max_response_bytes,
        ))
    }

    fn error(&self, message: String) -> ProviderError {
        ProviderError::new(&self.provider, ProviderErrorKind::Protocol, message)
    }

    /// A transport failure (no answer): a connection that could not be made (nothing was
    /// sent), a timeout, a broken stream (the backend may have acted on the request).
    fn transport_error(&self, request: &Outgoing, source: reqwest::Error) -> ProviderError {
        let (kind, what, delivery) = if source.is_timeout() {
            (ProviderErrorKind::Timeout, "timed out", Delivery::Unknown)
        } else if source.is_connect() {
            (
                ProviderErrorKind::Unavailable,
                "could not connect",
                Delivery::NotSent,
            )
        } else {
            (
                ProviderErrorKind::Unavailable,
                "failed in transit",
                Delivery::Unknown,
            )
        };
        ProviderError::new(
            &self.provider,
            kind,
            format!("the request to {} {what}", request.target),
        )
        .with_delivery(delivery)
        .with_source(source.without_url())
    }
}

/// Whether a status is worth retrying for most backends: 408, 429, 500, 502, 503, 504.
pub(crate) fn is_transient_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// `scheme://host:port` of `url`: what errors say of a place, never its path or query.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}
