//! The TTL cache of linked values: the crate's single-flight memo
//! ([`provider::memo`](crate::provider::memo)) keyed by provider id and reference.
//!
//! A batch of missing references becomes one provider call whose per-reference results fill
//! the slots as it completes; concurrent callers share one fetch. Values are
//! [`SecretString`]s, zeroized when the last copy drops; errors are never cached.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::SecretString;

use crate::provider::memo::{self, Fetched, Memo, Refetch};
use crate::provider::{ProviderError, ProviderErrorKind, Resolved};

pub(crate) use crate::provider::memo::Freshness;

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

/// A cached value or a fetch to await.
pub(crate) type Lookup = memo::Lookup<SecretString>;

/// What a batch fetch produces: one result per requested reference, in order, each value
/// with how long it may be cached at most.
pub(crate) type BatchOutcome = Vec<Result<Resolved, ProviderError>>;

/// A provider call under way for some references.
pub(crate) type BatchFetch = BoxFuture<'static, BatchOutcome>;

type Slots = Memo<Arc<CacheKey>, SecretString, BuildHasherDefault<KeyHasher>>;

/// The vault's cache of fetched values.
pub(crate) struct Cache {
    slots: Arc<Slots>,
    ttl: Duration,
}

impl Cache {
    /// A cache keeping values for `ttl`, and (with `stale_if_error`) up to that long past it
    /// when a refresh fails transiently.
    pub(crate) fn new(ttl: Duration, stale_if_error: Option<Duration>) -> Self {
        let slots = Slots::with_failure(ttl, |key, message| {
            ProviderError::new(key.provider.clone(), ProviderErrorKind::Protocol, message)
                .with_reference(key.reference.clone())
        });
        slots.set_stale_if_error(stale_if_error);
        Cache { slots, ttl }
    }

    /// Refreshes values in the background from `fraction` of their lifetime on: `fetch`
    /// makes the call of one provider (by id) for some of its references, or none when the
    /// provider is gone.
    pub(crate) fn refresh_ahead(
        &self,
        fraction: f64,
        fetch: impl Fn(&str, Vec<String>) -> Option<BatchFetch> + Send + Sync + 'static,
    ) {
        let refetch: Refetch<Arc<CacheKey>, SecretString> = Box::new(move |keys| {
            // One call per provider, its keys in the order they come.
            let mut groups: Vec<Vec<Arc<CacheKey>>> = Vec::new();
            for key in keys {
                match groups.iter_mut().find(|g| g[0].provider == key.provider) {
                    Some(group) => group.push(key),
                    None => groups.push(vec![key]),
                }
            }
            groups
                .into_iter()
                .filter_map(|group| {
                    let call = fetch(&group[0].provider, references(&group))?;
                    Some((group, kept(call)))
                })
                .collect()
        });
        self.slots.set_refresh_ahead(fraction, refetch);
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The cached value of `key`, if there is a fresh one.
    pub(crate) fn get(&self, key: &Arc<CacheKey>) -> Option<SecretString> {
        self.slots.get_ready(key)
    }

    /// The cached value of `key`, if there is a fresh one: the fast path of a warm resolve.
    /// A value due for a refresh ahead of time is queued for one.
    pub(crate) fn get_ahead(&self, key: &Arc<CacheKey>) -> Option<SecretString> {
        self.slots.get_ready_ahead(key)
    }

    /// The fresh cached values of `keys` (`None` for each without one), in one look-up;
    /// values due for a refresh ahead of time are queued for one.
    pub(crate) fn get_ahead_many<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k Arc<CacheKey>>,
    ) -> Vec<Option<SecretString>> {
        self.slots.get_ready_many(keys)
    }

    /// Looks up every key of one provider; the missing ones are fetched together by one
    /// call of `fetch`, which receives the distinct missing references in order. Values due
    /// for a refresh ahead of time are served, and queued for one.
    ///
    /// Runs no provider code itself: the returned lookups drive the fetch when awaited, and
    /// dropping them all cancels it.
    pub(crate) fn lookup(
        &self,
        keys: &[Arc<CacheKey>],
        fetch: impl FnOnce(Vec<String>) -> BatchFetch,
    ) -> Vec<Lookup> {
        self.slots
            .lookup(keys, |missing| kept(fetch(references(&missing))))
    }

    /// Fetches `key` now with `fetch`, whatever is cached; lookups meanwhile join it. A
    /// failure leaves a value still within its TTL cached.
    pub(crate) fn refresh(
        &self,
        key: &Arc<CacheKey>,
        fetch: impl FnOnce(Vec<String>) -> BatchFetch,
    ) -> Lookup {
        self.slots
            .refresh(Arc::clone(key), |keys| kept(fetch(references(&keys))))
    }

    /// When the value of `key` was fetched, until when it is cached, when it is refreshed
    /// ahead of time and whether it is served stale, if it is cached.
    pub(crate) fn freshness(&self, key: &Arc<CacheKey>) -> Option<Freshness> {
        self.slots.freshness(key)
    }

    /// Forgets the cached value of `key`, so that the next lookup fetches it again.
    pub(crate) fn forget(&self, key: &Arc<CacheKey>) {
        self.slots.forget(key);
    }

    /// Forgets `key` as a barrier: its value and any fetch of it under way. Returns whether
    /// a value was cached.
    pub(crate) fn invalidate(&self, key: &Arc<CacheKey>) -> bool {
        self.slots.invalidate(key)
    }

    /// Forgets every value and every fetch under way.
    pub(crate) fn clear(&self) {
        self.slots.clear();
    }

    /// Forgets every value of provider `id` (it was removed from the vault).
    pub(crate) fn forget_provider(&self, id: &str) {
        self.slots.forget_where(|key| key.provider == id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }
}

/// The references of `keys`, in order.
fn references(keys: &[Arc<CacheKey>]) -> Vec<String> {
    keys.iter().map(|key| key.reference.clone()).collect()
}

/// A provider call's results as the memo keeps them: each value with its lease.
fn kept(fetch: BatchFetch) -> BoxFuture<'static, Vec<Fetched<SecretString>>> {
    fetch
        .map(|results| {
            results
                .into_iter()
                .map(|result| {
                    result.map(|resolved| {
                        let max_age = resolved.max_age();
                        (resolved.into_value(), max_age)
                    })
                })
                .collect()
        })
        .boxed()
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
        let cache = Cache::new(Duration::from_secs(60), None);
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
        let cache = Cache::new(Duration::from_secs(10), None);
        let calls = Arc::new(AtomicUsize::new(0));
        let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
        lookup.value().await.unwrap();
        assert_eq!(cache.len(), 1);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(cache.len() == 0, "the value was dropped by its timer");
    }

    #[test]
    fn without_a_runtime_expiry_reads_the_clock() {
        let cache = Cache::new(Duration::from_millis(1), None);
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
        let cache = Cache::new(Duration::from_secs(60), None);
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
        assert!(cache.len() == 0);
    }

    #[tokio::test]
    async fn a_short_batch_is_a_protocol_error() {
        let cache = Cache::new(Duration::from_secs(60), None);
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
        let cache = Cache::new(Duration::from_secs(3600), None);
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
        let cache = Cache::new(Duration::MAX, None);
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
            lookup.value().await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn zero_ttl_caches_nothing() {
        let cache = Cache::new(Duration::ZERO, None);
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
            lookup.value().await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn clearing_during_a_fetch_keeps_the_value_out() {
        let cache = Cache::new(Duration::from_secs(60), None);
        let calls = Arc::new(AtomicUsize::new(0));
        let lookup = cache.lookup(&[key("a")], counting_fetch(&calls)).remove(0);
        cache.clear();
        lookup.value().await.unwrap();
        assert!(cache.freshness(&key("a")).is_none());
    }
}
