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

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::{ProviderError, ProviderErrorKind, deadline};

mod flight;

pub(crate) use flight::{Flight, Lookup, values};

/// What a fetch produces for one key: the value and how long it may be kept at most.
pub(crate) type Fetched<V> = Result<(V, Option<Duration>), ProviderError>;

/// One key's outcome, as the callers awaiting it share it.
pub(crate) type Outcome<V> = Result<V, Arc<ProviderError>>;

/// Makes the error a key gets when its fetch panicked or answered too few results.
pub(crate) type Failure<K> = fn(&K, &'static str) -> ProviderError;

enum Slot<V> {
    Ready(Kept<V>),
    Pending {
        id: u64,
        flight: Weak<Flight<V>>,
        index: usize,
        /// The value being refreshed, kept to be served stale if the refresh fails.
        previous: Option<Kept<V>>,
    },
}

/// A fetched value and how long it is kept.
struct Kept<V> {
    id: u64,
    value: V,
    fetched_at: SystemTime,
    expires_at: Instant,
    /// Until when it may still be served stale: `expires_at` unless stale-if-error is on.
    usable_until: Instant,
    stale: Option<Stale>,
    /// Drops the value at `usable_until` so that it does not linger in memory; shared by
    /// the values of one batch that expire together, aborted when they are all dropped
    /// earlier (cleared, replaced).
    _timer: Option<Arc<ExpiryTimer>>,
}

/// Why a kept value is being served past its TTL.
#[derive(Debug, Clone)]
pub(crate) struct Stale {
    /// When its TTL ran out.
    pub(crate) expired_at: SystemTime,
    /// The latest refresh failure.
    pub(crate) error: Arc<ProviderError>,
}

/// When a kept value was fetched, until when it is kept, and whether it is stale.
#[derive(Debug, Clone)]
pub(crate) struct Freshness {
    pub(crate) fetched_at: SystemTime,
    pub(crate) cached_until: SystemTime,
    pub(crate) stale: Option<Stale>,
}

/// The task that drops values at their expiry (set once it is spawned).
#[derive(Default)]
struct ExpiryTimer(OnceLock<AbortHandle>);

impl Drop for ExpiryTimer {
    fn drop(&mut self) {
        if let Some(task) = self.0.get() {
            task.abort();
        }
    }
}


struct State<K, V, S> {
    slots: HashMap<K, Slot<V>, S>,
    next_id: u64,
    ttl: Duration,
    /// How long past its TTL a value may be served when a refresh fails transiently.
    stale_if_error: Option<Duration>,
    /// Keys fetched since expired values were last swept (values without an expiry timer,
    /// outside a tokio runtime, are dropped by this sweep, amortized over fetches).
    fetched_since_sweep: usize,
}

impl<K, V, S> State<K, V, S> {
    /// Until when a value expiring at `expires_at` may be served stale.
    fn usable_until(&self, expires_at: Instant) -> Instant {
        match self.stale_if_error {
            Some(extra) => deadline::after(expires_at, extra),
            None => expires_at,
        }
    }
}

/// A keyed map with single-flight fetching and a TTL; see the module docs.
pub(crate) struct Memo<K, V, S = RandomState> {
    state: Mutex<State<K, V, S>>,
    failure: Failure<K>,
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
                fetched_since_sweep: 0,
            }),
            failure,
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

    /// The fresh value of `key`, if one is kept: the fast path of a warm read.
    pub(crate) fn get_ready(&self, key: &K) -> Option<V> {
        match self.state().slots.get(key) {
            Some(Slot::Ready(kept)) if kept.expires_at > Instant::now() => Some(kept.value.clone()),
            _ => None,
        }
    }

    /// Looks up every key; the missing ones (each distinct key once, in order of first
    /// appearance) are fetched together by one call of `fetch`, which must answer one result
    /// per key, in order. Runs no fetch itself: the lookups drive it when awaited, and
    /// dropping them all cancels it. Linear in the number of keys.
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
                    Some(Lookup::Ready(kept.value.clone()))
                }
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
            return steps
                .into_iter()
                .filter_map(|step| match step {
                    Step::Found(lookup) => Some(lookup),
                    Step::Missing(_) => None,
                })
                .collect();
        }

        let first_id = state.next_id;
        state.next_id += missing.len() as u64;
        let batch = fetch(missing.clone());
        let memo = Arc::downgrade(self);
        let members = missing.clone();
        let failure = self.failure;
        let batch = async move {
            // A panic inside the fetch becomes an error for each key, never a broken slot.
            let fetched = AssertUnwindSafe(batch).catch_unwind().await.ok();
            match memo.upgrade() {
                Some(memo) => memo.settle(&members, first_id, fetched),
                None => answer_unsettled(&members, fetched, failure),
            }
        }
        .boxed()
        .shared();
        let flight = Arc::new(Flight { batch });

        let mut displaced = Vec::new();
        // Grown once for the whole batch, not rehashed step by step.
        state.slots.reserve(missing.len());
        for (index, key) in missing.into_iter().enumerate() {
            let previous = match state.slots.remove(&key) {
                Some(Slot::Ready(kept)) if kept.usable_until > now => Some(kept),
                Some(Slot::Pending { previous, .. }) => previous.filter(|k| k.usable_until > now),
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
                },
            );
        }
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

    /// Fills the slots of a finished batch (those still waiting for it: a slot cleared or
    /// forgotten meanwhile is not brought back) and answers each key.
    fn settle(
        self: &Arc<Self>,
        keys: &[K],
        first_id: u64,
        fetched: Option<Vec<Fetched<V>>>,
    ) -> Arc<[Outcome<V>]> {
        let mut results = fetched.map(Vec::into_iter);
        let panicked = results.is_none();
        let mut outcomes = Vec::with_capacity(keys.len());
        let mut displaced = Vec::new();
        let mut state = self.state();
        let now = Instant::now();
        let fetched_at = SystemTime::now();
        let expires_at = expiry(state.ttl);
        let usable_until = state.usable_until(expires_at);
        // Values without a lease of their own expire together: one timer for them all.
        let timer = Arc::new(ExpiryTimer::default());
        let mut timed = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            let id = first_id + index as u64;
            let result = match results.as_mut().and_then(Iterator::next) {
                Some(result) => result,
                None if panicked => Err((self.failure)(key, "the fetch panicked")),
                None => Err((self.failure)(
                    key,
                    "the provider returned fewer results than references",
                )),
            };
            let waiting = matches!(
                state.slots.get(key),
                Some(Slot::Pending { id: pending, .. }) if *pending == id
            );
            if !waiting {
                outcomes.push(result.map(|(value, _)| value).map_err(Arc::new));
                continue;
            }
            let previous = match state.slots.remove(key) {
                Some(Slot::Pending { previous, .. }) => previous,
                _ => None,
            };
            let outcome = match result {
                Ok((value, max_age)) => {
                    let kept = match max_age {
                        _ if state.ttl.is_zero() => None,
                        Some(age) if age < state.ttl => (!age.is_zero()).then(|| {
                            let expires_at = expiry(age);
                            let usable_until = state.usable_until(expires_at);
                            let timer = Arc::new(ExpiryTimer::default());
                            self.arm_timer(&timer, vec![(key.clone(), id)], usable_until);
                            (expires_at, usable_until, timer)
                        }),
                        _ => {
                            timed.push((key.clone(), id));
                            Some((expires_at, usable_until, Arc::clone(&timer)))
                        }
                    };
                    if let Some((expires_at, usable_until, timer)) = kept {
                        let kept = Kept {
                            id,
                            value: value.clone(),
                            fetched_at,
                            expires_at,
                            usable_until,
                            stale: None,
                            _timer: Some(timer),
                        };
                        state.slots.insert(key.clone(), Slot::Ready(kept));
                    }
                    displaced.push(previous);
                    Ok(value)
                }
                Err(error) => {
                    let error = Arc::new(error);
                    match previous {
                        Some(mut kept)
                            if error.kind().is_transient() && kept.usable_until > now =>
                        {
                            tracing::warn!(
                                error = %error,
                                "refresh failed: serving the last value, stale"
                            );
                            let expired_at = kept.stale.as_ref().map_or_else(
                                || system_time_of(kept.expires_at, now),
                                |stale| stale.expired_at,
                            );
                            kept.stale = Some(Stale {
                                expired_at,
                                error: Arc::clone(&error),
                            });
                            let value = kept.value.clone();
                            state.slots.insert(key.clone(), Slot::Ready(kept));
                            Ok(value)
                        }
                        other => {
                            displaced.push(other);
                            Err(error)
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }
        if !timed.is_empty() {
            self.arm_timer(&timer, timed, usable_until);
        }
        drop(state);
        drop(displaced);
        outcomes.into()
    }

    /// Spawns the task that drops the values `keys` (each with its id) at `at`, when there
    /// is a tokio runtime to spawn it on (without one, expiry is read off the clock, and
    /// expired values are swept).
    fn arm_timer(self: &Arc<Self>, timer: &ExpiryTimer, keys: Vec<(K, u64)>, at: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let memo = Arc::downgrade(self);
        let task = runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Some(memo) = memo.upgrade() {
                memo.expire(&keys);
            }
        });
        let _ = timer.0.set(task.abort_handle());
    }

    /// Drops each value `id` of `key` that is still kept (also as a refresh's fallback).
    fn expire(&self, keys: &[(K, u64)]) {
        let mut dropped = Vec::new();
        let mut state = self.state();
        for (key, id) in keys {
            let id = *id;
            dropped.push(match state.slots.get_mut(key) {
                Some(Slot::Ready(kept)) if kept.id == id => state.slots.remove(key),
                Some(Slot::Pending { previous, .. })
                    if previous.as_ref().is_some_and(|kept| kept.id == id) =>
                {
                    previous.take().map(Slot::Ready)
                }
                _ => None,
            });
        }
        drop(state);
        drop(dropped); // dropped (and zeroized) outside the lock
    }

    /// When the value of `key` was fetched and until when it is kept, if it is; a value
    /// served stale is reported with its staleness.
    pub(crate) fn freshness(&self, key: &K) -> Option<Freshness> {
        let state = self.state();
        let kept = match state.slots.get(key) {
            Some(Slot::Ready(kept)) => kept,
            Some(Slot::Pending {
                previous: Some(kept),
                ..
            }) if kept.stale.is_some() => kept,
            _ => return None,
        };
        let now = Instant::now();
        let until = if kept.stale.is_some() {
            kept.usable_until
        } else {
            kept.expires_at
        };
        let left = until.saturating_duration_since(now);
        (!left.is_zero()).then(|| Freshness {
            fetched_at: kept.fetched_at,
            cached_until: deadline::after_system(SystemTime::now(), left),
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
            Some(Slot::Pending { previous, .. }) => previous.take().map(Slot::Ready),
            None => None,
        };
        drop(state);
        drop(dropped);
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

/// The wall-clock time of `instant`, given `now` on the same clock.
fn system_time_of(instant: Instant, now: Instant) -> SystemTime {
    let wall = SystemTime::now();
    if instant <= now {
        wall.checked_sub(now - instant).unwrap_or(wall)
    } else {
        deadline::after_system(wall, instant - now)
    }
}

/// The instant `ttl` from now, saturating: a TTL too large for the clock means "until
/// cleared", never a panic.
pub(crate) fn expiry(ttl: Duration) -> Instant {
    deadline::from_now(ttl)
}

#[cfg(test)]
mod tests;
