//! The awaiting side of the memo: a fetch under way (`Flight`), a caller's share of it or a
//! kept value (`Lookup`), and awaiting many lookups at once (`values`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, Shared};

use crate::provider::{ProviderError, ProviderErrorKind};

/// What a fetch produces for one key: the value and how long it may be kept at most.
pub(crate) type Fetched<V> = Result<(V, Option<Duration>), ProviderError>;

/// One key's outcome, as the callers awaiting it share it.
pub(crate) type Outcome<V> = Result<V, Arc<ProviderError>>;

/// A fetch under way for one or more keys. Held strongly by the callers awaiting it and
/// weakly by its slots, so that dropping the last caller drops (cancels) the fetch.
pub(crate) struct Flight<V> {
    pub(super) batch: Shared<BoxFuture<'static, Arc<[Outcome<V>]>>>,
}

/// A kept value, or a share of a fetch to await.
pub(crate) enum Lookup<V> {
    Ready(V),
    Pending {
        flight: Arc<Flight<V>>,
        index: usize,
    },
}

impl<V: Clone> Lookup<V> {
    /// The value, awaiting the fetch when there is one.
    pub(crate) async fn value(self) -> Outcome<V> {
        match self {
            Lookup::Ready(value) => Ok(value),
            Lookup::Pending { flight, index } => {
                let outcomes = flight.batch.clone().await;
                outcomes.get(index).cloned().unwrap_or_else(|| {
                    Err(Arc::new(ProviderError::new(
                        "request-vault",
                        ProviderErrorKind::Protocol,
                        "a fetch lost track of one of its results",
                    )))
                })
            }
        }
    }
}

/// One lookup waiting on a fetch: its position among the lookups, its index in the fetch.
type Member = (usize, usize);

/// The values of many lookups, in order: each fetch is awaited once for all its keys (not
/// once per key), so that a batch of n keys costs O(n).
pub(crate) async fn values<V: Clone>(lookups: Vec<Lookup<V>>) -> Vec<Outcome<V>> {
    let mut outcomes: Vec<Option<Outcome<V>>> = Vec::with_capacity(lookups.len());
    let mut flights: Vec<(Arc<Flight<V>>, Vec<Member>)> = Vec::new();
    {
        // Scoped: raw pointers (identities only) must not live across the await below.
        let mut flight_of: HashMap<*const Flight<V>, usize> = HashMap::new();
        for (position, lookup) in lookups.into_iter().enumerate() {
            match lookup {
                Lookup::Ready(value) => outcomes.push(Some(Ok(value))),
                Lookup::Pending { flight, index } => {
                    outcomes.push(None);
                    let at = *flight_of.entry(Arc::as_ptr(&flight)).or_insert_with(|| {
                        flights.push((Arc::clone(&flight), Vec::new()));
                        flights.len() - 1
                    });
                    flights[at].1.push((position, index));
                }
            }
        }
    }
    let batches =
        futures_util::future::join_all(flights.iter().map(|(flight, _)| flight.batch.clone()))
            .await;
    for ((_, members), results) in flights.iter().zip(batches) {
        for &(position, index) in members {
            outcomes[position] = results.get(index).cloned();
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| {
                Err(Arc::new(ProviderError::new(
                    "request-vault",
                    ProviderErrorKind::Protocol,
                    "a fetch lost track of one of its results",
                )))
            })
        })
        .collect()
}
