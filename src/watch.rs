//! Values entering the vault, announced to whoever watches it: the live redactors.
//!
//! The vault announces a value when it is stored with `set` (or comes back through
//! `import` and `unlock`) and when a fetch brings one into the cache: each announcement is
//! copied into the [`Inbox`] of every live redactor, and bumps the inbox's generation so that
//! the redactor knows to catch up. Nothing else pays: a warm `resolve` announces nothing, and
//! without a live redactor an announcement is one check of an empty list.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use secrecy::{ExposeSecret, SecretString};

use crate::provider::{ProviderError, Resolved};

/// Whose value an announcement is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Label {
    /// A local secret's.
    Name(String),
    /// A fetched value's: which provider, which reference (the names linked to it are found
    /// by the redactor when it catches up).
    Reference { provider: String, reference: String },
}

/// One announced value.
pub(crate) struct Sighting {
    pub(crate) label: Label,
    pub(crate) value: SecretString,
}

/// The vault's side: the inboxes of the live redactors.
#[derive(Default)]
pub(crate) struct Watch {
    inboxes: Mutex<Vec<Weak<Inbox>>>,
}

impl Watch {
    fn inboxes(&self) -> MutexGuard<'_, Vec<Weak<Inbox>>> {
        // Every update is one push or retain: a poisoned lock holds a consistent list.
        self.inboxes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new inbox, announced every value from now on.
    pub(crate) fn subscribe(&self) -> Arc<Inbox> {
        let inbox = Arc::new(Inbox::default());
        let mut inboxes = self.inboxes();
        inboxes.retain(|weak| weak.strong_count() > 0);
        inboxes.push(Arc::downgrade(&inbox));
        inbox
    }

    /// Announces a local secret's value.
    pub(crate) fn local(&self, name: &str, value: &SecretString) {
        self.announce(|| Label::Name(name.to_owned()), value);
    }

    /// Announces the values a fetch of `references` from `provider` brought (one result
    /// per reference, in order; errors announce nothing).
    pub(crate) fn fetched(
        &self,
        provider: &str,
        references: &[String],
        results: &[Result<Resolved, ProviderError>],
    ) {
        for (reference, result) in references.iter().zip(results) {
            if let Ok(resolved) = result {
                let label = || Label::Reference {
                    provider: provider.to_owned(),
                    reference: reference.clone(),
                };
                self.announce(label, resolved.value());
            }
        }
    }

    fn announce(&self, label: impl Fn() -> Label, value: &SecretString) {
        if value.expose_secret().is_empty() {
            return;
        }
        let mut inboxes = self.inboxes();
        inboxes.retain(|weak| match weak.upgrade() {
            Some(inbox) => {
                inbox.put(Sighting {
                    label: label(),
                    value: value.clone(),
                });
                true
            }
            None => false,
        });
    }
}

/// A redactor's side: the values announced since it last caught up, and a generation that
/// every announcement bumps.
#[derive(Default)]
pub(crate) struct Inbox {
    pending: Mutex<Pending>,
    generation: AtomicU64,
}

#[derive(Default)]
struct Pending {
    sightings: Vec<Sighting>,
    /// Where each label's sightings are, to skip repeats.
    by_label: HashMap<Label, Vec<usize>>,
}

impl Inbox {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `sighting` unless it is pending already (a value refetched again and again
    /// while the redactor is not used does not pile up).
    fn put(&self, sighting: Sighting) {
        let mut pending = self.pending();
        let Pending {
            sightings,
            by_label,
        } = &mut *pending;
        let at = by_label.entry(sighting.label.clone()).or_default();
        if at
            .iter()
            .any(|&i| sightings[i].value.expose_secret() == sighting.value.expose_secret())
        {
            return;
        }
        at.push(sightings.len());
        sightings.push(sighting);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many values were announced so far: a redactor that caught up to this generation
    /// has nothing to do.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Takes every value announced so far, with the generation they bring the taker to.
    pub(crate) fn take(&self) -> (Vec<Sighting>, u64) {
        let mut pending = self.pending();
        let generation = self.generation.load(Ordering::Acquire);
        pending.by_label.clear();
        (std::mem::take(&mut pending.sightings), generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderErrorKind;

    #[test]
    fn every_live_inbox_gets_each_value_and_dropped_ones_are_forgotten() {
        let watch = Watch::default();
        watch.local("unwatched", &SecretString::from("0"));
        let first = watch.subscribe();
        let second = watch.subscribe();
        watch.local("a", &SecretString::from("1"));
        watch.local("a", &SecretString::from("1"));
        watch.local("empty", &SecretString::from(""));
        assert_eq!(first.generation(), 1);
        drop(second);
        watch.fetched(
            "test",
            &["ref-b".to_owned(), "ref-c".to_owned()],
            &[
                Ok(Resolved::new("2")),
                Err(ProviderError::new(
                    "test",
                    ProviderErrorKind::NotFound,
                    "gone",
                )),
            ],
        );
        let (sightings, generation) = first.take();
        assert_eq!(generation, 2);
        let labels: Vec<_> = sightings.iter().map(|s| s.label.clone()).collect();
        assert_eq!(
            labels,
            [
                Label::Name("a".into()),
                Label::Reference {
                    provider: "test".into(),
                    reference: "ref-b".into()
                }
            ]
        );
        assert_eq!(watch.inboxes().len(), 1, "the dropped inbox is gone");
        assert!(first.take().0.is_empty());
    }
}
