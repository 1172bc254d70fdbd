//! The Key Vault HTTP client: where each vault lives, which token each vault takes, and
//! the challenge flow that finds out.
//!
//! Tokens are kept per (tenant, scope) until shortly before they expire, and concurrent
//! callers share one token request. The first request to a vault carries the token for the
//! cloud's Key Vault scope (`https://vault.azure.net/.default`) in the credential's own
//! tenant, if any; other requests to that vault wait for it. When a vault answers 401, its
//! `WWW-Authenticate` challenge names the tenant and resource it wants: the resource must be
//! the cloud's Key Vault resource and the tenant the credential's own or one the builder
//! allows (else the request fails and no token is asked for), the tenant is remembered for
//! the vault, and the request is sent once more with a token for it (a fresh one when the
//! refused token was already for it). A second 401 is final.
//!
//! Retries: a token is fetched outside the retried request (the token source has its own
//! one retry loop), and the request with the token is retried by the door alone, so that no
//! endpoint is tried more than the policy's attempts for one call; [`Client::bounded`] gives
//! the whole call one deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use reqwest::header::WWW_AUTHENTICATE;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::provider::http::{Outgoing, Reply};
use crate::provider::memo::Memo;
use crate::provider::{ProviderError, ProviderErrorKind, RetryPolicy};

use super::challenge::{AllowedTenants, Challenge};
use super::error::{PROVIDER_ID, configuration};
use super::token::{REFRESH_MARGIN, TokenContext, TokenSource};

/// Which token a vault takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    pub(crate) tenant: Option<String>,
    pub(crate) scope: String,
}

type Gate = Arc<tokio::sync::Mutex<()>>;

/// The settings a [`Client`] is made of.
pub(crate) struct Settings {
    pub(crate) context: TokenContext,
    pub(crate) credential: Box<dyn TokenSource>,
    pub(crate) allowed_tenants: AllowedTenants,
    pub(crate) retry: RetryPolicy,
    pub(crate) dns_suffix: String,
    pub(crate) api_version: String,
    /// Vault name (lowercase) → base URL, for private endpoints and tests.
    pub(crate) vault_urls: BTreeMap<String, Url>,
}

pub(crate) struct Client {
    pub(crate) settings: Settings,
    tokens: Arc<Memo<TokenKey, SecretString>>,
    /// The token each vault took last, learned from its challenges.
    authorities: Mutex<HashMap<String, TokenKey>>,
    /// Held by the first request to a vault while it learns which token the vault takes.
    gates: Mutex<HashMap<String, Gate>>,
    /// Vaults the provider has seen in references, for `check`.
    seen: Mutex<BTreeSet<String>>,
}

impl Client {
    pub(crate) fn new(settings: Settings) -> Self {
        Client {
            settings,
            // Tokens are kept as long as they are valid (their lease), never longer.
            tokens: Memo::new(Duration::from_secs(24 * 60 * 60)),
            authorities: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Runs one logical call (a read with the tokens it needs) within the retry policy's
    /// time limit: its token fetches and requests share one deadline.
    pub(crate) async fn bounded<F: Future>(&self, call: F) -> F::Output {
        self.settings.retry.bounded(call).await
    }

    /// The vault's base URL: mapped, or `https://{vault}.{dns_suffix}/`.
    pub(crate) fn vault_url(&self, vault: &str) -> Result<Url, ProviderError> {
        let vault = vault.to_ascii_lowercase();
        if let Some(url) = self.settings.vault_urls.get(&vault) {
            return Ok(url.clone());
        }
        let suffix = &self.settings.dns_suffix;
        Url::parse(&format!("https://{vault}.{suffix}/")).map_err(|_| {
            configuration(format!(
                "vault `{vault}` and DNS suffix `{suffix}` do not make a URL"
            ))
        })
    }

    /// A URL under the vault: `{base}/{segments…}?api-version=…`.
    pub(crate) fn url(&self, vault: &str, segments: &[&str]) -> Result<Url, ProviderError> {
        let mut url = self.vault_url(vault)?;
        url.path_segments_mut()
            .map_err(|()| configuration(format!("the URL of vault `{vault}` cannot have a path")))?
            .pop_if_empty()
            .extend(segments);
        url.query_pairs_mut()
            .append_pair("api-version", &self.settings.api_version);
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
        vaults.extend(self.settings.vault_urls.keys().cloned());
        vaults.into_iter().collect()
    }

    /// The cloud's Key Vault scope: `https://{dns_suffix}/.default`.
    fn scope(&self) -> String {
        format!("https://{}/.default", self.settings.dns_suffix)
    }

    /// The token for the cloud's Key Vault scope in the credential's own tenant.
    pub(crate) fn default_key(&self) -> TokenKey {
        TokenKey {
            tenant: self.settings.credential.tenant().map(str::to_owned),
            scope: self.scope(),
        }
    }

    /// A token for `key`: kept, or requested once for all concurrent callers. Every token
    /// obtained is registered with the scrubber.
    pub(crate) async fn token(
        self: &Arc<Self>,
        key: &TokenKey,
    ) -> Result<SecretString, ProviderError> {
        let client = Arc::clone(self);
        let fetch_key = key.clone();
        self.tokens
            .get_leased(key.clone(), move || {
                async move {
                    let settings = &client.settings;
                    let token = settings
                        .credential
                        .token(
                            &settings.context,
                            fetch_key.tenant.as_deref(),
                            &fetch_key.scope,
                        )
                        .await?;
                    settings.context.http.scrubber().add_obtained(&token.token);
                    tracing::debug!(
                        credential = settings.credential.kind(),
                        tenant = fetch_key.tenant.as_deref().unwrap_or("(default)"),
                        scope = %fetch_key.scope,
                        lifetime_s = token.lifetime.as_secs(),
                        "got an Azure access token"
                    );
                    let keep_for = token.keep_for(REFRESH_MARGIN);
                    Ok((token.token, Some(keep_for)))
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
    /// challenge flow; an answer `transient` turns into an error is retried by the door.
    /// Any other status than a final 401 is the caller's to read.
    ///
    /// # Errors
    ///
    /// The token source's errors; the door's (transport, redirect, size, transient answers
    /// once retries are spent); `Unauthorized` for a challenge refused or a second 401.
    pub(crate) async fn send(
        self: &Arc<Self>,
        vault: &str,
        target: &str,
        make: impl Fn() -> Outgoing,
        transient: impl Fn(&Reply) -> Option<ProviderError>,
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
        let reply = self.attempt(&make, &token, &transient).await?;
        if reply.status.as_u16() != 401 {
            if first_contact.is_some() {
                self.remember(&vault, key);
            }
            return Ok(reply);
        }
        let new_key = self.accept_challenge(&vault, &reply)?;
        let mut fresh = self.token(&new_key).await?;
        if new_key == key && fresh.expose_secret() == token.expose_secret() {
            // The vault refused the very token kept for it: get a new one, once.
            self.tokens.forget(&key);
            fresh = self.token(&new_key).await?;
        }
        self.remember(&vault, new_key);
        drop(first_contact);
        let reply = self.attempt(&make, &fresh, &transient).await?;
        if reply.status.as_u16() == 401 {
            return Err(reply.error_of_kind(
                PROVIDER_ID,
                ProviderErrorKind::Unauthorized,
                &format!(
                    "{target} refused a fresh token from the {} credential",
                    self.settings.credential.kind()
                ),
            ));
        }
        Ok(reply)
    }

    /// The request with `token`, transient answers retried by the door.
    async fn attempt(
        &self,
        make: &impl Fn() -> Outgoing,
        token: &SecretString,
        transient: &impl Fn(&Reply) -> Option<ProviderError>,
    ) -> Result<Reply, ProviderError> {
        let request = make().bearer(PROVIDER_ID, token)?;
        self.settings.context.http.call(&request, transient).await
    }

    /// The token a 401's challenge asks for, once its resource and tenant pass.
    fn accept_challenge(&self, vault: &str, reply: &Reply) -> Result<TokenKey, ProviderError> {
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
        let suffix = &self.settings.dns_suffix;
        if !challenge.is_for(suffix) {
            return Err(refused(format!(
                "refused the authentication challenge of vault `{vault}`: its resource `{}` is not the Key Vault resource of the cloud (`https://{suffix}`), so no token was requested for it",
                challenge.resource
            )));
        }
        let tenant = self
            .challenged_tenant(challenge.tenant)
            .map_err(|tenant| refused(self.foreign_tenant(vault, &tenant)))?;
        Ok(TokenKey {
            tenant,
            scope: self.scope(),
        })
    }

    /// The tenant to request a token in for a challenge naming `challenged`: the
    /// credential's own, or an allowed one. `Err` with the tenant when it is neither.
    fn challenged_tenant(&self, challenged: Option<String>) -> Result<Option<String>, String> {
        let credential = &self.settings.credential;
        let home = credential.tenant().map(str::to_owned);
        if !credential.chooses_tenant() {
            return Ok(None);
        }
        match challenged {
            None => Ok(home),
            Some(tenant) if credential.is_home_tenant(&tenant) => Ok(home.or(Some(tenant))),
            Some(tenant) if self.settings.allowed_tenants.admits(&tenant) => Ok(Some(tenant)),
            Some(tenant) => Err(tenant),
        }
    }

    fn foreign_tenant(&self, vault: &str, tenant: &str) -> String {
        let credential = &self.settings.credential;
        let own = match credential.tenant() {
            Some(home) => format!("tenant `{home}`"),
            None => "its own tenant".to_owned(),
        };
        format!(
            "refused the authentication challenge of vault `{vault}`: it asks for a token of tenant `{tenant}`, but the {} credential signs in to {own} and no token was requested for another (allow it with AzureKeyVaultBuilder::additionally_allowed_tenants, `*` for any)",
            credential.kind()
        )
    }
}
