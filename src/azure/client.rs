//! Authorized requests to Key Vault: where each vault lives, which token each vault takes,
//! and the challenge flow that finds out.
//!
//! Tokens are kept per (tenant, scope) until shortly before they expire, and concurrent
//! callers share one token request. The first request to a vault carries the token for the
//! cloud's Key Vault scope (`https://vault.azure.net/.default`) in the credential's own
//! tenant, if any; other requests to that vault wait for it. When a vault answers 401, its
//! `WWW-Authenticate` challenge names the tenant and resource it wants: the resource must be
//! on the vault's domain (else the request fails and no token is asked for it), the tenant
//! and scope are remembered for the vault, and the request is sent once more with a token
//! for them (a fresh one when the refused token was already for them). A second 401 is
//! final.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use reqwest::header::WWW_AUTHENTICATE;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::provider::http::{Outgoing, Reply};
use crate::provider::memo::Memo;
use crate::provider::{ProviderError, ProviderErrorKind};

use super::PROVIDER_ID;
use super::challenge::{Challenge, Refusal};
use super::credential::{Credential, Endpoints};

/// How long before expiry a token is renewed (at most half its lifetime).
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Which token a vault takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    pub(crate) tenant: Option<String>,
    pub(crate) scope: String,
}

type Gate = Arc<tokio::sync::Mutex<()>>;

pub(crate) struct Client {
    pub(crate) endpoints: Endpoints,
    pub(crate) credential: Credential,
    pub(crate) dns_suffix: String,
    pub(crate) api_version: String,
    /// Vault name (lowercase) → base URL, for private endpoints and tests.
    pub(crate) vault_urls: BTreeMap<String, Url>,
    tokens: Arc<Memo<TokenKey, SecretString>>,
    /// The token each vault took last, learned from its challenges.
    authorities: Mutex<HashMap<String, TokenKey>>,
    /// Held by the first request to a vault while it learns which token the vault takes.
    gates: Mutex<HashMap<String, Gate>>,
    /// Vaults the provider has seen in references, for `check`.
    seen: Mutex<BTreeSet<String>>,
}

impl Client {
    pub(crate) fn new(
        endpoints: Endpoints,
        credential: Credential,
        dns_suffix: String,
        api_version: String,
        vault_urls: BTreeMap<String, Url>,
    ) -> Self {
        Client {
            endpoints,
            credential,
            dns_suffix,
            api_version,
            vault_urls,
            // Tokens are kept as long as they are valid (their lease), never longer.
            tokens: Memo::new(Duration::from_secs(24 * 60 * 60)),
            authorities: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// The vault's base URL: mapped, or `https://{vault}.{dns_suffix}/`.
    pub(crate) fn vault_url(&self, vault: &str) -> Result<Url, ProviderError> {
        let vault = vault.to_ascii_lowercase();
        if let Some(url) = self.vault_urls.get(&vault) {
            return Ok(url.clone());
        }
        Url::parse(&format!("https://{vault}.{}/", self.dns_suffix)).map_err(|_| {
            ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Configuration,
                format!(
                    "vault `{vault}` and DNS suffix `{}` do not make a URL",
                    self.dns_suffix
                ),
            )
        })
    }

    /// A URL under the vault: `{base}/{segments…}?api-version=…`.
    pub(crate) fn url(&self, vault: &str, segments: &[&str]) -> Result<Url, ProviderError> {
        let mut url = self.vault_url(vault)?;
        url.path_segments_mut()
            .map_err(|()| {
                ProviderError::new(
                    PROVIDER_ID,
                    ProviderErrorKind::Configuration,
                    format!("the URL of vault `{vault}` cannot have a path"),
                )
            })?
            .pop_if_empty()
            .extend(segments);
        url.query_pairs_mut()
            .append_pair("api-version", &self.api_version);
        Ok(url)
    }

    /// Remembers a vault seen in a reference.
    pub(crate) fn saw(&self, vault: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(vault.to_ascii_lowercase());
    }

    /// Every vault the provider knows of: mapped ones and those seen in references.
    pub(crate) fn known_vaults(&self) -> Vec<String> {
        let mut vaults = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        vaults.extend(self.vault_urls.keys().cloned());
        vaults.into_iter().collect()
    }

    /// The token for the cloud's Key Vault scope in the credential's own tenant.
    pub(crate) fn default_key(&self) -> TokenKey {
        TokenKey {
            tenant: self.credential.tenant_for(None),
            scope: format!("https://{}/.default", self.dns_suffix),
        }
    }

    /// A token for `key`: kept, or requested once for all concurrent callers.
    pub(crate) async fn token(
        self: &Arc<Self>,
        key: &TokenKey,
    ) -> Result<SecretString, ProviderError> {
        let client = Arc::clone(self);
        let fetch_key = key.clone();
        self.tokens
            .get_leased(key.clone(), move || {
                async move {
                    let token = client
                        .credential
                        .token(
                            &client.endpoints,
                            fetch_key.tenant.as_deref(),
                            &fetch_key.scope,
                        )
                        .await?;
                    let margin = REFRESH_MARGIN.min(token.lifetime / 2);
                    tracing::debug!(
                        credential = client.credential.kind(),
                        tenant = fetch_key.tenant.as_deref().unwrap_or("(default)"),
                        scope = %fetch_key.scope,
                        lifetime_s = token.lifetime.as_secs(),
                        "got an Azure access token"
                    );
                    Ok((token.token, Some(token.lifetime.saturating_sub(margin))))
                }
                .boxed()
            })
            .await
            .map_err(|e| e.duplicate())
    }

    /// Forgets every kept token and what each vault takes.
    pub(crate) fn clear(&self) {
        self.tokens.clear();
        self.authorities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn authority(&self, vault: &str) -> Option<TokenKey> {
        self.authorities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(vault)
            .cloned()
    }

    fn remember(&self, vault: &str, key: TokenKey) {
        self.authorities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(vault.to_owned(), key);
    }

    fn gate(&self, vault: &str) -> Gate {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(gates.entry(vault.to_owned()).or_default())
    }

    /// Sends the request `make` builds to `vault` with a bearer token, following the
    /// challenge flow. Any status other than a final 401 is the caller's to read.
    pub(crate) async fn send(
        self: &Arc<Self>,
        vault: &str,
        target: &str,
        make: impl Fn() -> Outgoing,
    ) -> Result<Reply, ProviderError> {
        let vault = vault.to_ascii_lowercase();
        let (key, first_contact) = match self.authority(&vault) {
            Some(key) => (key, None),
            None => {
                let guard = self.gate(&vault).lock_owned().await;
                match self.authority(&vault) {
                    Some(key) => (key, None),
                    None => (self.default_key(), Some(guard)),
                }
            }
        };
        let token = self.token(&key).await?;
        let reply = self.attempt(&make, &token).await?;
        if reply.status.as_u16() != 401 {
            if first_contact.is_some() {
                self.remember(&vault, key);
            }
            return Ok(reply);
        }
        let challenge = self.accept_challenge(&vault, &reply)?;
        let new_key = TokenKey {
            tenant: self.credential.tenant_for(challenge.tenant.as_deref()),
            scope: challenge.scope,
        };
        let mut fresh = self.token(&new_key).await?;
        if new_key == key && fresh.expose_secret() == token.expose_secret() {
            // The vault refused the very token kept for it: get a new one, once.
            self.tokens.forget(&key);
            fresh = self.token(&new_key).await?;
        }
        self.remember(&vault, new_key);
        drop(first_contact);
        let reply = self.attempt(&make, &fresh).await?;
        if reply.status.as_u16() == 401 {
            return Err(reply.error_of_kind(
                PROVIDER_ID,
                ProviderErrorKind::Unauthorized,
                &format!(
                    "{target} refused a fresh token from the {} credential",
                    self.credential.kind()
                ),
            ));
        }
        Ok(reply)
    }

    async fn attempt(
        &self,
        make: &impl Fn() -> Outgoing,
        token: &SecretString,
    ) -> Result<Reply, ProviderError> {
        let request = make().bearer(PROVIDER_ID, token).map_err(|_| {
            ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Protocol,
                "the access token cannot be sent as a header value",
            )
        })?;
        self.endpoints.http.send(&request).await
    }

    fn accept_challenge(&self, vault: &str, reply: &Reply) -> Result<Challenge, ProviderError> {
        let header = reply
            .headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let refused = |message: String| {
            reply.error_of_kind(PROVIDER_ID, ProviderErrorKind::Unauthorized, &message)
        };
        let Some(challenge) = Challenge::parse(header) else {
            return Err(refused(format!(
                "vault `{vault}` refused the token and sent no Bearer challenge naming a resource"
            )));
        };
        let host = self
            .vault_url(vault)?
            .host_str()
            .unwrap_or_default()
            .to_owned();
        match challenge.verify(&host, &self.dns_suffix) {
            Ok(()) => Ok(challenge),
            Err(Refusal::ForeignResource {
                resource,
                vault_host,
            }) => Err(refused(format!(
                "refused the authentication challenge of vault `{vault}`: its resource `{resource}` is not on the vault's domain (`{vault_host}`, Key Vault domain `{}`), so no token was requested for it",
                self.dns_suffix
            ))),
        }
    }
}
