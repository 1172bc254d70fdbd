//! The resolver: fetches linked values through the cache, one provider call per batch of
//! missing references, within the vault's limit of concurrent provider calls.
//!
//! A provider call holds a permit only while it runs; it is owned by the callers awaiting it,
//! so when they all give up (dropped, timed out) the call is dropped and its permit freed. A
//! refresh ahead of time is owned by a background task that holds the call and nothing of
//! the vault: it ends when the vault is dropped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use secrecy::SecretString;
use tokio::sync::Semaphore;

use crate::cache::{BatchFetch, Cache, CacheKey, Freshness, Lookup};
use crate::provider::ExternalProvider;
use crate::watch::Watch;

/// The cache of linked values and the permits of provider calls.
pub(crate) struct Resolver {
    cache: Cache,
    permits: Arc<Semaphore>,
    /// Where fetched values are announced (to live redactors).
    watch: Arc<Watch>,
}

/// Finds the provider registered under an id, when a refresh ahead of time starts.
pub(crate) type Providers = Box<dyn Fn(&str) -> Option<Arc<dyn ExternalProvider>> + Send + Sync>;

impl Resolver {
    /// A resolver caching values for `ttl` (and stale up to `stale_if_error` more on a
    /// transient failure; refreshed in the background from `refresh_ahead` of their lifetime
    /// on, through the provider `providers` finds), making at most `concurrency` provider
    /// calls at once.
    pub(crate) fn new(
        ttl: Duration,
        stale_if_error: Option<Duration>,
        refresh_ahead: Option<f64>,
        concurrency: usize,
        providers: Providers,
    ) -> Self {
        let cache = Cache::new(ttl, stale_if_error);
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let watch = Arc::<Watch>::default();
        if let Some(fraction) = refresh_ahead {
            let (permits, watch) = (Arc::clone(&permits), Arc::clone(&watch));
            cache.refresh_ahead(fraction, move |id, references| {
                providers(id).map(|provider| call(&permits, &watch, &provider, references, false))
            });
        }
        Resolver {
            cache,
            permits,
            watch,
        }
    }

    /// Where the vault announces values entering it.
    pub(crate) fn watch(&self) -> &Watch {
        &self.watch
    }

    /// How long fetched values are cached.
    pub(crate) fn ttl(&self) -> Duration {
        self.cache.ttl()
    }

    /// The fresh cached value of `key`, if there is one (no refresh started).
    pub(crate) fn cached(&self, key: &Arc<CacheKey>) -> Option<SecretString> {
        self.cache.get(key)
    }

    /// The fresh cached value of `key`, if there is one: the warm path of a resolve. A value
    /// due for a refresh ahead of time is refetched in the background.
    pub(crate) fn cached_ahead(&self, key: &Arc<CacheKey>) -> Option<SecretString> {
        self.cache.get_ahead(key)
    }

    /// The fresh cached values of `keys` (`None` for each without one), in one look-up: the
    /// warm path of a batch. Values due for a refresh ahead of time are refetched in the
    /// background.
    pub(crate) fn cached_ahead_many<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k Arc<CacheKey>>,
    ) -> Vec<Option<SecretString>> {
        self.cache.get_ahead_many(keys)
    }

    /// Looks up `keys` of `provider`; the missing ones are fetched by one provider call
    /// (`resolve_all_leased`, or `resolve_leased` for a single key when `batch` is false)
    /// when the lookups are awaited.
    pub(crate) fn lookup(
        &self,
        provider: &Arc<dyn ExternalProvider>,
        keys: &[Arc<CacheKey>],
        batch: bool,
    ) -> Vec<Lookup> {
        self.cache.lookup(keys, |references| {
            call(&self.permits, &self.watch, provider, references, batch)
        })
    }

    /// Fetches `key` from `provider` now, whatever is cached; lookups meanwhile join this
    /// fetch. A failure leaves a value still within its TTL cached.
    pub(crate) fn refresh(
        &self,
        provider: &Arc<dyn ExternalProvider>,
        key: &Arc<CacheKey>,
    ) -> Lookup {
        self.cache.refresh(key, |references| {
            call(&self.permits, &self.watch, provider, references, false)
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

    /// Forgets `key` as a barrier (its value and any fetch under way); returns whether a
    /// value was cached.
    pub(crate) fn invalidate(&self, key: &Arc<CacheKey>) -> bool {
        self.cache.invalidate(key)
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

/// One provider call for `references`, holding a permit while it runs: the one place where
/// fetched values enter the vault (and are announced to live redactors). Its errors name
/// the provider by the id it is registered under, so that two accounts of one kind are
/// told apart whatever id the provider wrote into them.
fn call(
    permits: &Arc<Semaphore>,
    watch: &Arc<Watch>,
    provider: &Arc<dyn ExternalProvider>,
    references: Vec<String>,
    batch: bool,
) -> BatchFetch {
    // Cloned only when a fetch starts: a lookup the cache answers pays nothing.
    let provider = Arc::clone(provider);
    let permits = Arc::clone(permits);
    let watch = Arc::clone(watch);
    async move {
        // The semaphore is never closed, so acquiring only fails if it were.
        let _permit = permits.acquire_owned().await.ok();
        tracing::debug!(
            provider = provider.id(),
            count = references.len(),
            "fetching from provider"
        );
        let mut results = match references.as_slice() {
            [one] if !batch => vec![provider.resolve_leased(one).await],
            _ => {
                let refs: Vec<&str> = references.iter().map(String::as_str).collect();
                provider.resolve_all_leased(&refs).await
            }
        };
        for result in &mut results {
            if let Err(error) = result {
                error.name_provider(provider.id());
            }
        }
        watch.fetched(provider.id(), &references, &results);
        results
    }
    .boxed()
}
