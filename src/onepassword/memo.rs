//! A keyed memo with single-flight: concurrent callers of one key share one fetch, and a
//! successful result is kept for a TTL (zero keeps nothing and only shares fetches under way).
//! The provider uses it for vault and item listings (name-to-ID maps) and for item fetches.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::time::Instant;

use crate::provider::ProviderError;

pub(crate) type SharedFetch<V> = Shared<BoxFuture<'static, Result<V, Arc<ProviderError>>>>;

enum Slot<V> {
    Ready { expires_at: Instant, value: V },
    Pending { id: u64, fetch: SharedFetch<V> },
}

pub(crate) struct Memo<K, V> {
    ttl: Duration,
    state: Mutex<(HashMap<K, Slot<V>>, u64)>,
}

impl<K, V> Memo<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Memo {
            ttl,
            state: Mutex::new((HashMap::new(), 0)),
        })
    }

    fn state(&self) -> MutexGuard<'_, (HashMap<K, Slot<V>>, u64)> {
        // Updates are single inserts and removes: a poisoned lock holds consistent data.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value of `key`: kept, under way, or fetched now with `fetch`.
    pub(crate) async fn get(
        self: &Arc<Self>,
        key: K,
        fetch: impl FnOnce() -> BoxFuture<'static, Result<V, ProviderError>>,
    ) -> Result<V, Arc<ProviderError>> {
        let shared = {
            let mut state = self.state();
            match state.0.get(&key) {
                Some(Slot::Ready { expires_at, value }) if *expires_at > Instant::now() => {
                    return Ok(value.clone());
                }
                Some(Slot::Pending { fetch, .. }) => fetch.clone(),
                _ => {
                    let id = state.1;
                    state.1 += 1;
                    let memo: Weak<Self> = Arc::downgrade(self);
                    let slot_key = key.clone();
                    let shared = fetch()
                        .map(move |result| {
                            let result = result.map_err(Arc::new);
                            if let Some(memo) = memo.upgrade() {
                                memo.settle(&slot_key, id, &result);
                            }
                            result
                        })
                        .boxed()
                        .shared();
                    state.0.insert(
                        key,
                        Slot::Pending {
                            id,
                            fetch: shared.clone(),
                        },
                    );
                    shared
                }
            }
        };
        shared.await
    }

    fn settle(&self, key: &K, id: u64, result: &Result<V, Arc<ProviderError>>) {
        let mut state = self.state();
        if !matches!(state.0.get(key), Some(Slot::Pending { id: pending, .. }) if *pending == id) {
            return;
        }
        match result {
            Ok(value) if !self.ttl.is_zero() => {
                let slot = Slot::Ready {
                    expires_at: Instant::now() + self.ttl,
                    value: value.clone(),
                };
                state.0.insert(key.clone(), slot);
            }
            _ => {
                state.0.remove(key);
            }
        }
    }

    /// Forgets every kept value (fetches under way finish but are not kept).
    pub(crate) fn clear(&self) {
        self.state().0.clear();
    }
}
