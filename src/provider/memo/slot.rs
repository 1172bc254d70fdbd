//! What the memo keeps per key: a value with its expiry and refresh time, or a fetch under
//! way; and the tasks (expiry timers, background refreshes) that live as long as their values.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::flight::Flight;
use crate::provider::{ProviderError, deadline};

pub(super) enum Slot<K, V> {
    Ready(Kept<K, V>),
    Pending {
        id: u64,
        flight: Weak<Flight<V>>,
        index: usize,
        /// The value being replaced: served stale if the fetch fails transiently, served as
        /// it is during a refresh ahead of time, kept as it is if a refresh fails. Boxed, so
        /// that every slot is not the size of two values (a warm read touches less memory).
        previous: Option<Box<Kept<K, V>>>,
        mode: Mode,
        /// The background task that drives a refresh ahead of time: aborted once no slot
        /// waits for it any more (forgotten, cleared, the memo dropped).
        _driver: Option<Arc<Task>>,
    },
}

/// Why a fetch runs, which decides what callers see meanwhile and what a failure leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The value is missing or expired: callers wait for it; a failure drops the previous
    /// value unless it may be served stale (stale-if-error).
    Fetch,
    /// A refresh asked for (`Memo::refresh`): callers join it; a failure leaves a previous
    /// value that is still within its TTL as it was.
    Refresh,
    /// A refresh ahead of time, in the background: callers are served the previous value
    /// while it is within its TTL; a failure leaves it as it was until then, and it is not
    /// refreshed ahead again.
    Ahead,
}

/// A fetched value and how long it is kept.
pub(super) struct Kept<K, V> {
    pub(super) id: u64,
    pub(super) value: V,
    pub(super) fetched_at: SystemTime,
    pub(super) expires_at: Instant,
    /// Until when it may still be served stale: `expires_at` unless stale-if-error is on.
    pub(super) usable_until: Instant,
    /// From when a read starts a refresh ahead of time: `expires_at` unless refresh-ahead
    /// is on (so that a fresh value is never due).
    pub(super) refresh_at: Instant,
    pub(super) stale: Option<Stale>,
    /// The values fetched together that expire (and refresh) together.
    pub(super) cohort: Arc<Cohort<K>>,
}

/// Values of one fetch that share their expiry: one timer drops them at `usable_until`, and
/// one background fetch refreshes them ahead of time. The timer is aborted when they are
/// all dropped earlier (cleared, replaced).
pub(super) struct Cohort<K> {
    /// Each member's key and the id of its value.
    pub(super) members: Vec<(K, u64)>,
    pub(super) timer: Task,
    /// Whether a read found it due and queued its refresh ahead of time (once only).
    pub(super) requested: AtomicBool,
}

impl<K> Cohort<K> {
    pub(super) fn new(members: Vec<(K, u64)>) -> Arc<Self> {
        Arc::new(Cohort {
            members,
            timer: Task::default(),
            requested: AtomicBool::new(false),
        })
    }
}

/// A spawned task, aborted when this handle is dropped (set once it is spawned).
#[derive(Default)]
pub(super) struct Task(OnceLock<AbortHandle>);

impl Task {
    pub(super) fn set(&self, task: AbortHandle) {
        let _ = self.0.set(task);
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(task) = self.0.get() {
            task.abort();
        }
    }
}

/// Why a kept value is being served past its TTL.
#[derive(Debug, Clone)]
pub(crate) struct Stale {
    /// When its TTL ran out.
    pub(crate) expired_at: SystemTime,
    /// The latest refresh failure.
    pub(crate) error: Arc<ProviderError>,
}

/// When a kept value was fetched, until when it is kept, when it is refreshed ahead of
/// time, and whether it is stale.
#[derive(Debug, Clone)]
pub(crate) struct Freshness {
    pub(crate) fetched_at: SystemTime,
    pub(crate) cached_until: SystemTime,
    /// When a read starts refreshing it in the background (refresh-ahead on, not stale).
    pub(crate) refreshes_at: Option<SystemTime>,
    pub(crate) stale: Option<Stale>,
}

/// Slots replaced while the lock is held, dropped (and their values zeroized) after it.
pub(super) type Displaced<K, V> = Vec<Option<Slot<K, V>>>;

/// The wall-clock time of `instant`, given `now` on the same clock; a time too far ahead
/// for the wall clock is the last second of 2106 ("until cleared").
pub(super) fn system_time_of(instant: Instant, now: Instant) -> SystemTime {
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
