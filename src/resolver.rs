//! The resolver: fetches linked values through the cache, one provider call per batch of
//! missing references, within the vault's limit of concurrent provider calls.
//!
//! A provider call holds a permit only while it runs; it is owned by the callers awaiting it,
//! so when they all give up (dropped, timed out) the call is dropped and its permit freed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use secrecy::SecretString;
use tokio::sync::Semaphore;

use crate::cache::{Cache, CacheKey, Freshness, Lookup};
use crate::provider::ExternalProvider;
use crate::watch::Watch;

/// The cache of linked values and the permits of provider calls.
pub(crate) struct Resolver {
    cache: Cache,
    permits: Arc<Semaphore>,
    /// Where fetched values are announced (to live redactors).
    watch: Arc<Watch>,
}

impl Resolver {
    /// A resolver caching values for `ttl` (and stale up to `stale_if_error` more on a
    /// transient failure), making at most `concurrency` provider calls at once.
    pub(crate) fn new(ttl: Duration, stale_if_error: Option<Duration>, concurrency: usize) -> Self {
        Resolver {
            cache: Cache::new(ttl, stale_if_error),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            watch: Arc::default(),
        }
    }

    /// How long fetched values are cached.
    pub(crate) fn ttl(&self) -> Duration {
        self.cache.ttl()
    }

    /// Where the vault announces values entering it.
    pub(crate) fn watch(&self) -> &Watch {
        &self.watch
    }

    /// The fresh cached value of `key`, if there is one.
    pub(crate) fn cached(&self, key: &Arc<CacheKey>) -> Option<SecretString> {
        self.cache.get(key)
    }

    /// Looks up `keys` of `provider`; the missing ones are fetched by one provider call
    /// (`resolve_all_leased`, or `resolve_leased` for a single key when `batch` is false)
    /// when the lookups are awaited.
    pub(crate) fn lookup(
        &self,
        provider: Arc<dyn ExternalProvider>,
        keys: &[Arc<CacheKey>],
        batch: bool,
    ) -> Vec<Lookup> {
        let permits = Arc::clone(&self.permits);
        let watch = &self.watch;
        self.cache.lookup(keys, move |references| {
            // Cloned only when a fetch starts: a lookup the cache answers pays nothing.
            let watch = Arc::clone(watch);
            async move {
                // The semaphore is never closed, so acquiring only fails if it were.
                let _permit = permits.acquire_owned().await.ok();
                tracing::debug!(
                    provider = provider.id(),
                    count = references.len(),
                    "fetching from provider"
                );
                let results = match references.as_slice() {
                    [one] if !batch => vec![provider.resolve_leased(one).await],
                    _ => {
                        let refs: Vec<&str> = references.iter().map(String::as_str).collect();
                        provider.resolve_all_leased(&refs).await
                    }
                };
                // The one place where fetched values enter the vault.
                watch.fetched(provider.id(), &references, &results);
                results
            }
            .boxed()
        })
    }

    /// When the value of `key` was fetched and until when it is cached, if it is.
    pub(crate) fn freshness(&self, key: &Arc<CacheKey>) -> Option<Freshness> {
        self.cache.freshness(key)
    }

    /// Forgets the cached value of `key`.
    pub(crate) fn forget(&self, key: &Arc<CacheKey>) {
        self.cache.forget(key);
    }

    /// Forgets every cached value and every fetch under way.
    pub(crate) fn clear(&self) {
        self.cache.clear();
    }

    /// Forgets every cached value of provider `id`.
    pub(crate) fn forget_provider(&self, id: &str) {
        self.cache.forget_provider(id);
    }
}
