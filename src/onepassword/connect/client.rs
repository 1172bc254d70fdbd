//! The Connect server's HTTP side: its base URL, the token, the limit on requests at once,
//! and one authorized `GET` through the provider door (retried, capped, scrubbed).

use std::sync::RwLock;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use url::Url;
use zeroize::Zeroizing;

use crate::onepassword::error::{PROVIDER_ID, connect_failure, error};
use crate::provider::http::{Http, Outgoing, is_transient_status, parse_json};
use crate::provider::{ProviderError, ProviderErrorKind};

/// Characters escaped in a URL path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A Connect server reached with a token.
pub(crate) struct Client {
    http: Http,
    /// The host as given, without a trailing `/` or `/v1`: shown in messages.
    host: String,
    /// `<host>/v1/`, which request paths are joined to.
    base: Url,
    token: RwLock<SecretString>,
    requests: Semaphore,
}

impl Client {
    /// A client of the Connect server at `host` (an http(s) URL without a user name or
    /// password), allowing `concurrency` requests at once. The token is registered with the
    /// door's scrubber.
    pub(crate) fn new(
        host: &str,
        token: SecretString,
        http: Http,
        concurrency: usize,
    ) -> Result<Self, ProviderError> {
        let trimmed = host.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        let base = Url::parse(&format!("{trimmed}/v1/"))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| {
                error(
                    ProviderErrorKind::Configuration,
                    format!(
                        "the Connect host `{}` is not an http(s) URL such as http://localhost:8080",
                        without_userinfo(host)
                    ),
                )
            })?;
        // A password in the host would show wherever the host is shown (Debug, errors).
        if !base.username().is_empty() || base.password().is_some() {
            return Err(error(
                ProviderErrorKind::Configuration,
                format!(
                    "the Connect host `{}` holds a user name or password (`user:…@`), which Connect does not use: give the host alone, such as http://localhost:8080, and the Connect token to the provider",
                    without_userinfo(host)
                ),
            ));
        }
        check_token(&token)?;
        http.scrubber().add(&token);
        Ok(Client {
            http,
            host: trimmed.to_owned(),
            base,
            token: RwLock::new(token),
            requests: Semaphore::new(concurrency.max(1)),
        })
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Swaps the token (registered with the scrubber too); a malformed one is refused and
    /// the old one kept.
    pub(crate) fn set_token(&self, token: SecretString) -> Result<(), ProviderError> {
        check_token(&token)?;
        self.http.scrubber().add(&token);
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = token;
        Ok(())
    }

    /// Reachability (`/heartbeat`, no token), then credentials (`/v1/vaults`).
    pub(crate) async fn check(&self) -> Result<(), ProviderError> {
        let heartbeat = self.base.join("../heartbeat").map_err(|_| {
            error(
                ProviderErrorKind::Configuration,
                "cannot build the heartbeat URL".to_owned(),
            )
        })?;
        self.fetch(heartbeat, false).await?;
        self.get(&["vaults"]).await.map(drop)
    }

    /// `GET /v1/<segments…>` with the token, its body parsed as JSON; `what` names it in
    /// the error.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        what: &str,
    ) -> Result<T, ProviderError> {
        let body = self.get(segments).await?;
        parse_json(PROVIDER_ID, &body, what)
    }

    /// `GET /v1/<segments…>` with the token (each segment percent-encoded), retried per the
    /// policy; the body of a 2xx answer.
    pub(crate) async fn get(&self, segments: &[&str]) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let path = segments
            .iter()
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/");
        let url = self.base.join(&path).map_err(|_| {
            error(
                ProviderErrorKind::Configuration,
                format!("cannot build a URL for `{path}`"),
            )
        })?;
        self.fetch(url, true).await
    }

    /// `GET url` (with the token when `authorized`) through the door, retried per the policy;
    /// the body of a 2xx answer.
    async fn fetch(&self, url: Url, authorized: bool) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let _permit = self.requests.acquire().await.ok();
        tracing::trace!(url = %url, "Connect request");
        let mut request = Outgoing::get(url, format!("the Connect server at {}", self.host));
        if authorized {
            let token = self.token.read().unwrap_or_else(|p| p.into_inner()).clone();
            request = request
                .bearer(PROVIDER_ID, &token)
                .map_err(|_| invalid_token())?;
        }
        let reply = self
            .http
            .call(&request, |reply| {
                is_transient_status(reply.status).then(|| connect_failure(reply))
            })
            .await?;
        if reply.is_success() {
            return Ok(reply.body);
        }
        Err(connect_failure(&reply))
    }
}

fn check_token(token: &SecretString) -> Result<(), ProviderError> {
    let text = token.expose_secret();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid_token());
    }
    Ok(())
}

fn invalid_token() -> ProviderError {
    error(
        ProviderErrorKind::Configuration,
        "the Connect token is empty or holds characters a token cannot hold".to_owned(),
    )
}

/// `host` for messages, with anything before an `@` (a user name or password) hidden.
fn without_userinfo(host: &str) -> String {
    let host = host.trim();
    match host.rfind('@') {
        None => host.to_owned(),
        Some(at) => {
            let start = host.find("://").map_or(0, |i| i + 3).min(at);
            format!("{}***{}", &host[..start], &host[at..])
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_hidden_from_hosts() {
        assert_eq!(
            without_userinfo("http://user:pw@127.0.0.1:8080"),
            "http://***@127.0.0.1:8080"
        );
        assert_eq!(without_userinfo("pw@host"), "***@host");
        assert_eq!(without_userinfo(" http://host "), "http://host");
    }
}
