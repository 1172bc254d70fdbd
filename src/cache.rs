//! The TTL cache of linked values, with single-flight fetching.
//!
//! Each slot is keyed by provider id and reference. A slot is either a value with the
//! instant it expires, or a fetch under way that every concurrent caller awaits together
//! (one provider call however many callers ask). A batch of missing references becomes one
//! provider call whose per-reference results fill the slots as it completes. Values are
//! [`SecretString`]s, zeroized when the last copy drops; errors are never cached.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use secrecy::SecretString;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::provider::{ProviderError, ProviderErrorKind, Resolved};

/// Identifies one cached value: which provider, which reference.
///
/// Its hash is computed once, when the secret is linked, so that a warm lookup does not
/// hash the strings again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheKey {
    pub(crate) provider: String,
    pub(crate) reference: String,
    hash: u64,
}

impl CacheKey {
    pub(crate) fn new(provider: &str, reference: &str) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (provider, reference).hash(&mut hasher);
        CacheKey {
            provider: provider.to_owned(),
            reference: reference.to_owned(),
            hash: hasher.finish(),
        }
    }
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes a [`CacheKey`]'s precomputed hash through.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `CacheKey`; fold anything else in for correctness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// What one fetch produced, as shared between the callers awaiting it.
pub(crate) type Outcome = Result<SecretString, Arc<ProviderError>>;

/// What a batch fetch produces: one result per requested reference, in order, each value
/// with how long it may be cached at most.
pub(crate) type BatchOutcome = Vec<Result<Resolved, ProviderError>>;

/// One reference's result as the batch's callers share it.
type Shareable = Result<Resolved, Arc<ProviderError>>;

type SharedFetch = Shared<BoxFuture<'static, Outcome>>;

enum Slot {
    Ready(Ready),
    Pending { id: u64, fetch: SharedFetch },
}

/// A fetched value and how long it is kept.
struct Ready {
    id: u64,
    value: SecretString,
    fetched_at: SystemTime,
    expires_at: Instant,
    /// The task that drops the value at `expires_at` so that it does not linger in memory;
    /// aborted when the value is dropped earlier (cleared, replaced).
    _timer: Option<ExpiryTimer>,
}

impl Ready {
    /// Freshness is always read off the clock: the timer may run late, the clock may be
    /// paused or advanced by tests, and a value must never outlive its TTL.
    fn is_fresh(&self) -> bool {
        self.expires_at > Instant::now()
    }
}

struct ExpiryTimer(AbortHandle);

impl Drop for ExpiryTimer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A cached value or a fetch to await.
pub(crate) enum Lookup {
    Ready(SecretString),
    Pending(SharedFetch),
}

impl Lookup {
    /// The value, awaiting the fetch when there is one.
    pub(crate) async fn value(self) -> Outcome {
        match self {
            Lookup::Ready(value) => Ok(value),
            Lookup::Pending(fetch) => fetch.await,
        }
    }
}

/// When a cached value was fetched and until when it is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freshness {
    pub(crate) fetched_at: SystemTime,
    pub(crate) cached_until: SystemTime,
}

pub(crate) struct Cache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    slots: HashMap<Arc<CacheKey>, Slot, BuildHasherDefault<KeyHasher>>,
    next_id: u64,
}

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Cache {
            ttl,
            state: Mutex::new(State::default()),
        })
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a slot half-written (every update is
        // a single insert or remove), so a poisoned lock is safe to keep using.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached value of `key`, if there is a fresh one: the fast path of a warm resolve.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<SecretString> {
        match self.state().slots.get(key) {
            Some(Slot::Ready(ready)) if ready.is_fresh() => Some(ready.value.clone()),
            _ => None,
        }
    }

    /// Looks up every key of one provider; the missing ones are fetched together by one
    /// call of `fetch`, which receives the distinct missing references in order.
    ///
    /// Runs no provider code itself: the returned lookups drive the fetch when awaited.
    pub(crate) fn lookup(
        self: &Arc<Self>,
        keys: &[Arc<CacheKey>],
        fetch: impl FnOnce(Vec<String>) -> BoxFuture<'static, BatchOutcome>,
    ) -> Vec<Lookup> {
        let mut state = self.state();
        let mut lookups: Vec<Option<Lookup>> = Vec::with_capacity(keys.len());
        let mut missing: Vec<Arc<CacheKey>> = Vec::new();
        for key in keys {
            lookups.push(match state.slots.get(key) {
                Some(Slot::Ready(ready)) if ready.is_fresh() => {
                    Some(Lookup::Ready(ready.value.clone()))
                }
                Some(Slot::Pending { fetch, .. }) => Some(Lookup::Pending(fetch.clone())),
                _ => {
                    if !missing.contains(key) {
                        missing.push(Arc::clone(key));
                    }
                    None
                }
            });
        }
        if missing.is_empty() {
            return lookups.into_iter().flatten().collect();
        }

        // About to fetch anyway: drop expired values now so they do not linger in memory.
        state.slots.retain(|_, slot| match slot {
            Slot::Ready(ready) => ready.is_fresh(),
            Slot::Pending { .. } => true,
        });

        let references = missing.iter().map(|k| k.reference.clone()).collect();
        let batch = fetch(references)
            .map(|results| {
                results
                    .into_iter()
                    .map(|r| r.map_err(Arc::new))
                    .collect::<Vec<Shareable>>()
            })
            .boxed()
            .shared();
        for (index, key) in missing.into_iter().enumerate() {
            let id = state.next_id;
            state.next_id += 1;
            let fetch = self.slot_fetch(batch.clone(), index, Arc::clone(&key), id);
            for (slot, wanted) in lookups.iter_mut().zip(keys) {
                if slot.is_none() && **wanted == *key {
                    *slot = Some(Lookup::Pending(fetch.clone()));
                }
            }
            state.slots.insert(key, Slot::Pending { id, fetch });
        }
        lookups.into_iter().flatten().collect()
    }

    /// The future of one reference of a batch: takes its result and settles its slot.
    fn slot_fetch(
        self: &Arc<Self>,
        batch: Shared<BoxFuture<'static, Vec<Shareable>>>,
        index: usize,
        key: Arc<CacheKey>,
        id: u64,
    ) -> SharedFetch {
        // Weak: the cache holds this future, which must not keep the cache alive.
        let cache: Weak<Cache> = Arc::downgrade(self);
        async move {
            let outcome = batch.await.get(index).cloned().unwrap_or_else(|| {
                Err(Arc::new(
                    ProviderError::new(
                        key.provider.clone(),
                        ProviderErrorKind::Protocol,
                        "the provider returned fewer results than references",
                    )
                    .with_reference(key.reference.clone()),
                ))
            });
            if let Some(cache) = cache.upgrade() {
                cache.settle(&key, id, &outcome);
            }
            outcome.map(Resolved::into_value)
        }
        .boxed()
        .shared()
    }

    /// Replaces the pending slot `id` (if it is still there) with the value, or removes it.
    fn settle(self: &Arc<Self>, key: &Arc<CacheKey>, id: u64, outcome: &Shareable) {
        let mut state = self.state();
        let current = matches!(state.slots.get(key), Some(Slot::Pending { id: pending, .. }) if *pending == id);
        if !current {
            return; // cleared or forgotten meanwhile: do not bring the value back
        }
        // A value the backend leased is never kept past its lease.
        let ttl = match outcome {
            Ok(resolved) => resolved.max_age().map_or(self.ttl, |age| age.min(self.ttl)),
            Err(_) => Duration::ZERO,
        };
        match outcome {
            Ok(resolved) if !ttl.is_zero() => {
                let expires_at = crate::provider::memo::expiry(ttl);
                let timer = self.arm_timer(key, id, expires_at);
                let slot = Slot::Ready(Ready {
                    id,
                    value: resolved.value().clone(),
                    fetched_at: SystemTime::now(),
                    expires_at,
                    _timer: timer,
                });
                state.slots.insert(Arc::clone(key), slot);
            }
            _ => {
                state.slots.remove(key);
            }
        }
    }

    /// Spawns the task that drops the value of slot `id` at `expires_at`, when there is a
    /// tokio runtime to spawn it on.
    fn arm_timer(
        self: &Arc<Self>,
        key: &Arc<CacheKey>,
        id: u64,
        expires_at: Instant,
    ) -> Option<ExpiryTimer> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let cache = Arc::downgrade(self);
        let key = Arc::clone(key);
        let task = runtime.spawn(async move {
            tokio::time::sleep_until(expires_at).await;
            if let Some(cache) = cache.upgrade() {
                cache.expire(&key, id);
            }
        });
        Some(ExpiryTimer(task.abort_handle()))
    }

    /// Drops the value of slot `id` if it is still the one cached.
    fn expire(&self, key: &CacheKey, id: u64) {
        let mut state = self.state();
        if matches!(state.slots.get(key), Some(Slot::Ready(ready)) if ready.id == id) {
            let slot = state.slots.remove(key);
            drop(state);
            drop(slot); // zeroized outside the lock
        }
    }

    /// When the value of `key` was fetched and until when it is cached, if it is.
    pub(crate) fn freshness(&self, key: &CacheKey) -> Option<Freshness> {
        match self.state().slots.get(key) {
            Some(Slot::Ready(ready)) => {
                let left = ready.expires_at.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| Freshness {
                    fetched_at: ready.fetched_at,
                    cached_until: SystemTime::now() + left,
                })
            }
            _ => None,
        }
    }

    /// Forgets the cached value of `key`, so that the next lookup fetches it again.
    pub(crate) fn forget(&self, key: &CacheKey) {
        let mut state = self.state();
        if matches!(state.slots.get(key), Some(Slot::Ready(_))) {
            let slot = state.slots.remove(key);
            drop(state);
            drop(slot);
        }
    }

    /// Forgets every value and every fetch under way.
    pub(crate) fn clear(&self) {
        let slots = std::mem::take(&mut self.state().slots);
        drop(slots); // zeroized here, outside the lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(reference: &str) -> Arc<CacheKey> {
        Arc::new(CacheKey::new("test", reference))
    }

    fn counting_fetch(
        calls: &Arc<AtomicUsize>,
    ) -> impl FnOnce(Vec<String>) -> BoxFuture<'static, BatchOutcome> + use<> {
        let calls = Arc::clone(calls);
        move |references| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                references
                    .iter()
                    .map(|r| Ok(Resolved::new(format!("value of {r}"))))
                    .collect()
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn a_batch_fetches_each_distinct_reference_once() {
        let cache = Cache::new(Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        let keys = [key("a"), key("b"), key("a")];
        let lookups = cache.lookup(&keys, counting_fetch(&calls));
        let mut values = Vec::new();
        for lookup in lookups {
            values.push(lookup.value().await.unwrap().expose_secret().to_owned());
        }
        assert_eq!(values, ["value of a", "value of b", "value of a"]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let again = cache.lookup(&keys[..1], counting_fetch(&calls));
        assert!(matches!(again[0], Lookup::Ready(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_drops_values_at_expiry() {
        let cache = Cache::new(Duration::from_secs(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
        lookup.value().await.unwrap();
        assert_eq!(cache.state().slots.len(), 1);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(
            cache.state().slots.is_empty(),
            "the value was dropped by its timer"
        );
    }

    #[test]
    fn without_a_runtime_expiry_reads_the_clock() {
        let cache = Cache::new(Duration::from_millis(1));
        let calls = Arc::new(AtomicUsize::new(0));
        let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
        lookup.value().now_or_never().expect("ready").unwrap();
        assert!(cache.get(&key("a")).is_some());
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&key("a")).is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = Cache::new(Duration::from_secs(60));
        let failing = |_: Vec<String>| -> BoxFuture<'static, BatchOutcome> {
            async {
                vec![Err(ProviderError::new(
                    "test",
                    ProviderErrorKind::Unavailable,
                    "down",
                ))]
            }
            .boxed()
        };
        let lookup = cache.lookup(&[key("a")], failing).remove(0);
        assert!(lookup.value().await.is_err());
        assert!(cache.state().slots.is_empty());
    }

    #[tokio::test]
    async fn a_short_batch_is_a_protocol_error() {
        let cache = Cache::new(Duration::from_secs(60));
        let empty =
            |_: Vec<String>| -> BoxFuture<'static, BatchOutcome> { async { Vec::new() }.boxed() };
        let err = cache
            .lookup(&[key("a")], empty)
            .remove(0)
            .value()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Protocol);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_caps_the_ttl() {
        let cache = Cache::new(Duration::from_secs(3600));
        let leased = |_: Vec<String>| -> BoxFuture<'static, BatchOutcome> {
            async { vec![Ok(Resolved::new("v").with_max_age(Duration::from_secs(30)))] }.boxed()
        };
        cache
            .lookup(&[key("a")], leased)
            .remove(0)
            .value()
            .await
            .unwrap();
        assert!(cache.get(&key("a")).is_some());
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(cache.get(&key("a")).is_none(), "not kept past the lease");
    }

    #[tokio::test]
    async fn a_huge_ttl_does_not_panic() {
        let cache = Cache::new(Duration::MAX);
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
            lookup.value().await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn zero_ttl_caches_nothing() {
        let cache = Cache::new(Duration::ZERO);
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
            lookup.value().await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn clearing_during_a_fetch_keeps_the_value_out() {
        let cache = Cache::new(Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
        cache.clear();
        lookup.value().await.unwrap();
        assert!(cache.freshness(&key("a")).is_none());
    }
}
