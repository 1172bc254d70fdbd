//! Refreshing kept values: a refresh asked for (`Memo::refresh`), and refreshes ahead of
//! time (`Memo::set_refresh_ahead`) that a read starts in the background once a value has
//! lived the given fraction of its lifetime, while it is still served.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::slot::{Cohort, Mode, Slot, Task};
use super::{Fetched, Lookup, Memo, State};

/// Slots replaced while the lock is held, dropped (and their values zeroized) after it.
pub(super) type Displaced<K, V> = Vec<Option<Slot<K, V>>>;

impl<K, V, S> Memo<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Default + Send + 'static,
{
    /// Refreshes values ahead of time: a value read after `fraction` of its lifetime (its
    /// TTL, or its lease when shorter) is served at once, and it and the other values of its
    /// cohort are refetched together in the background. `None` (the default) never does.
    /// Applies to values fetched from now on.
    pub(crate) fn set_refresh_ahead(&self, fraction: Option<f64>) {
        self.state().refresh_ahead = fraction;
    }

    /// The fresh value of `key`, if one is kept (also while it is being refreshed ahead of
    /// time). When it is due for a refresh ahead of time, `refetch` is asked for the fetch
    /// of its cohort's keys (none: no refresh), which a background task then drives.
    pub(crate) fn get_ready_ahead(
        self: &Arc<Self>,
        key: &K,
        refetch: impl FnOnce(Vec<K>) -> Option<BoxFuture<'static, Vec<Fetched<V>>>>,
    ) -> Option<V> {
        let mut state = self.state();
        let now = Instant::now();
        let (value, due) = match state.slots.get(key) {
            Some(Slot::Ready(kept)) if kept.expires_at > now => (
                kept.value.clone(),
                (kept.refresh_at <= now).then(|| Arc::clone(&kept.cohort)),
            ),
            Some(Slot::Pending {
                previous: Some(kept),
                mode: Mode::Ahead,
                ..
            }) if kept.expires_at > now => (kept.value.clone(), None),
            _ => return None,
        };
        if let Some(cohort) = due {
            let mut displaced = Vec::new();
            self.start_ahead(&mut state, &[cohort], now, refetch, &mut displaced);
            drop(state);
            drop(displaced);
        }
        Some(value)
    }

    /// Starts one background fetch for the members of the `due` cohorts that are still
    /// kept as fetched and due. Without a tokio runtime to run it on, nothing starts: the
    /// values are served until they expire, then fetched as usual.
    #[cold]
    pub(super) fn start_ahead(
        self: &Arc<Self>,
        state: &mut State<K, V, S>,
        due: &[Arc<Cohort<K>>],
        now: Instant,
        refetch: impl FnOnce(Vec<K>) -> Option<BoxFuture<'static, Vec<Fetched<V>>>>,
        displaced: &mut Displaced<K, V>,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut keys = Vec::new();
        for (at, cohort) in due.iter().enumerate() {
            if due[..at].iter().any(|seen| Arc::ptr_eq(seen, cohort)) {
                continue;
            }
            for (key, id) in &cohort.members {
                let still_due = matches!(
                    state.slots.get(key),
                    Some(Slot::Ready(kept))
                        if kept.id == *id && kept.refresh_at <= now && kept.expires_at > now
                );
                if still_due {
                    keys.push(key.clone());
                }
            }
        }
        if keys.is_empty() {
            return;
        }
        let Some(batch) = refetch(keys.clone()) else {
            return;
        };
        let driver = Arc::new(Task::default());
        let flight = self.start(state, keys, batch, Mode::Ahead, now, Some(&driver), displaced);
        // The task holds the fetch, not the memo: dropping the memo drops the slots, whose
        // driver handles abort it.
        let task = runtime.spawn(async move {
            let _ = flight.batch.clone().await;
        });
        driver.set(task.abort_handle());
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
        let now = Instant::now();
        let batch = fetch(vec![key.clone()]);
        let flight = self.start(
            &mut state,
            vec![key],
            batch,
            Mode::Refresh,
            now,
            None,
            &mut displaced,
        );
        drop(state);
        drop(displaced);
        Lookup::Pending { flight, index: 0 }
    }
}
