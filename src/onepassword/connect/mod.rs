//! The Connect server transport: 1Password's REST API (`/v1/vaults`, items, files).
//!
//! A batch is resolved in phases, so that each request is made once however many references
//! need it: the vault listing (one, cached for the TTL) maps vault names to IDs; one item
//! listing per vault (cached) maps item titles to IDs; each distinct item is fetched once;
//! then each reference picks its field or file, and file contents are downloaded once each.
//! Concurrent batches share listings and item fetches under way.
//!
//! IDs skip the listings: a segment shaped like an ID (26 characters `[a-z0-9]`) is used as
//! one, which costs nothing more for real IDs. When the server answers 404 for it, the
//! segment may be a title shaped like an ID, as the Connect SDKs allow: the vault listing
//! (for a vault segment) and the vault's item listing (for an item segment) are searched,
//! by ID first and then by name, and what they name is fetched. That costs one request more
//! than naming the item by a plain title (the 404), and the listings are then kept. Listing
//! first instead would cost every real ID a listing; 403 answers (a vault outside the
//! token's scope) are not retried by title.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::join_all;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use url::Url;
use zeroize::Zeroizing;

use super::api;
use super::reference::{SecretReference, Segment};
use super::select::{Selected, file_text, select};
use super::{PROVIDER_ID, error, reference_error};

mod lookup;
use crate::provider::batch::Slots;
use crate::provider::http::{Http, Outgoing, Reply, is_transient_status};
use crate::provider::memo::Memo;
use crate::provider::{ProviderError, ProviderErrorKind, strip_ref_prefix};

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

type Outcome<T> = Result<T, Arc<ProviderError>>;
type ItemKey = (String, String);

/// Settings the Connect transport is built with.
pub(crate) struct ConnectSettings {
    pub(crate) http: Http,
    pub(crate) concurrency: usize,
    pub(crate) cache_ttl: Duration,
    /// Whether the listings' TTL follows the vault's once attached (none was set).
    pub(crate) follow_vault_ttl: bool,
}

pub(crate) struct Connect {
    http: Http,
    host: String,
    base: Url,
    token: RwLock<SecretString>,
    follow_vault_ttl: bool,
    requests: Semaphore,
    vaults: Arc<Memo<(), Arc<Vec<api::Vault>>>>,
    listings: Arc<Memo<String, Arc<Vec<api::ItemSummary>>>>,
    items: Arc<Memo<ItemKey, Arc<api::Item>>>,
}

impl Connect {
    pub(crate) fn new(
        host: &str,
        token: SecretString,
        settings: ConnectSettings,
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
        settings.http.scrubber().add(&token);
        Ok(Connect {
            http: settings.http,
            host: trimmed.to_owned(),
            base,
            token: RwLock::new(token),
            follow_vault_ttl: settings.follow_vault_ttl,
            requests: Semaphore::new(settings.concurrency.max(1)),
            vaults: Memo::new(settings.cache_ttl),
            listings: Memo::new(settings.cache_ttl),
            items: Memo::new(Duration::ZERO),
        })
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn reauthenticate(&self, token: SecretString) -> Result<(), ProviderError> {
        check_token(&token)?;
        self.http.scrubber().add(&token);
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = token;
        self.clear_cache();
        Ok(())
    }

    /// Keeps listings for `ttl` from now on, unless the builder set a TTL of its own.
    pub(crate) fn follow_ttl(&self, ttl: Duration) {
        if self.follow_vault_ttl {
            self.vaults.set_ttl(ttl);
            self.listings.set_ttl(ttl);
        }
    }

    /// Forgets the listings and every item fetch under way: a resolve that starts after this
    /// returns never joins a fetch begun before it (which still answers its own callers).
    pub(crate) fn clear_cache(&self) {
        self.vaults.clear();
        self.listings.clear();
        self.items.clear();
    }

    /// Reachability (`/heartbeat`), then credentials (`/v1/vaults`).
    pub(crate) async fn check(&self) -> Result<(), ProviderError> {
        let heartbeat = self.base.join("../heartbeat").map_err(|_| {
            error(
                ProviderErrorKind::Configuration,
                "cannot build the heartbeat URL".to_owned(),
            )
        })?;
        self.fetch(heartbeat, false).await?;
        self.get("vaults").await.map(drop)
    }

    /// Resolves a batch of references, one result each, in order.
    pub(crate) async fn resolve_all(
        self: &Arc<Self>,
        references: &[&str],
    ) -> Vec<Result<SecretString, ProviderError>> {
        let parsed: Vec<Result<SecretReference, ProviderError>> = references
            .iter()
            .map(|r| SecretReference::parse(strip_ref_prefix(r)).map_err(reference_error))
            .collect();

        // Phase 1: vault names to IDs.
        let vault_segments = distinct(parsed.iter().flatten().map(|r| r.vault()));
        let vault_ids: HashMap<String, Outcome<String>> =
            join_all(vault_segments.into_iter().map(|segment| {
                let this = Arc::clone(self);
                async move {
                    (
                        segment.as_str().to_ascii_lowercase(),
                        this.vault_id(&segment).await,
                    )
                }
            }))
            .await
            .into_iter()
            .collect();
        let vault_of =
            |r: &SecretReference| vault_ids[&r.vault().as_str().to_ascii_lowercase()].clone();

        // Phase 2: item titles to IDs.
        let mut item_lookups: Vec<(String, Segment)> = Vec::new();
        for reference in parsed.iter().flatten() {
            if let Ok(vault) = vault_of(reference) {
                let key = (vault, reference.item().clone());
                if !item_lookups
                    .iter()
                    .any(|(v, s)| *v == key.0 && s.matches(key.1.as_str()))
                {
                    item_lookups.push(key);
                }
            }
        }
        let item_ids: Vec<((String, String), Outcome<String>)> =
            join_all(item_lookups.into_iter().map(|(vault, segment)| {
                let this = Arc::clone(self);
                async move {
                    let id = this.item_id(&vault, &segment).await;
                    ((vault, segment.as_str().to_ascii_lowercase()), id)
                }
            }))
            .await;
        let item_ids: HashMap<(String, String), Outcome<String>> = item_ids.into_iter().collect();
        let item_of = |r: &SecretReference| -> Outcome<ItemKey> {
            let vault = vault_of(r)?;
            let item =
                item_ids[&(vault.clone(), r.item().as_str().to_ascii_lowercase())].clone()?;
            Ok((vault, item))
        };

        // Phase 3: each distinct item, once.
        let mut wanted_items: Vec<ItemKey> = Vec::new();
        for reference in parsed.iter().flatten() {
            if let Ok(key) = item_of(reference)
                && !wanted_items.contains(&key)
            {
                wanted_items.push(key);
            }
        }
        let mut items = self.fetch_items(wanted_items).await;

        // Phase 3b: a segment shaped like an ID that matched no ID is a title (as the
        // Connect SDKs treat it): look the pair up in the listings, then fetch what it names.
        let segments = |r: &SecretReference| {
            (
                r.vault().as_str().to_ascii_lowercase(),
                r.item().as_str().to_ascii_lowercase(),
            )
        };
        let mut relocate: Vec<(Segment, Segment)> = Vec::new();
        for reference in parsed.iter().flatten() {
            let missed = item_of(reference)
                .and_then(|key| items[&key].clone().map(drop))
                .is_err_and(|e| e.kind() == ProviderErrorKind::NotFound);
            if missed
                && (reference.vault().is_id() || reference.item().is_id())
                && !relocate.iter().any(|(v, i)| {
                    v.matches(reference.vault().as_str()) && i.matches(reference.item().as_str())
                })
            {
                relocate.push((reference.vault().clone(), reference.item().clone()));
            }
        }
        let relocated: HashMap<(String, String), Outcome<ItemKey>> =
            join_all(relocate.into_iter().map(|(vault, item)| {
                let this = Arc::clone(self);
                let tentative = vault_ids[&vault.as_str().to_ascii_lowercase()].clone();
                async move {
                    let key = this.relocate(&vault, &item, tentative).await;
                    (
                        (
                            vault.as_str().to_ascii_lowercase(),
                            item.as_str().to_ascii_lowercase(),
                        ),
                        key,
                    )
                }
            }))
            .await
            .into_iter()
            .collect();
        let mut more: Vec<ItemKey> = Vec::new();
        for key in relocated.values().flatten() {
            if !items.contains_key(key) && !more.contains(key) {
                more.push(key.clone());
            }
        }
        items.extend(self.fetch_items(more).await);
        let item_of = |r: &SecretReference| -> Outcome<ItemKey> {
            relocated
                .get(&segments(r))
                .cloned()
                .unwrap_or_else(|| item_of(r))
        };
        let items: HashMap<ItemKey, Outcome<Arc<api::Item>>> = items
            .into_iter()
            .map(|(key, item)| (key, item.and_then(active)))
            .collect();

        // Phase 4: pick fields and files; download each wanted file once.
        let mut results = Slots::new(parsed.len());
        let mut downloads: Vec<(usize, ItemKey, String)> = Vec::new();
        for (index, (raw, reference)) in references.iter().zip(&parsed).enumerate() {
            let outcome = match reference {
                Err(error) => Err(error.duplicate()),
                Ok(reference) => {
                    match item_of(reference).and_then(|key| Ok((items[&key].clone()?, key))) {
                        Err(error) => Err(error.duplicate()),
                        Ok((item, key)) => match select(&item, reference) {
                            Ok(Selected::Text(value)) => Ok(value),
                            Ok(Selected::FileContent(file)) => {
                                downloads.push((index, key, file.id.clone()));
                                continue;
                            }
                            Err(error) => Err(error),
                        },
                    }
                }
            };
            results.set(index, outcome.map_err(|e| e.with_reference(*raw)));
        }
        let mut wanted_files: Vec<(ItemKey, String)> = Vec::new();
        for (_, key, file) in &downloads {
            let wanted = (key.clone(), file.clone());
            if !wanted_files.contains(&wanted) {
                wanted_files.push(wanted);
            }
        }
        let files: HashMap<(ItemKey, String), Outcome<Zeroizing<Vec<u8>>>> =
            join_all(wanted_files.into_iter().map(|(key, file)| {
                let this = Arc::clone(self);
                async move {
                    let path = format!(
                        "vaults/{}/items/{}/files/{}/content",
                        seg(&key.0),
                        seg(&key.1),
                        seg(&file)
                    );
                    let content = this.get(&path).await.map_err(Arc::new);
                    ((key, file), content)
                }
            }))
            .await
            .into_iter()
            .collect();
        for (index, key, file_id) in downloads {
            let item = items[&key].clone().ok();
            let file = item
                .as_ref()
                .and_then(|item| item.files.iter().find(|f| f.id == file_id));
            let outcome = match (&files[&(key.clone(), file_id.clone())], file) {
                (Ok(bytes), Some(file)) => file_text(file, bytes),
                (Err(error), _) => Err(error.duplicate()),
                (Ok(_), None) => Err(error(
                    ProviderErrorKind::Protocol,
                    "the file vanished from its item".to_owned(),
                )),
            };
            results.set(
                index,
                outcome.map_err(|e| e.with_reference(references[index])),
            );
        }
        results.finish_or_missing(PROVIDER_ID, references)
    }

    /// Fetches each item once (concurrent batches share fetches under way).
    async fn fetch_items(
        self: &Arc<Self>,
        keys: Vec<ItemKey>,
    ) -> HashMap<ItemKey, Outcome<Arc<api::Item>>> {
        join_all(keys.into_iter().map(|key| {
            let this = Arc::clone(self);
            async move {
                let item = this.item(&key).await;
                (key, item)
            }
        }))
        .await
        .into_iter()
        .collect()
    }

    /// `GET /v1/vaults/{vault}/items/{item}`, archived or not.
    async fn item(self: &Arc<Self>, key: &ItemKey) -> Outcome<Arc<api::Item>> {
        let this = Arc::clone(self);
        let path = format!("vaults/{}/items/{}", seg(&key.0), seg(&key.1));
        self.items
            .get(key.clone(), move || {
                async move {
                    let body = this.get(&path).await?;
                    parse_json::<api::Item>(&body, "the item").map(Arc::new)
                }
                .boxed()
            })
            .await
    }

    /// `GET /v1/<path>` with the token, retried per the policy.
    async fn get(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let url = self.base.join(path).map_err(|_| {
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
                is_transient_status(reply.status).then(|| failure(reply))
            })
            .await?;
        if reply.is_success() {
            return Ok(reply.body);
        }
        Err(failure(&reply))
    }
}

/// The error of a non-2xx answer, with Connect's message (`{"status": 404, "message": …}`).
fn failure(reply: &Reply) -> ProviderError {
    let message = serde_json::from_slice::<api::ErrorBody>(&reply.body)
        .map(|b| b.message)
        .unwrap_or_default();
    reply.error(PROVIDER_ID, &message)
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

fn seg(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ProviderError> {
    crate::provider::http::parse_json(PROVIDER_ID, body, what)
}

/// The item, unless it is archived or deleted (1Password ignores those).
fn active(item: Arc<api::Item>) -> Outcome<Arc<api::Item>> {
    if api::is_inactive(item.state.as_deref()) {
        return Err(Arc::new(error(
            ProviderErrorKind::NotFound,
            format!("item `{}` ({}) is archived", item.title, item.id),
        )));
    }
    Ok(item)
}

/// The distinct segments (compared case-insensitively), in order of first appearance.
fn distinct<'a>(segments: impl Iterator<Item = &'a Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for segment in segments {
        if !out.iter().any(|s| s.matches(segment.as_str())) {
            out.push(segment.clone());
        }
    }
    out
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}
