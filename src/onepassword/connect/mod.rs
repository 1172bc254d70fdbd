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
//!
//! Files: [`client`] speaks HTTP, [`lookup`] holds the listings, [`items`] the item fetches
//! and file downloads; this one plans a batch through them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use secrecy::SecretString;

use crate::onepassword::error::{PROVIDER_ID, error};
use crate::onepassword::reference::{SecretReference, Segment};
use crate::onepassword::select::{Selected, file_text, select};
use crate::onepassword::wire::Item;
use crate::provider::batch::Slots;
use crate::provider::http::Http;
use crate::provider::memo::Outcome;
use crate::provider::{ProviderError, ProviderErrorKind, strip_ref_prefix};

mod client;
mod items;
mod lookup;

use client::Client;
use items::{FileKey, Items, active};
use lookup::{ItemKey, Listings};

/// Settings the Connect transport is built with.
pub(crate) struct ConnectSettings {
    pub(crate) http: Http,
    pub(crate) concurrency: usize,
    pub(crate) cache_ttl: Duration,
    /// Whether the listings' TTL follows the vault's once attached (none was set).
    pub(crate) follow_vault_ttl: bool,
}

pub(crate) struct Connect {
    client: Arc<Client>,
    listings: Listings,
    items: Items,
    follow_vault_ttl: bool,
}

/// A vault and an item segment, lower-cased: how a reference's item is named.
type Names = (String, String);

/// Each result of a batch: a reference's parse, in order.
type Parsed = Vec<Result<SecretReference, ProviderError>>;

/// Items by key, archived ones as NotFound.
type Fetched = HashMap<ItemKey, Outcome<Arc<Item>>>;

/// The results of a batch, filled as they come.
type Results = Slots<Result<SecretString, ProviderError>>;

/// A reference waiting for a file's content: its index in the batch, and the file.
type Download = (usize, FileKey);

/// Where the first phases put each reference's item.
struct Located {
    vault_ids: HashMap<String, Outcome<String>>,
    item_ids: HashMap<(String, String), Outcome<String>>,
    /// Where the references whose ID-shaped segments matched no ID point instead.
    relocated: HashMap<Names, Outcome<ItemKey>>,
}

impl Located {
    fn vault_of(&self, reference: &SecretReference) -> Outcome<String> {
        self.vault_ids[&lower(reference.vault())].clone()
    }

    /// The item a reference names, as the listings (or its IDs) put it.
    fn listed_item_of(&self, reference: &SecretReference) -> Outcome<ItemKey> {
        let vault = self.vault_of(reference)?;
        let item = self.item_ids[&(vault.clone(), lower(reference.item()))].clone()?;
        Ok((vault, item))
    }

    /// The item a reference names, after the second look by title.
    fn item_of(&self, reference: &SecretReference) -> Outcome<ItemKey> {
        match self.relocated.get(&names(reference)) {
            Some(key) => key.clone(),
            None => self.listed_item_of(reference),
        }
    }
}

impl Connect {
    pub(crate) fn new(
        host: &str,
        token: SecretString,
        settings: ConnectSettings,
    ) -> Result<Self, ProviderError> {
        let client = Arc::new(Client::new(
            host,
            token,
            settings.http,
            settings.concurrency,
        )?);
        Ok(Connect {
            listings: Listings::new(Arc::clone(&client), settings.cache_ttl),
            items: Items::new(Arc::clone(&client)),
            client,
            follow_vault_ttl: settings.follow_vault_ttl,
        })
    }

    pub(crate) fn host(&self) -> &str {
        self.client.host()
    }

    pub(crate) fn reauthenticate(&self, token: SecretString) -> Result<(), ProviderError> {
        self.client.set_token(token)?;
        self.clear_cache();
        Ok(())
    }

    /// Keeps listings for `ttl` from now on, unless the builder set a TTL of its own.
    pub(crate) fn follow_ttl(&self, ttl: Duration) {
        if self.follow_vault_ttl {
            self.listings.set_ttl(ttl);
        }
    }

    /// Forgets the listings and every item fetch under way: a resolve that starts after this
    /// returns never joins a fetch begun before it (which still answers its own callers).
    pub(crate) fn clear_cache(&self) {
        self.listings.clear();
        self.items.clear();
    }

    /// Reachability (`/heartbeat`), then credentials (`/v1/vaults`).
    pub(crate) async fn check(&self) -> Result<(), ProviderError> {
        self.client.check().await
    }

    /// Resolves a batch of references, one result each, in order.
    pub(crate) async fn resolve_all(
        &self,
        references: &[&str],
    ) -> Vec<Result<SecretString, ProviderError>> {
        let parsed: Parsed = references
            .iter()
            .map(|r| SecretReference::parse(strip_ref_prefix(r)).map_err(ProviderError::from))
            .collect();
        let vault_ids = self.vault_ids(&parsed).await;
        let item_ids = self.item_ids(&parsed, &vault_ids).await;
        let mut located = Located {
            vault_ids,
            item_ids,
            relocated: HashMap::new(),
        };
        let wanted = distinct_keys(parsed.iter().flatten().map(|r| located.listed_item_of(r)));
        let mut items = self.items.fetch(wanted).await;
        located.relocated = self.relocate(&parsed, &located, &items).await;
        let more = distinct_keys(located.relocated.values().cloned())
            .into_iter()
            .filter(|key| !items.contains_key(key))
            .collect();
        items.extend(self.items.fetch(more).await);
        let items: Fetched = items
            .into_iter()
            .map(|(key, item)| (key, item.and_then(active)))
            .collect();
        let (mut results, downloads) = pick(references, &parsed, &located, &items);
        self.download(references, downloads, &items, &mut results)
            .await;
        results.finish_or_missing(PROVIDER_ID, references)
    }

    /// Phase 1: each distinct vault segment to its ID.
    async fn vault_ids(&self, parsed: &Parsed) -> HashMap<String, Outcome<String>> {
        let segments = distinct(parsed.iter().flatten().map(|r| r.vault()));
        join_all(segments.into_iter().map(|segment| async move {
            (lower(&segment), self.listings.vault_id(&segment).await)
        }))
        .await
        .into_iter()
        .collect()
    }

    /// Phase 2: each distinct item segment, in its vault, to its ID.
    async fn item_ids(
        &self,
        parsed: &Parsed,
        vault_ids: &HashMap<String, Outcome<String>>,
    ) -> HashMap<(String, String), Outcome<String>> {
        let mut lookups: Vec<(String, Segment)> = Vec::new();
        for reference in parsed.iter().flatten() {
            let Ok(vault) = vault_ids[&lower(reference.vault())].clone() else {
                continue;
            };
            let item = reference.item();
            if !lookups
                .iter()
                .any(|(v, s)| *v == vault && s.matches(item.as_str()))
            {
                lookups.push((vault, item.clone()));
            }
        }
        join_all(lookups.into_iter().map(|(vault, segment)| async move {
            let id = self.listings.item_id(&vault, &segment).await;
            ((vault, lower(&segment)), id)
        }))
        .await
        .into_iter()
        .collect()
    }

    /// Phase 3b: a segment shaped like an ID that matched no ID is a title (as the Connect
    /// SDKs treat it): each such vault and item pair looked up in the listings.
    async fn relocate(
        &self,
        parsed: &Parsed,
        located: &Located,
        items: &Fetched,
    ) -> HashMap<Names, Outcome<ItemKey>> {
        let mut relocate: Vec<(Segment, Segment)> = Vec::new();
        for reference in parsed.iter().flatten() {
            let missed = located
                .listed_item_of(reference)
                .and_then(|key| items[&key].clone().map(drop))
                .is_err_and(|e| e.kind() == ProviderErrorKind::NotFound);
            let (vault, item) = (reference.vault(), reference.item());
            if missed
                && (vault.is_id() || item.is_id())
                && !relocate
                    .iter()
                    .any(|(v, i)| v.matches(vault.as_str()) && i.matches(item.as_str()))
            {
                relocate.push((vault.clone(), item.clone()));
            }
        }
        join_all(relocate.into_iter().map(|(vault, item)| async move {
            let tentative = located.vault_ids[&lower(&vault)].clone();
            let key = self.listings.relocate(&vault, &item, tentative).await;
            ((lower(&vault), lower(&item)), key)
        }))
        .await
        .into_iter()
        .collect()
    }

    /// Phase 5: each wanted file's content downloaded once, given to the references that
    /// picked it.
    async fn download(
        &self,
        references: &[&str],
        downloads: Vec<Download>,
        items: &Fetched,
        results: &mut Results,
    ) {
        let mut wanted: Vec<FileKey> = Vec::new();
        for (_, file) in &downloads {
            if !wanted.contains(file) {
                wanted.push(file.clone());
            }
        }
        let contents = self.items.contents(wanted).await;
        for (index, key) in downloads {
            let (item_key, file_id) = &key;
            let item = items[item_key].as_ref().ok();
            let file = item.and_then(|item| item.files.iter().find(|f| f.id == *file_id));
            let outcome = match (&contents[&key], file) {
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
    }
}

/// Phase 4: each reference's field or file picked from its item; the values are set, the
/// files whose content is wanted are returned to download.
fn pick(
    references: &[&str],
    parsed: &Parsed,
    located: &Located,
    items: &Fetched,
) -> (Results, Vec<Download>) {
    let mut results = Slots::new(parsed.len());
    let mut downloads = Vec::new();
    for (index, (raw, reference)) in references.iter().zip(parsed).enumerate() {
        let reference = match reference {
            Ok(reference) => reference,
            Err(error) => {
                results.set(index, Err(error.duplicate().with_reference(*raw)));
                continue;
            }
        };
        let item = located
            .item_of(reference)
            .and_then(|key| Ok((items[&key].clone()?, key)));
        let outcome = match item {
            Err(error) => Err(error.duplicate()),
            Ok((item, key)) => match select(&item, reference) {
                Ok(Selected::Text(value)) => Ok(value),
                Ok(Selected::FileContent(file)) => {
                    downloads.push((index, (key, file.id.clone())));
                    continue;
                }
                Err(error) => Err(error),
            },
        };
        results.set(index, outcome.map_err(|e| e.with_reference(*raw)));
    }
    (results, downloads)
}

/// A segment as a key: 1Password matches names case-insensitively.
fn lower(segment: &Segment) -> String {
    segment.as_str().to_ascii_lowercase()
}

/// A reference's vault and item segments as a key.
fn names(reference: &SecretReference) -> Names {
    (lower(reference.vault()), lower(reference.item()))
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

/// The distinct item keys found, in order of first appearance.
fn distinct_keys(keys: impl Iterator<Item = Outcome<ItemKey>>) -> Vec<ItemKey> {
    let mut out: Vec<ItemKey> = Vec::new();
    for key in keys.flatten() {
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("host", &self.client.host())
            .finish_non_exhaustive()
    }
}
