//! Items and files of the Connect transport: each item fetched once however many
//! references (and concurrent batches) need it, and each file's content downloaded once per
//! batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::join_all;
use zeroize::Zeroizing;

use super::client::Client;
use super::lookup::ItemKey;
use crate::onepassword::error::error;
use crate::onepassword::wire::{self, Item};
use crate::provider::ProviderErrorKind;
use crate::provider::memo::{Memo, Outcome};

/// A file of an item: the item's key and the file's ID.
pub(super) type FileKey = (ItemKey, String);

/// Item fetches: shared while under way, never kept (an item holds values, and values are
/// the vault's to cache).
pub(super) struct Items {
    client: Arc<Client>,
    fetches: Arc<Memo<ItemKey, Arc<Item>>>,
}

impl Items {
    pub(super) fn new(client: Arc<Client>) -> Self {
        Items {
            client,
            fetches: Memo::new(Duration::ZERO),
        }
    }

    /// Forgets every fetch under way: they answer their own callers, and a later call
    /// fetches anew rather than joining one of them.
    pub(super) fn clear(&self) {
        self.fetches.clear();
    }

    /// Each item of `keys`, archived or not, fetched at once.
    pub(super) async fn fetch(&self, keys: Vec<ItemKey>) -> HashMap<ItemKey, Outcome<Arc<Item>>> {
        join_all(keys.into_iter().map(|key| async move {
            let item = self.item(&key).await;
            (key, item)
        }))
        .await
        .into_iter()
        .collect()
    }

    /// `GET /v1/vaults/{vault}/items/{item}`, joining a fetch of it under way.
    async fn item(&self, key: &ItemKey) -> Outcome<Arc<Item>> {
        let client = Arc::clone(&self.client);
        let (vault, item) = key.clone();
        self.fetches
            .get(key.clone(), move || {
                async move {
                    let path = ["vaults", vault.as_str(), "items", item.as_str()];
                    let item: Item = client.get_json(&path, "the item").await?;
                    Ok(Arc::new(item))
                }
                .boxed()
            })
            .await
    }

    /// The content of each file of `files`, downloaded at once.
    pub(super) async fn contents(
        &self,
        files: Vec<FileKey>,
    ) -> HashMap<FileKey, Outcome<Zeroizing<Vec<u8>>>> {
        join_all(files.into_iter().map(|key| async move {
            let ((vault, item), file) = &key;
            let path = ["vaults", vault, "items", item, "files", file, "content"];
            let content = self.client.get(&path).await.map_err(Arc::new);
            (key, content)
        }))
        .await
        .into_iter()
        .collect()
    }
}

/// The item, unless it is archived or deleted (1Password ignores those).
pub(super) fn active(item: Arc<Item>) -> Outcome<Arc<Item>> {
    if wire::is_inactive(item.state.as_deref()) {
        return Err(Arc::new(error(
            ProviderErrorKind::NotFound,
            format!("item `{}` ({}) is archived", item.title, item.id),
        )));
    }
    Ok(item)
}
