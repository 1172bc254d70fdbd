//! Refreshing kept values before they expire: on request ([`Memo::refresh`]), and ahead of
//! time ([`Memo::set_refresh_ahead`]).
//!
//! Ahead of time, a read past the given fraction of a value's lifetime is served at once and
//! only queues the value's cohort (the values fetched with it) and wakes the memo's worker:
//! so that the read costs next to nothing more. The worker, a task holding the memo weakly,
//! asks the memo's refetch function for the provider calls and starts one background fetch
//! per call; each runs in a task of its own, aborted once no slot waits for it (forgotten,
//! cleared, the memo dropped). The worker is aborted with the memo.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::flight::{Fetched, Lookup};
use super::slot::{Cohort, Mode, Slot, Task};
use super::Memo;
use super::due::Refetch;

impl<K, V, S> Memo<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Default + Send + 'static,
{
    /// Refreshes values ahead of time: a value read after `fraction` of its lifetime (its
    /// TTL, or its lease when shorter) is served at once, and it and the other values of its
    /// cohort are refetched in the background through `refetch`. Applies to values fetched
    /// from now on; set once (a later call changes the fraction only).
    pub(crate) fn set_refresh_ahead(&self, fraction: f64, refetch: Refetch<K, V>) {
        self.state().refresh_ahead = Some(fraction);
        let _ = self.ahead.refetch.set(refetch);
    }

    /// Queues `cohort` for a refresh ahead of time, once, and wakes the worker. Called by a
    /// read under the state lock: it only takes the queue's lock.
    #[cold]
    pub(super) fn request(&self, cohort: &Arc<Cohort<K>>) {
        // Without a worker (no tokio runtime), values are served until they expire.
        if self.ahead.worker.get().is_none() || cohort.requested.swap(true, Ordering::Relaxed) {
            return;
        }
        self.ahead
            .due
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::clone(cohort));
        self.ahead.wake.notify_one();
    }

    /// Starts the worker, once, when there is a tokio runtime to run it on.
    pub(super) fn start_worker(self: &Arc<Self>) {
        if self.ahead.worker.get().is_some() || self.ahead.refetch.get().is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let memo = Arc::downgrade(self);
        let wake = Arc::clone(&self.ahead.wake);
        let task = runtime.spawn(work(memo, wake));
        let worker = Task::default();
        worker.set(task.abort_handle());
        // Two fetches settling at once may both get here: the second worker is aborted.
        let _ = self.ahead.worker.set(worker);
    }

    /// Starts the refetches of the queued cohorts: their members still kept as fetched.
    fn refresh_due(self: &Arc<Self>) {
        let cohorts = std::mem::take(
            &mut *self
                .ahead
                .due
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let Some(refetch) = self.ahead.refetch.get() else {
            return;
        };
        let mut ids: HashMap<K, u64, S> = HashMap::default();
        {
            let state = self.state();
            let now = Instant::now();
            for cohort in &cohorts {
                for (key, id) in &cohort.members {
                    if matches!(
                        state.slots.get(key),
                        Some(Slot::Ready(kept)) if kept.id == *id && kept.expires_at > now
                    ) {
                        ids.insert(key.clone(), *id);
                    }
                }
            }
        }
        if ids.is_empty() {
            return;
        }
        // Without the lock: finding the providers may take the vault's.
        let calls = refetch(ids.keys().cloned().collect());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut displaced = Vec::new();
        let mut state = self.state();
        for (keys, batch) in calls {
            // A value refreshed, replaced or forgotten meanwhile is not refetched over: the
            // call is dropped, and its values expire as usual.
            let unchanged = keys.iter().all(|key| {
                matches!(
                    (state.slots.get(key), ids.get(key)),
                    (Some(Slot::Ready(kept)), Some(id)) if kept.id == *id
                )
            });
            if !unchanged {
                continue;
            }
            let driver = Arc::new(Task::default());
            let flight = self.start(
                &mut state,
                keys,
                batch,
                Mode::Ahead,
                Some(&driver),
                &mut displaced,
            );
            let task = runtime.spawn(async move {
                let _ = flight.batch.clone().await;
            });
            driver.set(task.abort_handle());
        }
        drop(state);
        drop(displaced);
    }

    /// Fetches `key` now with `fetch`, whatever is kept: callers that look it up meanwhile
    /// join this fetch, and later ones get its value. If it fails, a kept value still within
    /// its TTL stays as it was (and the failure is returned all the same).
    pub(crate) fn refresh(
        self: &Arc<Self>,
        key: K,
        fetch: impl FnOnce(Vec<K>) -> BoxFuture<'static, Vec<Fetched<V>>>,
    ) -> Lookup<V> {
        let mut displaced = Vec::new();
        let mut state = self.state();
        let batch = fetch(vec![key.clone()]);
        let flight = self.start(
            &mut state,
            vec![key],
            batch,
            Mode::Refresh,
            None,
            &mut displaced,
        );
        drop(state);
        drop(displaced);
        Lookup::Pending { flight, index: 0 }
    }
}

/// The worker: starts the refetches of due cohorts each time a read queues some, until the
/// memo is gone (it is aborted then too).
async fn work<K, V, S>(memo: Weak<Memo<K, V, S>>, wake: Arc<Notify>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Default + Send + 'static,
{
    loop {
        wake.notified().await;
        let Some(memo) = memo.upgrade() else {
            return;
        };
        memo.refresh_due();
    }
}
