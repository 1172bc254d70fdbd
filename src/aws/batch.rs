//! The batch both AWS providers run: references parsed offline and deduplicated into what
//! to fetch, the fetch calls run a few at once, and each value (or the field a reference
//! picks from it) handed back to every reference that asked for it.

use std::future::Future;
use std::hash::Hash;

use futures_util::stream::{self, StreamExt};
use secrecy::{ExposeSecret, SecretString};

use crate::provider::batch::{Slots, distinct};
use crate::provider::field::{FieldKey, select_text};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::Errors;

/// A value, or why there is none.
pub(crate) type Outcome = Result<SecretString, ProviderError>;

/// A batch of references, planned: the distinct keys to fetch, and for each reference
/// (that parsed) the key it reads and the field it picks.
pub(crate) struct Plan<K> {
    slots: Slots<Outcome>,
    wanted: Vec<(usize, Option<FieldKey>)>,
    /// Each distinct key once, in order of first use.
    pub(crate) unique: Vec<K>,
    position: Vec<usize>,
}

impl<K: Eq + Hash + Clone> Plan<K> {
    /// Parses each reference into its key and field with `parse`; a reference that does
    /// not parse fails alone, naming itself.
    pub(crate) fn new(
        references: &[&str],
        parse: impl Fn(&str) -> Result<(K, Option<FieldKey>), ProviderError>,
    ) -> Self {
        let mut slots = Slots::new(references.len());
        let mut keyed = Vec::new();
        for (index, reference) in references.iter().enumerate() {
            match parse(reference) {
                Ok((key, field)) => keyed.push((index, key, field)),
                Err(e) => slots.set(index, Err(e.with_reference(*reference))),
            }
        }
        let (unique, position) = distinct(keyed.iter().map(|(_, key, _)| key.clone()));
        let wanted = keyed
            .into_iter()
            .map(|(index, _, field)| (index, field))
            .collect();
        Plan {
            slots,
            wanted,
            unique,
            position,
        }
    }

    /// The results in the order of `references`, given `fetched` (one per unique key):
    /// each value, or the field its reference picks (an error naming the key, described
    /// by `describe`, when the field is not there).
    pub(crate) fn finish(
        mut self,
        references: &[&str],
        fetched: &[Outcome],
        errors: &Errors,
        describe: impl Fn(&K) -> String,
    ) -> Vec<Outcome> {
        for ((index, field), at) in self.wanted.iter().zip(self.position) {
            let result = match (&fetched[at], field) {
                (Ok(value), None) => Ok(value.clone()),
                (Ok(value), Some(field)) => {
                    select_text(errors.provider(), value.expose_secret(), field).map_err(|e| {
                        let what = describe(&self.unique[at]);
                        errors.plain(e.kind(), format!("{what}: {}", e.message()))
                    })
                }
                (Err(e), _) => Err(e.duplicate()),
            };
            self.slots.set(
                *index,
                result.map_err(|e| e.with_reference(references[*index])),
            );
        }
        self.slots.finish_or_missing(errors.provider(), references)
    }
}

/// Runs `jobs`, at most `concurrency` at once, each answering for some of `len` results by
/// index; a result no job answered is a protocol error.
pub(crate) async fn run<J, F, Fut>(
    jobs: Vec<J>,
    len: usize,
    concurrency: usize,
    errors: &Errors,
    call: F,
) -> Vec<Outcome>
where
    F: Fn(J) -> Fut,
    Fut: Future<Output = Vec<(usize, Outcome)>>,
{
    let mut results: Vec<Option<Outcome>> = (0..len).map(|_| None).collect();
    let mut finished = stream::iter(jobs)
        .map(call)
        .buffer_unordered(concurrency.max(1));
    while let Some(done) = finished.next().await {
        for (index, result) in done {
            results[index] = Some(result);
        }
    }
    results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                Err(errors.plain(
                    ProviderErrorKind::Protocol,
                    "no answer was recorded for this key".to_owned(),
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::provider::http::Scrubber;

    fn errors() -> Errors {
        let service = super::super::error::Service {
            provider: "aws",
            name: "AWS Secrets Manager",
        };
        Errors::new(service, Arc::new(Scrubber::new()))
    }

    #[test]
    fn each_key_is_fetched_once_and_fields_are_picked_per_reference() {
        let references = ["k:a#user", "k:a#pass", "k:b", "bad", "k:a#nope"];
        let plan = Plan::new(&references, |reference| {
            let rest = reference.strip_prefix("k:").ok_or_else(|| {
                ProviderError::new("aws", ProviderErrorKind::InvalidReference, "no")
            })?;
            let (key, field) = match rest.split_once('#') {
                Some((key, field)) => (key, Some(FieldKey::Member(field.to_owned()))),
                None => (rest, None),
            };
            Ok((key.to_owned(), field))
        });
        assert_eq!(plan.unique, vec!["a".to_owned(), "b".to_owned()]);
        let fetched = vec![
            Ok(SecretString::from(r#"{"user":"u","pass":"p"}"#)),
            Err(ProviderError::new(
                "aws",
                ProviderErrorKind::NotFound,
                "gone",
            )),
        ];
        let results = plan.finish(&references, &fetched, &errors(), |key| format!("`{key}`"));
        assert_eq!(results[0].as_ref().unwrap().expose_secret(), "u");
        assert_eq!(results[1].as_ref().unwrap().expose_secret(), "p");
        let kinds: Vec<ProviderErrorKind> = results[2..]
            .iter()
            .map(|r| r.as_ref().unwrap_err().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                ProviderErrorKind::NotFound,
                ProviderErrorKind::InvalidReference,
                ProviderErrorKind::NotFound
            ]
        );
        let missing = results[4].as_ref().unwrap_err();
        assert!(missing.message().starts_with("`a`: "), "{missing}");
        assert_eq!(missing.reference(), Some("k:a#nope"));
    }

    #[tokio::test]
    async fn jobs_answer_by_index_and_silence_is_an_error() {
        let results = run(
            vec![vec![0, 2], vec![3]],
            4,
            2,
            &errors(),
            |members| async move {
                members
                    .into_iter()
                    .map(|index| (index, Ok(SecretString::from(index.to_string()))))
                    .collect()
            },
        )
        .await;
        assert_eq!(results[2].as_ref().unwrap().expose_secret(), "2");
        assert_eq!(
            results[1].as_ref().unwrap_err().kind(),
            ProviderErrorKind::Protocol
        );
    }
}
