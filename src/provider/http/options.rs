//! [`HttpOptions`]: how a provider's HTTP client is made, in one place for every backend.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::client::Http;
use super::scrub::Scrubber;
use crate::provider::{MAX_RESPONSE_BYTES, ProviderError, ProviderErrorKind, RetryPolicy};

/// The `User-Agent` of every request a client built by the crate sends.
const USER_AGENT: &str = concat!("request-vault/", env!("CARGO_PKG_VERSION"));

/// How a provider talks HTTP: timeouts, extra CA certificates, the answer-size cap, or a
/// `reqwest::Client` of the caller's own.
///
/// Every HTTP provider's builder keeps its one-line setters (`.timeout(..)`,
/// `.client(..)`, …) and hands them to these options, so that every backend builds its
/// client the same way: it never follows a redirect, says `User-Agent:
/// request-vault/<version>`, and reads answers up to [`MAX_RESPONSE_BYTES`].
///
/// A client given with [`client`](Self::client) is used as it is: it brings its TLS roots,
/// proxies and DNS overrides, which is how tests reach loopback servers under real host
/// names. Even when it follows redirects, no credential or request body reaches another
/// origin (see the `http` module and `SECURITY.md`); build it from
/// [`client_builder`](Self::client_builder) to start from the crate's settings.
///
/// ```
/// use std::time::Duration;
/// use request_vault::provider::HttpOptions;
///
/// # fn main() -> Result<(), request_vault::ProviderError> {
/// let options = HttpOptions::new().timeout(Duration::from_secs(10));
/// // The crate's policy (no redirects, timeouts, user agent), with a DNS override on top.
/// let client = options
///     .client_builder()?
///     .resolve("vault.example.com", "127.0.0.1:8200".parse().unwrap())
///     .build()
///     .expect("a client");
/// let options = options.client(client);
/// # drop(options);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpOptions {
    timeout: Duration,
    connect_timeout: Duration,
    ca_pem: Option<Arc<[u8]>>,
    client: Option<reqwest::Client>,
    max_response_bytes: usize,
    metadata: bool,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("extra_ca_certificates", &self.ca_pem.is_some())
            .field("callers_client", &self.client.is_some())
            .field("max_response_bytes", &self.max_response_bytes)
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl Default for HttpOptions {
    /// A 30 s timeout per request, 10 s to connect, the system's TLS roots and
    /// [`MAX_RESPONSE_BYTES`].
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ca_pem: None,
            client: None,
            max_response_bytes: MAX_RESPONSE_BYTES,
            metadata: false,
        }
    }
}

impl HttpOptions {
    /// The default options.
    pub fn new() -> Self {
        HttpOptions::default()
    }

    /// Options for a metadata endpoint on the local network (Azure's IMDS and App Service,
    /// Google's metadata server): 2 s to connect, 10 s per request, and never through a
    /// proxy, so that a host without such an endpoint fails fast. A caller's client set
    /// here is still used as it is.
    pub fn metadata(&self) -> HttpOptions {
        HttpOptions {
            timeout: self.timeout.min(Duration::from_secs(10)),
            connect_timeout: self.connect_timeout.min(Duration::from_secs(2)),
            metadata: true,
            ..self.clone()
        }
    }

    /// The longest a request may take, answer included (30 s unless set). Within a
    /// retrying call, each request also stops at the call's deadline.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest making a connection may take (10 s unless set).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Extra trusted CA certificates, as a PEM bundle (a private CA of the server's), added
    /// to the system's roots. Checked when the client is built.
    #[must_use]
    pub fn ca_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into().into());
        self
    }

    /// Uses `client` as it is instead of building one; the timeouts and CA certificates set
    /// here are then the client's business, the answer-size cap still applies.
    #[must_use]
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The most an answer may hold, in bytes ([`MAX_RESPONSE_BYTES`] unless set). A backend
    /// that serves large values (files) may need more.
    #[must_use]
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// A `reqwest::ClientBuilder` with the crate's policy applied: no redirects followed,
    /// these options' timeouts and CA certificates, and the crate's `User-Agent`. Add TLS
    /// roots, proxies or DNS overrides, build it, and pass it back with
    /// [`client`](Self::client).
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::Configuration`] when the CA certificates given are not PEM.
    pub fn client_builder(&self) -> Result<reqwest::ClientBuilder, ProviderError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout);
        if self.metadata {
            builder = builder.no_proxy();
        }
        if let Some(pem) = &self.ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|certificates| !certificates.is_empty())
                .ok_or_else(|| {
                    ProviderError::new(
                        "http",
                        ProviderErrorKind::Configuration,
                        "the CA certificates given are not a PEM bundle",
                    )
                })?;
            builder = builder.tls_certs_merge(certificates);
        }
        Ok(builder)
    }

    /// The door's client for provider `provider`, retrying per `retry`.
    pub(crate) fn build(&self, provider: &str, retry: RetryPolicy) -> Result<Http, ProviderError> {
        let client = match &self.client {
            Some(client) => client.clone(),
            None => self
                .client_builder()
                .map_err(|e| ProviderError::new(provider, e.kind(), e.message()))?
                .build()
                .map_err(|e| {
                    ProviderError::new(
                        provider,
                        ProviderErrorKind::Configuration,
                        "cannot build the HTTP client",
                    )
                    .with_source(e)
                })?,
        };
        Ok(Http::new(
            client,
            provider,
            retry,
            self.max_response_bytes,
            Arc::new(Scrubber::new()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_options_are_short_and_keep_the_rest() {
        let options = HttpOptions::new()
            .timeout(Duration::from_secs(60))
            .max_response_bytes(1024);
        let metadata = options.metadata();
        assert_eq!(metadata.timeout, Duration::from_secs(10));
        assert_eq!(metadata.connect_timeout, Duration::from_secs(2));
        assert_eq!(metadata.max_response_bytes, 1024);
        assert!(metadata.metadata);
    }

    #[test]
    fn a_bundle_that_is_not_pem_is_refused() {
        let options = HttpOptions::new().ca_certificates_pem(b"not a certificate".to_vec());
        let error = options.client_builder().unwrap_err();
        assert_eq!(error.kind(), ProviderErrorKind::Configuration);
        assert!(options.build("test", RetryPolicy::never()).is_err());
    }
}
