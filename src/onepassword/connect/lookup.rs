//! Name-to-ID lookups of the Connect transport: vault and item segments to IDs through the
//! cached listings, and the second look, by title, for segments shaped like IDs that
//! matched no ID.

use std::sync::Arc;

use futures_util::FutureExt;

use super::{Connect, ItemKey, Outcome, parse_json, seg};
use crate::onepassword::api;
use crate::onepassword::error;
use crate::onepassword::reference::Segment;
use crate::provider::ProviderErrorKind;

impl Connect {
    /// A vault's ID: a segment shaped like an ID stands for itself (no request) until the
    /// server says there is no such vault; a name is looked up in the vault listing.
    pub(super) async fn vault_id(self: &Arc<Self>, segment: &Segment) -> Outcome<String> {
        if segment.is_id() {
            return Ok(segment.as_str().to_owned());
        }
        self.vault_in_listing(segment).await
    }

    /// The vault the listing names `segment`: the one with that ID, or else the one with
    /// that name (case-insensitively).
    async fn vault_in_listing(self: &Arc<Self>, segment: &Segment) -> Outcome<String> {
        let this = Arc::clone(self);
        let vaults = self
            .vaults
            .get((), move || {
                async move {
                    let body = this.get("vaults").await?;
                    parse_json::<Vec<api::Vault>>(&body, "the vault list").map(Arc::new)
                }
                .boxed()
            })
            .await?;
        let mut matches: Vec<&api::Vault> = vaults.iter().filter(|v| v.id == **segment).collect();
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

    /// An item's ID in `vault`: as [`vault_id`](Self::vault_id), with the vault's item
    /// listing.
    pub(super) async fn item_id(
        self: &Arc<Self>,
        vault: &str,
        segment: &Segment,
    ) -> Outcome<String> {
        if segment.is_id() {
            return Ok(segment.as_str().to_owned());
        }
        self.item_in_listing(vault, segment).await
    }

    /// The item of `vault`'s listing that `segment` names: the one with that ID, or else the
    /// active one with that title (case-insensitively).
    async fn item_in_listing(self: &Arc<Self>, vault: &str, segment: &Segment) -> Outcome<String> {
        let this = Arc::clone(self);
        let path = format!("vaults/{}/items", seg(vault));
        let items = self
            .listings
            .get(vault.to_owned(), move || {
                async move {
                    let body = this.get(&path).await?;
                    parse_json::<Vec<api::ItemSummary>>(&body, "the item list").map(Arc::new)
                }
                .boxed()
            })
            .await?;
        let mut matches: Vec<&api::ItemSummary> =
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

    /// Where a reference whose ID-shaped vault or item segment matched no ID really points:
    /// each such segment looked up in its listing, by ID and then by name. `tentative` is
    /// what phase 1 made of the vault segment.
    pub(super) async fn relocate(
        self: &Arc<Self>,
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
