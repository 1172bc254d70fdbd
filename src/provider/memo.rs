//! A keyed memo with single-flight: concurrent callers of one key share one fetch, and a
//! successful result is kept for a TTL (zero keeps nothing and only shares fetches under way;
//! a huge one keeps values until cleared). A fetch may also cap its own value's lifetime
//! (a lease). Providers use it for name-to-ID listings, sessions and tokens, and for
//! fetches that concurrent batches share.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::time::Instant;

use super::ProviderError;

pub(crate) type SharedFetch<V> = Shared<BoxFuture<'static, Result<V, Arc<ProviderError>>>>;

enum Slot<V> {
    Ready { expires_at: Instant, value: V },
    Pending { id: u64, fetch: SharedFetch<V> },
}

pub(crate) struct Memo<K, V> {
    ttl: Mutex<Duration>,
    state: Mutex<(HashMap<K, Slot<V>>, u64)>,
}

impl<K, V> Memo<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Memo {
            ttl: Mutex::new(ttl),
            state: Mutex::new((HashMap::new(), 0)),
        })
    }

    /// How long values are kept.
    pub(crate) fn ttl(&self) -> Duration {
        *self
            .ttl
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes how long values fetched from now on are kept (a provider following the
    /// vault's TTL once it is attached). Values kept already keep their expiry.
    pub(crate) fn set_ttl(&self, ttl: Duration) {
        *self
            .ttl
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = ttl;
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
        self.get_leased(key, move || {
            fetch()
                .map(|result| result.map(|value| (value, None)))
                .boxed()
        })
        .await
    }

    /// As [`get`](Self::get), for a fetch that also says how long its value may be kept at
    /// most (the shorter of that and the memo's TTL applies).
    pub(crate) async fn get_leased(
        self: &Arc<Self>,
        key: K,
        fetch: impl FnOnce() -> BoxFuture<'static, Result<(V, Option<Duration>), ProviderError>>,
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
                            result.map(|(value, _)| value)
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

    fn settle(&self, key: &K, id: u64, result: &Result<(V, Option<Duration>), Arc<ProviderError>>) {
        let mut state = self.state();
        if !matches!(state.0.get(key), Some(Slot::Pending { id: pending, .. }) if *pending == id) {
            return;
        }
        let ttl = match result {
            Ok((_, Some(max_age))) => self.ttl().min(*max_age),
            _ => self.ttl(),
        };
        match result {
            Ok((value, _)) if !ttl.is_zero() => {
                let slot = Slot::Ready {
                    expires_at: expiry(ttl),
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
        let slots = std::mem::take(&mut self.state().0);
        drop(slots); // values dropped outside the lock
    }

    /// Forgets the kept value of `key`, so that the next `get` fetches it again.
    pub(crate) fn forget(&self, key: &K) {
        let mut state = self.state();
        if matches!(state.0.get(key), Some(Slot::Ready { .. })) {
            let slot = state.0.remove(key);
            drop(state);
            drop(slot);
        }
    }
}

/// The instant `ttl` from now, saturating: a TTL too large for the clock means "until
/// cleared", never a panic.
pub(crate) fn expiry(ttl: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 60 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(
        calls: &Arc<AtomicUsize>,
        max_age: Option<Duration>,
    ) -> impl FnOnce() -> BoxFuture<'static, Result<(u32, Option<Duration>), ProviderError>> + use<>
    {
        let calls = Arc::clone(calls);
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) as u32;
            async move { Ok((n, max_age)) }.boxed()
        }
    }

    #[tokio::test]
    async fn a_huge_ttl_keeps_the_value_without_panicking() {
        let memo = Memo::<u8, u32>::new(Duration::MAX);
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(memo.get_leased(1, counting(&calls, None)).await.unwrap(), 0);
        assert_eq!(memo.get_leased(1, counting(&calls, None)).await.unwrap(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_shortens_the_ttl() {
        let memo = Memo::<u8, u32>::new(Duration::from_secs(3600));
        let calls = Arc::new(AtomicUsize::new(0));
        let lease = Some(Duration::from_secs(10));
        memo.get_leased(1, counting(&calls, lease)).await.unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        memo.get_leased(1, counting(&calls, lease)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "kept within the lease");
        tokio::time::advance(Duration::from_secs(6)).await;
        memo.get_leased(1, counting(&calls, lease)).await.unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "fetched again after the lease"
        );
    }

    #[tokio::test]
    async fn set_ttl_applies_to_later_fetches() {
        let memo = Memo::<u8, u32>::new(Duration::ZERO);
        let calls = Arc::new(AtomicUsize::new(0));
        memo.get_leased(1, counting(&calls, None)).await.unwrap();
        memo.set_ttl(Duration::from_secs(60));
        assert_eq!(memo.ttl(), Duration::from_secs(60));
        memo.get_leased(1, counting(&calls, None)).await.unwrap();
        memo.get_leased(1, counting(&calls, None)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn forget_drops_one_key() {
        let memo = Memo::<u8, u32>::new(Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        memo.get_leased(1, counting(&calls, None)).await.unwrap();
        memo.forget(&1);
        memo.get_leased(1, counting(&calls, None)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
