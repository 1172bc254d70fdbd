//! Batch assembly: one result per reference, in order, however the work was grouped (a
//! reference left without one gets an error naming it), the grouping itself (each distinct
//! key once, in order of first appearance), and `resolve` as a batch of one.

use std::collections::HashMap;
use std::hash::Hash;

use super::{ProviderError, ProviderErrorKind};

/// One slot per reference of a batch, filled in any order. A slot left empty when the batch
/// finishes becomes the error `missing` makes, so no reference ever goes without an answer.
pub(crate) struct Slots<T> {
    slots: Vec<Option<T>>,
}

impl<T> Slots<T> {
    /// `len` empty slots.
    pub(crate) fn new(len: usize) -> Self {
        Slots {
            slots: std::iter::repeat_with(|| None).take(len).collect(),
        }
    }

    /// Fills slot `index` (a later fill replaces an earlier one).
    pub(crate) fn set(&mut self, index: usize, value: T) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(value);
        }
    }

    /// The results in order; an empty slot becomes `missing(index)`.
    pub(crate) fn finish(self, mut missing: impl FnMut(usize) -> T) -> Vec<T> {
        self.slots
            .into_iter()
            .enumerate()
            .map(|(index, slot)| slot.unwrap_or_else(|| missing(index)))
            .collect()
    }
}

impl<T> Slots<Result<T, ProviderError>> {
    /// The results in order; a slot left empty becomes a `Protocol` error of `provider`
    /// naming its reference (`references[index]`).
    pub(crate) fn finish_or_missing(
        self,
        provider: &str,
        references: &[&str],
    ) -> Vec<Result<T, ProviderError>> {
        self.finish(|index| Err(missing(provider, references.get(index).copied())))
    }
}

/// The one result of a single-reference batch: `resolve` written as `resolve_all` of one.
/// A batch that answered nothing (a provider bug) is a `Protocol` error naming the reference.
pub(crate) fn one<T>(
    mut results: Vec<Result<T, ProviderError>>,
    provider: &str,
    reference: &str,
) -> Result<T, ProviderError> {
    results
        .pop()
        .unwrap_or_else(|| Err(missing(provider, Some(reference))))
}

fn missing(provider: &str, reference: Option<&str>) -> ProviderError {
    let error = ProviderError::new(
        provider,
        ProviderErrorKind::Protocol,
        "the batch gave no result for this reference",
    );
    match reference {
        Some(reference) => error.with_reference(reference),
        None => error,
    }
}

/// The distinct keys in order of first appearance, and for each input the index of its key
/// among them. Linear in the number of inputs.
///
/// Used so that a batch fetches each distinct secret (or item, or version) once however many
/// references point into it.
pub(crate) fn distinct<K: Eq + Hash + Clone>(
    keys: impl IntoIterator<Item = K>,
) -> (Vec<K>, Vec<usize>) {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut unique = Vec::new();
    let positions = keys
        .into_iter()
        .map(|key| {
            *index.entry(key.clone()).or_insert_with(|| {
                unique.push(key);
                unique.len() - 1
            })
        })
        .collect();
    (unique, positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_slots_become_the_missing_value() {
        let mut slots = Slots::new(3);
        slots.set(2, "c");
        slots.set(0, "a");
        assert_eq!(slots.finish(|_| "none"), ["a", "none", "c"]);
    }

    #[test]
    fn missing_results_name_their_reference() {
        let mut slots: Slots<Result<u8, ProviderError>> = Slots::new(2);
        slots.set(0, Ok(1));
        let results = slots.finish_or_missing("p", &["a://x", "a://y"]);
        let error = results[1].as_ref().unwrap_err();
        assert_eq!(error.reference(), Some("a://y"));
        assert_eq!(error.kind(), ProviderErrorKind::Protocol);
        let error = one::<u8>(Vec::new(), "p", "a://z").unwrap_err();
        assert_eq!(error.reference(), Some("a://z"));
        assert_eq!(one(vec![Ok::<u8, ProviderError>(7)], "p", "a://z").unwrap(), 7);
    }

    #[test]
    fn distinct_keeps_first_appearance_order() {
        let (unique, positions) = distinct(["b", "a", "b", "c", "a"]);
        assert_eq!(unique, ["b", "a", "c"]);
        assert_eq!(positions, [0, 1, 0, 2, 1]);
    }
}
