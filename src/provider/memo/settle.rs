//! The end of a fetch: its results fill the slots still waiting for it, grouped in cohorts
//! that expire (and refresh) together, and the timers that drop values at their expiry.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::flight::{Fetched, Outcome};
use super::slot::{Cohort, Kept, Mode, Slot, Stale, expiry, system_time_of};
use super::{Memo, State};
use crate::provider::deadline;

/// A value to keep: its key, id, value and lease (when shorter than the TTL).
type Keep<K, V> = (K, u64, V, Option<Duration>);

impl<K, V, S> Memo<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Default + Send + 'static,
{
    /// Fills the slots of a finished batch (those still waiting for it: a slot cleared,
    /// forgotten or refetched meanwhile is not brought back) and answers each key.
    pub(super) fn settle(
        self: &Arc<Self>,
        keys: &[K],
        first_id: u64,
        fetched: Option<Vec<Fetched<V>>>,
        mode: Mode,
    ) -> Arc<[Outcome<V>]> {
        let mut results = fetched.map(Vec::into_iter);
        let panicked = results.is_none();
        let mut outcomes = Vec::with_capacity(keys.len());
        let mut displaced = Vec::new();
        let mut keep: Vec<Keep<K, V>> = Vec::new();
        let mut state = self.state();
        let now = Instant::now();
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
                        _ if state.ttl.is_zero() => false,
                        Some(age) if age < state.ttl => !age.is_zero(),
                        _ => true,
                    };
                    if kept {
                        let lease = max_age.filter(|age| *age < state.ttl);
                        keep.push((key.clone(), id, value.clone(), lease));
                    }
                    displaced.push(previous);
                    Ok(value)
                }
                Err(error) => {
                    let error = Arc::new(error);
                    match previous {
                        // A refresh (asked for, or ahead of time) that fails leaves a value
                        // still within its TTL as it was; ahead of time, it is not tried
                        // again before that TTL ends.
                        Some(mut kept) if mode != Mode::Fetch && kept.expires_at > now => {
                            tracing::warn!(error = %error, "refresh failed: keeping the value until its TTL ends");
                            if mode == Mode::Ahead {
                                kept.refresh_at = kept.expires_at;
                            }
                            state.slots.insert(key.clone(), Slot::Ready(*kept));
                            Err(error)
                        }
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
                            state.slots.insert(key.clone(), Slot::Ready(*kept));
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
        self.keep(&mut state, keep);
        drop(state);
        drop(displaced);
        outcomes.into()
    }

    /// Stores fetched values: those without a lease of their own expire together (one
    /// cohort, one timer), each leased one alone.
    fn keep(self: &Arc<Self>, state: &mut State<K, V, S>, keep: Vec<Keep<K, V>>) {
        if keep.is_empty() {
            return;
        }
        if state.refresh_ahead.is_some() {
            self.start_worker();
        }
        let fetched_at = SystemTime::now();
        let times = |lifetime| Times::new(lifetime, state.stale_if_error, state.refresh_ahead);
        let shared: Vec<(K, u64)> = keep
            .iter()
            .filter(|(_, _, _, lease)| lease.is_none())
            .map(|(key, id, _, _)| (key.clone(), *id))
            .collect();
        let shared = (!shared.is_empty()).then(|| {
            let times = times(state.ttl);
            let cohort = Cohort::new(shared);
            self.arm_timer(&cohort, times.usable_until);
            (cohort, times)
        });
        let mut kept = Vec::with_capacity(keep.len());
        for (key, id, value, lease) in keep {
            let (cohort, times) = match (lease, &shared) {
                (None, Some((cohort, times))) => (Arc::clone(cohort), *times),
                (lease, _) => {
                    let times = times(lease.unwrap_or(state.ttl));
                    let cohort = Cohort::new(vec![(key.clone(), id)]);
                    self.arm_timer(&cohort, times.usable_until);
                    (cohort, times)
                }
            };
            kept.push((
                key,
                Kept {
                    id,
                    value,
                    fetched_at,
                    expires_at: times.expires_at,
                    usable_until: times.usable_until,
                    refresh_at: times.refresh_at,
                    stale: None,
                    cohort,
                },
            ));
        }
        for (key, kept) in kept {
            state.slots.insert(key, Slot::Ready(kept));
        }
    }

    /// Spawns the task that drops the values of `cohort` at `at`, when there is a tokio
    /// runtime to spawn it on (without one, expiry is read off the clock, and expired
    /// values are swept).
    fn arm_timer(self: &Arc<Self>, cohort: &Arc<Cohort<K>>, at: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let memo = Arc::downgrade(self);
        let members = Arc::downgrade(cohort);
        let task = runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            if let (Some(memo), Some(cohort)) = (memo.upgrade(), members.upgrade()) {
                memo.expire(&cohort.members);
            }
        });
        cohort.timer.set(task.abort_handle());
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
                    previous.take().map(|kept| Slot::Ready(*kept))
                }
                _ => None,
            });
        }
        drop(state);
        drop(dropped); // dropped (and zeroized) outside the lock
    }
}

/// When a value kept for `lifetime` from now expires, stops being usable stale, and is due
/// for a refresh ahead of time. Every deadline saturates.
#[derive(Debug, Clone, Copy)]
struct Times {
    expires_at: Instant,
    usable_until: Instant,
    refresh_at: Instant,
}

impl Times {
    fn new(lifetime: Duration, stale_if_error: Option<Duration>, refresh_ahead: Option<f64>) -> Self {
        let expires_at = expiry(lifetime);
        let usable_until = match stale_if_error {
            Some(extra) => deadline::after(expires_at, extra),
            None => expires_at,
        };
        // A lease shorter than the TTL is the lifetime, so that its refresh counts from it.
        let refresh_at = refresh_ahead
            .and_then(|fraction| Duration::try_from_secs_f64(lifetime.as_secs_f64() * fraction).ok())
            .map_or(expires_at, |ahead| expiry(ahead).min(expires_at));
        Times {
            expires_at,
            usable_until,
            refresh_at,
        }
    }
}
