//! Name-to-ID lookups of the Connect transport: vault and item segments to IDs through the
//! listings (`/v1/vaults`, `/v1/vaults/{id}/items`, each kept for the TTL), and the second
//! look, by title, for segments shaped like IDs that matched no ID.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;

use super::client::Client;
use crate::onepassword::error::error;
use crate::onepassword::reference::Segment;
use crate::onepassword::wire;
use crate::provider::ProviderErrorKind;
use crate::provider::memo::{Memo, Outcome};

/// Where an item is: its vault's ID and its own.
pub(super) type ItemKey = (String, String);

/// The vault listing and each vault's item listing, fetched once each and kept for the TTL.
pub(super) struct Listings {
    client: Arc<Client>,
    vaults: Arc<Memo<(), Arc<Vec<wire::Vault>>>>,
    items: Arc<Memo<String, Arc<Vec<wire::ItemSummary>>>>,
}

impl Listings {
    pub(super) fn new(client: Arc<Client>, ttl: Duration) -> Self {
        Listings {
            client,
            vaults: Memo::new(ttl),
            items: Memo::new(ttl),
        }
    }

    /// Keeps listings fetched from now on for `ttl`.
    pub(super) fn set_ttl(&self, ttl: Duration) {
        self.vaults.set_ttl(ttl);
        self.items.set_ttl(ttl);
    }

    /// Forgets every listing, and every listing fetch under way.
    pub(super) fn clear(&self) {
        self.vaults.clear();
        self.items.clear();
    }

    /// A vault's ID: a segment shaped like an ID stands for itself (no request) until the
    /// server says there is no such vault; a name is looked up in the vault listing.
    pub(super) async fn vault_id(&self, segment: &Segment) -> Outcome<String> {
        if segment.is_id() {
            return Ok(segment.as_str().to_owned());
        }
        self.vault_in_listing(segment).await
    }

    /// An item's ID in `vault`: as [`vault_id`](Self::vault_id), with the vault's item
    /// listing.
    pub(super) async fn item_id(&self, vault: &str, segment: &Segment) -> Outcome<String> {
        if segment.is_id() {
            return Ok(segment.as_str().to_owned());
        }
        self.item_in_listing(vault, segment).await
    }

    /// Where a reference whose ID-shaped vault or item segment matched no ID really points:
    /// each such segment looked up in its listing, by ID and then by name. `tentative` is
    /// what the first look made of the vault segment.
    pub(super) async fn relocate(
        &self,
        vault: &Segment,
        item: &Segment,
        tentative: Outcome<String>,
    ) -> Outcome<ItemKey> {
        let vault_id = if vault.is_id() {
            self.vault_in_listing(vault).await?
        } else {
            tentative?
        };
        let item_id = self.item_in_listing(&vault_id, item).await?;
        Ok((vault_id, item_id))
    }

    /// The vault the listing names `segment`: the one with that ID, or else the one with
    /// that name (case-insensitively).
    async fn vault_in_listing(&self, segment: &Segment) -> Outcome<String> {
        let client = Arc::clone(&self.client);
        let vaults = self
            .vaults
            .get((), move || {
                async move {
                    let vaults = client.get_json(&["vaults"], "the vault list").await?;
                    Ok(Arc::new(vaults))
                }
                .boxed()
            })
            .await?;
        let mut matches: Vec<&wire::Vault> = vaults.iter().filter(|v| v.id == **segment).collect();
        if matches.is_empty() {
            matches = vaults.iter().filter(|v| segment.matches(&v.name)).collect();
        }
        one_of(
            matches,
            |v| &v.id,
            || format!("no vault named `{segment}` is accessible with this token"),
            || format!("several vaults are named `{segment}`"),
        )
    }

    /// The item of `vault`'s listing that `segment` names: the one with that ID, or else the
    /// active one with that title (case-insensitively).
    async fn item_in_listing(&self, vault: &str, segment: &Segment) -> Outcome<String> {
        let client = Arc::clone(&self.client);
        let vault_id = vault.to_owned();
        let items = self
            .items
            .get(vault.to_owned(), move || {
                async move {
                    let path = ["vaults", vault_id.as_str(), "items"];
                    let items = client.get_json(&path, "the item list").await?;
                    Ok(Arc::new(items))
                }
                .boxed()
            })
            .await?;
        let mut matches: Vec<&wire::ItemSummary> =
            items.iter().filter(|item| item.id == **segment).collect();
        if matches.is_empty() {
            matches = items
                .iter()
                .filter(|item| item.is_active() && segment.matches(&item.title))
                .collect();
        }
        one_of(
            matches,
            |i| &i.id,
            || format!("no item named `{segment}` in vault {vault}"),
            || format!("several items are named `{segment}` in vault {vault}"),
        )
    }
}

/// The one match's ID, or NotFound / Ambiguous listing the candidates.
fn one_of<T>(
    matches: Vec<&T>,
    id: impl Fn(&T) -> &String,
    none: impl FnOnce() -> String,
    several: impl FnOnce() -> String,
) -> Outcome<String> {
    match matches.as_slice() {
        [one] => Ok(id(one).clone()),
        [] => Err(Arc::new(error(ProviderErrorKind::NotFound, none()))),
        many => Err(Arc::new(
            error(ProviderErrorKind::Ambiguous, several())
                .with_candidates(many.iter().map(|m| id(m).clone()).collect()),
        )),
    }
}
