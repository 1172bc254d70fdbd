//! The crate's one single-flight TTL map: the vault's cache of linked values and every
//! provider's own memo (name-to-ID listings, sessions, tokens) are this type.
//!
//! Each key has a slot: a kept value with its expiry, or a fetch under way that every
//! concurrent caller awaits together (one fetch however many callers ask). Several missing
//! keys may be fetched by one call (a batch) whose per-key results fill their slots as it
//! completes. A successful result is kept for the TTL (zero keeps nothing and only shares
//! fetches under way; a huge one keeps values until cleared); a fetch may cap its own value's
//! lifetime (a lease). Errors are never kept.
//!
//! Three rules keep a slot from ever breaking later calls:
//! - a fetch is owned by the callers awaiting it, and only weakly by its slots: when the last
//!   caller gives up (a `timeout` around a resolve, say), the fetch is dropped with whatever
//!   it holds (a provider permit, a connection), and the next caller starts a new one;
//! - a fetch that panics is caught and answers each of its keys with an error, then its
//!   slots are emptied like after any error;
//! - expiry saturates ([`expiry`]): a TTL too large for the clock means "until cleared".
//!
//! With stale-if-error on ([`Memo::set_stale_if_error`]), a value past its TTL is kept for a
//! bounded time more, and served (marked stale, with the error) when its refresh fails with a
//! transient error; never when the backend refuses or does not know the key.
//!
//! A value can be refetched before it expires: on request ([`Memo::refresh`]: callers join
//! that fetch), or ahead of time ([`Memo::set_refresh_ahead`]: a read past a fraction of the
//! value's lifetime is served at once and starts one background fetch for the values fetched
//! with it). Either way a failure leaves the value as it was until its TTL ends.
//!
//! Forgetting is a barrier ([`Memo::clear`], [`Memo::invalidate`]): no lookup that starts
//! afterwards gets a value kept before, nor joins a fetch begun before (which finishes for
//! its own callers, and is not kept).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::{ProviderError, ProviderErrorKind};

mod ahead;
mod due;
mod flight;
mod settle;
mod slot;

use due::Ahead;
pub(crate) use due::Refetch;
pub(crate) use flight::{Fetched, Flight, Lookup, Outcome, values};
pub(crate) use slot::expiry;
use slot::{Displaced, Mode, Slot, Task, system_time_of};
pub(crate) use slot::Freshness;

/// Makes the error a key gets when its fetch panicked or answered too few results.
pub(crate) type Failure<K> = fn(&K, &'static str) -> ProviderError;

struct State<K, V, S> {
    slots: HashMap<K, Slot<K, V>, S>,
    next_id: u64,
    ttl: Duration,
    /// How long past its TTL a value may be served when a refresh fails transiently.
    stale_if_error: Option<Duration>,
    /// The fraction of a value's lifetime after which a read refreshes it ahead of time.
    refresh_ahead: Option<f64>,
    /// Keys fetched since expired values were last swept (values without an expiry timer,
    /// outside a tokio runtime, are dropped by this sweep, amortized over fetches).
    fetched_since_sweep: usize,
}

/// A keyed map with single-flight fetching and a TTL; see the module docs.
pub(crate) struct Memo<K, V, S = RandomState> {
    state: Mutex<State<K, V, S>>,
    failure: Failure<K>,
    ahead: Ahead<K, V>,
}

fn generic_failure<K>(_key: &K, message: &'static str) -> ProviderError {
    ProviderError::new("request-vault", ProviderErrorKind::Protocol, message)
}

impl<K, V, S> Memo<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Default + Send + 'static,
{
    /// A memo keeping values for `ttl`.
    pub(crate) fn new(ttl: Duration) -> Arc<Self> {
        Self::with_failure(ttl, generic_failure::<K>)
    }

    /// A memo whose keys name themselves in the errors of a fetch that panicked or answered
    /// too few results.
    pub(crate) fn with_failure(ttl: Duration, failure: Failure<K>) -> Arc<Self> {
        Arc::new(Memo {
            state: Mutex::new(State {
                slots: HashMap::default(),
                next_id: 0,
                ttl,
                stale_if_error: None,
                refresh_ahead: None,
                fetched_since_sweep: 0,
            }),
            failure,
            ahead: Ahead::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State<K, V, S>> {
        // No code that can panic runs while the lock is held with a slot half-updated
        // (every update is one insert or remove), so a poisoned lock holds consistent data.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How long values are kept.
    #[cfg(test)]
    fn ttl(&self) -> Duration {
        self.state().ttl
    }

    /// Changes how long values fetched from now on are kept (a provider following the
    /// vault's TTL once it is attached). Values kept already keep their expiry.
    pub(crate) fn set_ttl(&self, ttl: Duration) {
        self.state().ttl = ttl;
    }

    /// Serves a value up to `max_staleness` past its TTL when its refresh fails with a
    /// transient error (`None`, the default, never serves stale values). Applies to values
    /// fetched from now on.
    pub(crate) fn set_stale_if_error(&self, max_staleness: Option<Duration>) {
        self.state().stale_if_error = max_staleness;
    }

    /// The value of `key`: kept, under way, or fetched now with `fetch`.
    pub(crate) async fn get(
        self: &Arc<Self>,
        key: K,
        fetch: impl FnOnce() -> BoxFuture<'static, Result<V, ProviderError>>,
    ) -> Outcome<V> {
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
        fetch: impl FnOnce() -> BoxFuture<'static, Fetched<V>>,
    ) -> Outcome<V> {
        let lookup = self
            .lookup(std::slice::from_ref(&key), move |_| {
                let one = fetch();
                async move { vec![one.await] }.boxed()
            })
            .pop();
        match lookup {
            Some(lookup) => lookup.value().await,
            None => Err(Arc::new((self.failure)(&key, "the memo lost a lookup"))),
        }
    }

    /// The fresh value of `key`, if one is kept (also while it is being refreshed ahead of
    /// time): the fast path of a warm read.
    pub(crate) fn get_ready(&self, key: &K) -> Option<V> {
        self.ready(key, false)
    }

    /// As [`get_ready`](Self::get_ready); a value due for a refresh ahead of time (see
    /// [`set_refresh_ahead`](Self::set_refresh_ahead)) is queued for one.
    pub(crate) fn get_ready_ahead(&self, key: &K) -> Option<V> {
        self.ready(key, true)
    }

    /// The fresh values of `keys` (`None` for each without one), under one lock and one
    /// reading of the clock: the fast path of a warm batch. Values due for a refresh ahead
    /// of time are queued for one.
    pub(crate) fn get_ready_many<'k>(&self, keys: impl IntoIterator<Item = &'k K>) -> Vec<Option<V>>
    where
        K: 'k,
    {
        let state = self.state();
        let now = Instant::now();
        keys.into_iter()
            .map(|key| self.ready_at(&state, key, now, true))
            .collect()
    }

    #[inline]
    fn ready(&self, key: &K, ahead: bool) -> Option<V> {
        let state = self.state();
        self.ready_at(&state, key, Instant::now(), ahead)
    }

    /// The fresh value of `key` in `state` at `now`, if one is kept (also while it is being
    /// refreshed ahead of time); `ahead` queues a value due for that refresh.
    #[inline]
    fn ready_at(&self, state: &State<K, V, S>, key: &K, now: Instant, ahead: bool) -> Option<V> {
        match state.slots.get(key) {
            Some(Slot::Ready(kept)) if kept.expires_at > now => {
                if ahead && kept.refresh_at <= now {
                    self.request(&kept.cohort);
                }
                Some(kept.value.clone())
            }
            Some(Slot::Pending {
                previous: Some(kept),
                mode: Mode::Ahead,
                ..
            }) if kept.expires_at > now => Some(kept.value.clone()),
            _ => None,
        }
    }

    /// Looks up every key; the missing ones (each distinct key once, in order of first
    /// appearance) are fetched together by one call of `fetch`, which must answer one result
    /// per key, in order. Runs no fetch itself: the lookups drive it when awaited, and
    /// dropping them all cancels it. Linear in the number of keys. Values due for a refresh
    /// ahead of time are served, and queued for one.
    pub(crate) fn lookup(
        self: &Arc<Self>,
        keys: &[K],
        fetch: impl FnOnce(Vec<K>) -> BoxFuture<'static, Vec<Fetched<V>>>,
    ) -> Vec<Lookup<V>> {
        enum Step<V> {
            Found(Lookup<V>),
            Missing(usize),
        }
        let mut state = self.state();
        let now = Instant::now();
        let mut steps = Vec::with_capacity(keys.len());
        let mut missing: Vec<K> = Vec::new();
        let mut position: HashMap<&K, usize, S> =
            HashMap::with_capacity_and_hasher(keys.len(), S::default());
        for key in keys {
            let found = match state.slots.get(key) {
                Some(Slot::Ready(kept)) if kept.expires_at > now => {
                    if kept.refresh_at <= now {
                        self.request(&kept.cohort);
                    }
                    Some(Lookup::Ready(kept.value.clone()))
                }
                Some(Slot::Pending {
                    previous: Some(kept),
                    mode: Mode::Ahead,
                    ..
                }) if kept.expires_at > now => Some(Lookup::Ready(kept.value.clone())),
                Some(Slot::Pending { flight, index, .. }) => {
                    flight.upgrade().map(|flight| Lookup::Pending {
                        flight,
                        index: *index,
                    })
                }
                _ => None,
            };
            steps.push(match found {
                Some(lookup) => Step::Found(lookup),
                None => Step::Missing(*position.entry(key).or_insert_with(|| {
                    missing.push(key.clone());
                    missing.len() - 1
                })),
            });
        }
        drop(position);
        if missing.is_empty() {
            drop(state);
            return steps
                .into_iter()
                .filter_map(|step| match step {
                    Step::Found(lookup) => Some(lookup),
                    Step::Missing(_) => None,
                })
                .collect();
        }

        let mut displaced = Vec::new();
        let batch = fetch(missing.clone());
        let flight = self.start(
            &mut state,
            missing,
            batch,
            Mode::Fetch,
            None,
            &mut displaced,
        );
        state.fetched_since_sweep += keys.len();
        if state.fetched_since_sweep > state.slots.len() {
            state.fetched_since_sweep = 0;
            let expired: Vec<_> = state
                .slots
                .extract_if(|_, slot| match slot {
                    Slot::Ready(kept) => kept.usable_until <= now,
                    Slot::Pending { flight, .. } => flight.strong_count() == 0,
                })
                .map(|(_, slot)| slot)
                .collect();
            displaced.extend(expired.into_iter().map(Some));
        }
        drop(state);
        drop(displaced); // values are dropped (and zeroized) outside the lock

        steps
            .into_iter()
            .map(|step| match step {
                Step::Found(lookup) => lookup,
                Step::Missing(index) => Lookup::Pending {
                    flight: Arc::clone(&flight),
                    index,
                },
            })
            .collect()
    }

    /// Makes `batch` the fetch of `keys` (distinct): each slot waits for it from now on,
    /// keeping a value still usable as its previous one. The flight settles the slots that
    /// still wait for it when it ends.
    fn start(
        self: &Arc<Self>,
        state: &mut State<K, V, S>,
        keys: Vec<K>,
        batch: BoxFuture<'static, Vec<Fetched<V>>>,
        mode: Mode,
        driver: Option<&Arc<Task>>,
        displaced: &mut Displaced<K, V>,
    ) -> Arc<Flight<V>> {
        let now = Instant::now();
        let first_id = state.next_id;
        state.next_id += keys.len() as u64;
        let memo = Arc::downgrade(self);
        let members = keys.clone();
        let failure = self.failure;
        let batch = async move {
            // A panic inside the fetch becomes an error for each key, never a broken slot.
            let fetched = AssertUnwindSafe(batch).catch_unwind().await.ok();
            match memo.upgrade() {
                Some(memo) => memo.settle(&members, first_id, fetched, mode),
                None => answer_unsettled(&members, fetched, failure),
            }
        }
        .boxed()
        .shared();
        let flight = Arc::new(Flight { batch });

        // Grown once for the whole batch, not rehashed step by step.
        state.slots.reserve(keys.len());
        for (index, key) in keys.into_iter().enumerate() {
            let previous = match state.slots.remove(&key) {
                Some(Slot::Ready(kept)) if kept.usable_until > now => Some(Box::new(kept)),
                Some(Slot::Pending {
                    previous: Some(kept),
                    ..
                }) if kept.usable_until > now => Some(kept),
                other => {
                    displaced.push(other);
                    None
                }
            };
            state.slots.insert(
                key,
                Slot::Pending {
                    id: first_id + index as u64,
                    flight: Arc::downgrade(&flight),
                    index,
                    previous,
                    mode,
                    _driver: driver.cloned(),
                },
            );
        }
        flight
    }

    /// When the value of `key` was fetched, until when it is kept and when it is refreshed
    /// ahead of time, if it is kept; a value served stale is reported with its staleness,
    /// and one being refreshed as the value it still is.
    pub(crate) fn freshness(&self, key: &K) -> Option<Freshness> {
        let state = self.state();
        let kept = match state.slots.get(key) {
            Some(Slot::Ready(kept)) => kept,
            Some(Slot::Pending {
                previous: Some(kept),
                mode,
                ..
            }) if kept.stale.is_some() || *mode != Mode::Fetch => kept,
            _ => return None,
        };
        let now = Instant::now();
        let until = if kept.stale.is_some() {
            kept.usable_until
        } else {
            kept.expires_at
        };
        let left = until.saturating_duration_since(now);
        let ahead = kept.stale.is_none() && kept.refresh_at < kept.expires_at;
        (!left.is_zero()).then(|| Freshness {
            fetched_at: kept.fetched_at,
            cached_until: system_time_of(until, now),
            refreshes_at: ahead.then(|| system_time_of(kept.refresh_at, now)),
            stale: kept.stale.clone(),
        })
    }

    /// Forgets every kept value and every fetch under way (those finish for their callers
    /// but are not kept).
    pub(crate) fn clear(&self) {
        let slots = std::mem::take(&mut self.state().slots);
        drop(slots); // values dropped outside the lock
    }

    /// Forgets the kept value of `key`, so that the next lookup fetches it again.
    pub(crate) fn forget(&self, key: &K) {
        let mut state = self.state();
        let dropped = match state.slots.get_mut(key) {
            Some(Slot::Ready(_)) => state.slots.remove(key),
            Some(Slot::Pending { previous, .. }) => previous.take().map(|kept| Slot::Ready(*kept)),
            None => None,
        };
        drop(state);
        drop(dropped);
    }

    /// Forgets `key` as a barrier: its kept value, and any fetch of it under way (which
    /// finishes for its own callers but is not kept, and which no later lookup joins).
    /// Returns whether a value was kept (one that could still be served).
    pub(crate) fn invalidate(&self, key: &K) -> bool {
        let mut state = self.state();
        let now = Instant::now();
        let removed = state.slots.remove(key);
        drop(state);
        // Dropped (and zeroized) outside the lock.
        let kept = match &removed {
            Some(Slot::Ready(kept)) => Some(kept),
            Some(Slot::Pending {
                previous: Some(kept),
                ..
            }) => Some(&**kept),
            _ => None,
        };
        kept.is_some_and(|kept| kept.usable_until > now)
    }

    /// Forgets every kept value and fetch under way whose key `matches`.
    pub(crate) fn forget_where(&self, matches: impl Fn(&K) -> bool) {
        let mut dropped = Vec::new();
        {
            let mut state = self.state();
            let keys: Vec<K> = state.slots.keys().filter(|k| matches(k)).cloned().collect();
            for key in keys {
                dropped.extend(state.slots.remove(&key));
            }
        }
        drop(dropped); // values dropped outside the lock
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state().slots.len()
    }
}

/// Answers a batch whose memo is gone: nothing to settle, each key gets its result.
fn answer_unsettled<K, V>(
    keys: &[K],
    fetched: Option<Vec<Fetched<V>>>,
    failure: Failure<K>,
) -> Arc<[Outcome<V>]> {
    let mut results = fetched.map(Vec::into_iter);
    keys.iter()
        .map(|key| match results.as_mut().and_then(Iterator::next) {
            Some(result) => result.map(|(value, _)| value).map_err(Arc::new),
            None => Err(Arc::new(failure(key, "the fetch answered no result"))),
        })
        .collect()
}

#[cfg(test)]
mod tests;
