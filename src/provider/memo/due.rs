//! The queue of a memo's refreshes ahead of time: how to refetch, the cohorts reads found
//! due, and the handle of the worker that starts their refetches (see `ahead.rs`).

use std::sync::{Arc, Mutex, OnceLock};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;

use super::flight::Fetched;
use super::slot::{Cohort, Task};

/// Turns keys due for a refresh into provider calls: each call with the keys it fetches (in
/// the order of its results). Keys it cannot fetch now (their provider is gone) are left
/// out, and expire as usual.
pub(crate) type Refetch<K, V> =
    Box<dyn Fn(Vec<K>) -> Vec<(Vec<K>, BoxFuture<'static, Vec<Fetched<V>>>)> + Send + Sync>;

/// A memo's refreshes ahead of time: how to refetch, the cohorts reads found due, and the
/// worker that starts their refetches.
pub(super) struct Ahead<K, V> {
    pub(super) refetch: OnceLock<Refetch<K, V>>,
    pub(super) due: Mutex<Vec<Arc<Cohort<K>>>>,
    pub(super) wake: Arc<Notify>,
    pub(super) worker: OnceLock<Task>,
}

impl<K, V> Default for Ahead<K, V> {
    fn default() -> Self {
        Ahead {
            refetch: OnceLock::new(),
            due: Mutex::new(Vec::new()),
            wake: Arc::new(Notify::new()),
            worker: OnceLock::new(),
        }
    }
}
