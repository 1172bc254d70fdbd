//! What a redactor masks, and how a live one follows its vault.
//!
//! A redactor searches a [`View`]: a base automaton over every value it knew when the base
//! was built, and a small recent one over the values that came since. A live redactor keeps
//! its own copy of every value it ever masked (a value once masked stays masked: it may
//! already be in a log) and watches the vault's announcements ([`Inbox`]): a value stored or
//! fetched bumps the inbox's generation.
//!
//! `redact` compares two numbers and searches: nothing is rebuilt while nothing changed.
//! The first `redact` after a change catches up: it takes the new values and builds the
//! recent automaton over them alone (small). Folding them into the base, which costs time
//! linear in every value, runs on a thread of its own; until it is done the two automata are
//! searched together. Without threads the fold runs in place.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use secrecy::{ExposeSecret, SecretString};

use super::masks::Masks;
use crate::vault::{EntryValue, Inner, Vault};
use crate::watch::{Inbox, Label, Sighting};

/// The automata a redactor searches, and the inbox generation they cover.
pub(super) struct View {
    base: Arc<Masks>,
    recent: Option<Arc<Masks>>,
    generation: u64,
}

impl View {
    /// The automata to search, the base first.
    pub(super) fn masks(&self) -> Vec<&Masks> {
        let mut masks = Vec::with_capacity(2);
        masks.push(&*self.base);
        masks.extend(self.recent.as_deref());
        masks
    }

    /// The names of the masked values, one per value.
    pub(super) fn names(&self) -> Vec<&str> {
        self.masks()
            .into_iter()
            .flat_map(|m| m.names().iter().map(|n| &**n))
            .collect()
    }

    /// How many values are masked.
    pub(super) fn len(&self) -> usize {
        self.masks().iter().map(|m| m.names().len()).sum()
    }

    /// How far back from the end of a text a secret the rest of the text completes may
    /// start (see [`Masks::reach`]).
    pub(super) fn reach(&self) -> usize {
        self.masks().iter().map(|m| m.reach()).max().unwrap_or(0)
    }

    /// How many bytes at the end of `text` (a line) may be the first lines of a multi-line
    /// secret.
    pub(super) fn held_back(&self, text: &[u8]) -> usize {
        self.masks()
            .iter()
            .map(|m| m.held_back(text))
            .max()
            .unwrap_or(0)
    }
}

/// The providers a reference was fetched from, each with the name found for it.
type Providers<'s> = Vec<(&'s str, Option<Arc<str>>)>;

/// One value a live redactor masks.
struct Known {
    name: Arc<str>,
    value: SecretString,
}

/// A redactor's state, shared by its clones.
pub(super) struct Shared {
    view: RwLock<Arc<View>>,
    live: Option<Live>,
}

/// What a live redactor adds: its vault's announcements and its own copies of the values.
struct Live {
    inbox: Arc<Inbox>,
    vault: Weak<Inner>,
    values: Mutex<Values>,
    /// Whether a fold of the recent values into the base is under way.
    folding: AtomicBool,
}

/// The values a live redactor masks: `all[..folded]` are in the view's base, the rest in
/// its recent automaton.
#[derive(Default)]
struct Values {
    all: Vec<Arc<Known>>,
    folded: usize,
    /// Where each name's values are in `all`, to skip repeats (a refetch that returns the
    /// same value); built at the first catch-up.
    by_name: Option<HashMap<Arc<str>, Vec<usize>>>,
    /// How many automata were built (for tests: nothing is rebuilt while nothing changed).
    #[cfg(test)]
    builds: usize,
}

impl Values {
    /// Adds a value unless it is known under that name already; returns whether it was new.
    fn add(&mut self, name: Arc<str>, value: SecretString) -> bool {
        let all = &self.all;
        let by_name = self.by_name.get_or_insert_with(|| {
            let mut by_name: HashMap<Arc<str>, Vec<usize>> = HashMap::with_capacity(all.len());
            for (at, known) in all.iter().enumerate() {
                by_name.entry(Arc::clone(&known.name)).or_default().push(at);
            }
            by_name
        });
        let indices = by_name.entry(Arc::clone(&name)).or_default();
        if indices
            .iter()
            .any(|&at| all[at].value.expose_secret() == value.expose_secret())
        {
            return false;
        }
        indices.push(self.all.len());
        self.all.push(Arc::new(Known { name, value }));
        true
    }

    fn build(&mut self, range: std::ops::RangeFrom<usize>) -> Masks {
        #[cfg(test)]
        {
            self.builds += 1;
        }
        masks_of(&self.all[range])
    }
}

fn masks_of(values: &[Arc<Known>]) -> Masks {
    Masks::build(values.iter().map(|k| (Arc::clone(&k.name), &k.value)))
}

impl Shared {
    /// A redactor that masks `masks` and nothing else, ever.
    pub(super) fn fixed(masks: Masks) -> Arc<Self> {
        Arc::new(Shared {
            view: RwLock::new(Arc::new(View {
                base: Arc::new(masks),
                recent: None,
                generation: 0,
            })),
            live: None,
        })
    }

    /// A redactor that follows `vault`: it masks every value the vault holds now (enabled
    /// or not, local or cached), and every value stored or fetched from now on.
    pub(super) fn follow(vault: &Vault) -> Arc<Self> {
        // Watch first: a value stored while the vault is read below is then announced too
        // (and skipped as a repeat), never missed.
        let inbox = vault.inner.resolver.watch().subscribe();
        let mut values = Values::default();
        {
            let state = vault.read();
            for (name, entry) in &state.entries {
                let value = match &entry.value {
                    EntryValue::Local(value) => Some(value.clone()),
                    EntryValue::Linked(key) => vault.inner.resolver.cached(key),
                };
                if let Some(value) = value.filter(|v| !v.expose_secret().is_empty()) {
                    values.all.push(Arc::new(Known {
                        name: Arc::from(name.as_str()),
                        value,
                    }));
                }
            }
        }
        values.folded = values.all.len();
        let base = values.build(0..);
        Arc::new(Shared {
            view: RwLock::new(Arc::new(View {
                base: Arc::new(base),
                recent: None,
                generation: 0,
            })),
            live: Some(Live {
                inbox,
                vault: Arc::downgrade(&vault.inner),
                values: Mutex::new(values),
                folding: AtomicBool::new(false),
            }),
        })
    }

    fn current(&self) -> Arc<View> {
        Arc::clone(&self.view.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn publish(&self, view: View) -> Arc<View> {
        let view = Arc::new(view);
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&view);
        view
    }

    /// The view to search now: the current one, unless the vault announced values since it
    /// was made, which are then taken in first.
    pub(super) fn view(self: &Arc<Self>) -> Arc<View> {
        let view = self.current();
        match &self.live {
            Some(live) if live.inbox.generation() != view.generation => self.catch_up(live),
            _ => view,
        }
    }

    /// Takes the announced values in: new ones get a recent automaton of their own now, and
    /// a fold into the base later.
    fn catch_up(self: &Arc<Self>, live: &Live) -> Arc<View> {
        let mut values = live.values();
        let (sightings, generation) = live.inbox.take();
        let current = self.current();
        if sightings.is_empty() {
            // Another clone caught up in between.
            return current;
        }
        let mut added = false;
        for (name, value) in live.name(sightings) {
            added |= values.add(name, value);
        }
        if !added {
            return self.publish(View {
                base: Arc::clone(&current.base),
                recent: current.recent.clone(),
                generation,
            });
        }
        let folded = values.folded;
        let recent = values.build(folded..);
        let view = self.publish(View {
            base: Arc::clone(&current.base),
            recent: Some(Arc::new(recent)),
            generation,
        });
        let fold_now = !live.folding.swap(true, Ordering::AcqRel) && !self.fold_elsewhere();
        drop(values);
        if fold_now {
            self.fold(live);
            return self.current();
        }
        view
    }

    /// Starts the fold on a thread of its own; false if no thread could be started.
    fn fold_elsewhere(self: &Arc<Self>) -> bool {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("request-vault-redactor".into())
            .spawn(move || {
                if let Some(shared) = weak.upgrade()
                    && let Some(live) = &shared.live
                {
                    shared.fold(live);
                }
            })
            .is_ok()
    }

    /// Folds every value into one base automaton, until no new value came during the fold.
    fn fold(&self, live: &Live) {
        loop {
            let (all, count) = {
                let values = live.values();
                (values.all.clone(), values.all.len())
            };
            let base = masks_of(&all);
            drop(all);
            let mut values = live.values();
            #[cfg(test)]
            {
                values.builds += 1;
            }
            let more = values.all.len() > count;
            let recent = more.then(|| Arc::new(values.build(count..)));
            values.folded = count;
            let generation = self.current().generation;
            self.publish(View {
                base: Arc::new(base),
                recent,
                generation,
            });
            if !more {
                // Under the lock of the values: a catch-up that adds one after this starts a
                // new fold.
                live.folding.store(false, Ordering::Release);
                return;
            }
        }
    }

    /// How many automata were built so far.
    #[cfg(test)]
    fn builds(&self) -> usize {
        self.live.as_ref().map_or(1, |live| live.values().builds)
    }

    /// Waits for a fold under way to end.
    #[cfg(test)]
    fn settle(&self) {
        if let Some(live) = &self.live {
            while live.folding.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

impl Live {
    fn values(&self) -> MutexGuard<'_, Values> {
        // Every update of the values is one push or a counter: a poisoned lock holds
        // consistent data.
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The name each announced value is masked as: a local secret's own; a fetched value's,
    /// the first secret linked to its reference, or the reference itself when none is (any
    /// more) or the vault is busy (a redactor may run inside a vault operation, through a
    /// `tracing` writer: waiting for the vault's lock there could deadlock).
    fn name(&self, sightings: Vec<Sighting>) -> Vec<(Arc<str>, SecretString)> {
        let mut linked: HashMap<&str, Providers<'_>> = HashMap::new();
        for sighting in &sightings {
            if let Label::Reference {
                provider,
                reference,
            } = &sighting.label
            {
                let providers = linked.entry(reference).or_default();
                if providers.iter().all(|(p, _)| p != provider) {
                    providers.push((provider, None));
                }
            }
        }
        if !linked.is_empty()
            && let Some(inner) = self.vault.upgrade()
        {
            let vault = Vault { inner };
            if let Some(state) = vault.try_read() {
                for (name, entry) in &state.entries {
                    if let EntryValue::Linked(key) = &entry.value
                        && let Some(providers) = linked.get_mut(key.reference.as_str())
                        && let Some((_, slot @ None)) =
                            providers.iter_mut().find(|(p, _)| *p == key.provider)
                    {
                        *slot = Some(Arc::from(name.as_str()));
                    }
                }
            }
        }
        let named: Vec<Arc<str>> = sightings
            .iter()
            .map(|sighting| match &sighting.label {
                Label::Name(name) => Arc::from(name.as_str()),
                Label::Reference {
                    provider,
                    reference,
                } => linked
                    .get(reference.as_str())
                    .and_then(|providers| providers.iter().find(|(p, _)| p == provider))
                    .and_then(|(_, name)| name.clone())
                    .unwrap_or_else(|| Arc::from(reference.as_str())),
            })
            .collect();
        named
            .into_iter()
            .zip(sightings)
            .map(|(name, sighting)| (name, sighting.value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::scan;

    fn redact(shared: &Arc<Shared>, text: &str) -> String {
        let view = shared.view();
        scan::mask_str(text, &scan::spans(&view.masks(), text.as_bytes()))
    }

    #[test]
    fn nothing_is_rebuilt_while_nothing_changed_and_a_change_builds_once() {
        let vault = Vault::new();
        vault.set("a", "first-value").unwrap();
        let shared = Shared::follow(&vault);
        assert_eq!(shared.builds(), 1);
        for _ in 0..3 {
            assert_eq!(redact(&shared, "x first-value"), "x [vault:a]");
        }
        assert_eq!(shared.builds(), 1, "nothing changed");
        vault.set("b", "second-value").unwrap();
        vault.set("a", "first-value").unwrap();
        assert_eq!(redact(&shared, "second-value"), "[vault:b]");
        shared.settle();
        // The recent automaton, then the fold.
        assert_eq!(shared.builds(), 3);
        assert_eq!(
            redact(&shared, "second-value first-value"),
            "[vault:b] [vault:a]"
        );
        assert_eq!(shared.builds(), 3);
        let view = shared.view();
        assert!(view.recent.is_none(), "folded into the base");
        assert_eq!(view.len(), 2);
    }

    #[test]
    fn a_repeated_value_is_not_rebuilt() {
        let vault = Vault::new();
        vault.set("a", "same-value").unwrap();
        let shared = Shared::follow(&vault);
        vault.set("a", "same-value").unwrap();
        assert_eq!(redact(&shared, "same-value"), "[vault:a]");
        assert_eq!(shared.builds(), 1);
        assert_eq!(shared.view().generation, 1);
    }

    #[test]
    fn values_folded_while_more_come_stay_masked() {
        let vault = Vault::new();
        let shared = Shared::follow(&vault);
        for i in 0..50 {
            vault
                .set(&format!("s{i}"), format!("value-number-{i:03}"))
                .unwrap();
            let text = format!("v=value-number-{i:03}");
            assert_eq!(redact(&shared, &text), format!("v=[vault:s{i}]"));
        }
        shared.settle();
        let text: String = (0..50).map(|i| format!("value-number-{i:03} ")).collect();
        let expected: String = (0..50).map(|i| format!("[vault:s{i}] ")).collect();
        assert_eq!(redact(&shared, &text), expected);
        assert_eq!(shared.view().len(), 50);
    }
}
