//! Resolution: from secret names to values, through the cache and the providers.
//!
//! Names are planned under the vault's read lock against its entries and provider registry
//! (local value, error, or a linked key and its provider); linked keys are then grouped by
//! provider and handed to the resolver, whose cache starts at most one provider call per
//! group for the references it is missing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures_util::FutureExt;
use secrecy::SecretString;

use crate::cache::CacheKey;
use crate::error::{Error, Result};
use crate::name;
use crate::provider::batch::Slots;
use crate::provider::memo;
use crate::provider::{ExternalProvider, ProviderError, ProviderErrorKind};
use crate::template::Template;
use crate::vault::{Entry, EntryValue, State, Vault};

/// What resolving one name takes.
pub(crate) enum Plan<'s> {
    Local(&'s SecretString),
    Linked {
        provider: &'s Arc<dyn ExternalProvider>,
        key: &'s Arc<CacheKey>,
    },
}

/// The linked names of one provider: the provider, each name's index, and its key.
type Group = (Arc<dyn ExternalProvider>, Vec<usize>, Vec<Arc<CacheKey>>);

/// What the vault gives for one name at once, under its read lock.
pub(crate) enum Found<'s> {
    /// A local value, as the vault holds it.
    Local(&'s SecretString),
    /// A linked value, from the cache.
    Cached(SecretString),
    /// Neither: a value to fetch, or a name that fails (the cold path tells which).
    Missing,
}

/// The values of `found`, when every one was found.
pub(crate) fn all_found<'a>(found: &'a [Found<'_>]) -> Option<Vec<&'a SecretString>> {
    found
        .iter()
        .map(|found| match found {
            Found::Local(value) => Some(*value),
            Found::Cached(value) => Some(value),
            Found::Missing => None,
        })
        .collect()
}

impl Vault {
    /// Resolves one secret to its value: a local value at once, a linked one from the cache
    /// or, when missing or expired, from its provider (concurrent callers share one fetch).
    ///
    /// ```
    /// use request_vault::{ExposeSecret, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("token", "t0k3n")?;
    /// let value = vault.resolve("token").await?;
    /// assert_eq!(value.expose_secret(), "t0k3n");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::NotFound`] when there is no such secret (*empty*);
    /// - [`Error::Disabled`] when it is disabled;
    /// - [`Error::IntegrationRemoved`] when its provider was removed,
    ///   [`Error::UnknownProvider`] (kind [`ErrorKind::NoProvider`](crate::ErrorKind::NoProvider))
    ///   when its provider was never added;
    /// - [`Error::Provider`] when the provider fails;
    /// - [`Error::Locked`] while the vault is locked.
    pub async fn resolve(&self, name: &str) -> Result<SecretString> {
        match self.resolve_warm(name) {
            Some(value) => Ok(value),
            // Boxed, so that this future stays a few words: a warm resolve then costs a
            // lookup and a clone, not the moves of the fetch's large state machine.
            None => self.resolve_cold_boxed(name).await,
        }
    }

    /// [`resolve_cold`](Self::resolve_cold)'s future on the heap, built out of line: built
    /// in `resolve`'s own poll, its stack room would be reserved on every warm resolve too.
    #[inline(never)]
    fn resolve_cold_boxed<'a>(
        &'a self,
        name: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<SecretString>> {
        self.resolve_cold(name).boxed()
    }

    /// The warm paths of [`resolve`](Self::resolve): a local value, or a linked one in the
    /// cache. Values of a removed provider are forgotten with it, so the registry need not
    /// be asked.
    fn resolve_warm(&self, name: &str) -> Option<SecretString> {
        let state = self.read();
        if state.locked {
            return None;
        }
        let entry = state.entries.get(name).filter(|entry| entry.enabled)?;
        match &entry.value {
            EntryValue::Local(value) => Some(value.clone()),
            EntryValue::Linked(key) => self.inner.resolver.cached_ahead(key),
        }
    }

    /// The rest of [`resolve`](Self::resolve): checks the name, then fetches a linked value
    /// (through the cache, so that concurrent callers share one fetch).
    async fn resolve_cold(&self, name: &str) -> Result<SecretString> {
        let (provider, key) = {
            let state = self.read();
            match self.plan(&state, name)? {
                Plan::Local(value) => return Ok(value.clone()),
                Plan::Linked { provider, key } => (Arc::clone(provider), Arc::clone(key)),
            }
        };
        self.fetch_one(&provider, &key)
            .await
            .map_err(|source| Error::from_provider(Some(name.to_owned()), source))
    }

    /// The value of linked `key` through `provider`: cached, under way, or fetched now.
    /// A fetch that fails while a value is cached (a refresh that failed, and left the value
    /// within its TTL in place; another caller's fetch that succeeded) gives that value.
    async fn fetch_one(
        &self,
        provider: &Arc<dyn ExternalProvider>,
        key: &Arc<CacheKey>,
    ) -> std::result::Result<SecretString, Arc<ProviderError>> {
        let lookup = self
            .inner
            .resolver
            .lookup(provider, std::slice::from_ref(key), false)
            .pop();
        let outcome = match lookup {
            Some(lookup) => lookup.value().await,
            None => Err(Arc::new(ProviderError::new(
                key.provider.clone(),
                ProviderErrorKind::Protocol,
                "the cache lost a lookup",
            ))),
        };
        outcome.or_else(|error| self.inner.resolver.cached(key).ok_or(error))
    }

    /// Resolves one reference, with no secret named after it: the provider is picked by the
    /// reference's scheme as [`link`](Self::link) picks it, and checks the reference offline
    /// first. The value goes through the same cache as linked secrets (keyed by provider
    /// and reference, so a secret linked to the same reference shares it) and concurrent
    /// callers share one fetch.
    ///
    /// ```
    /// use request_vault::{async_trait, ExposeSecret, ExternalProvider, ProviderError, SecretString, Vault};
    ///
    /// /// Answers `demo://NAME` with `value of NAME`.
    /// #[derive(Debug)]
    /// struct Demo;
    ///
    /// #[async_trait]
    /// impl ExternalProvider for Demo {
    ///     fn id(&self) -> &str { "demo" }
    ///     fn scheme(&self) -> &str { "demo" }
    ///     fn check_reference(&self, _reference: &str) -> Result<(), ProviderError> { Ok(()) }
    ///     async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
    ///         Ok(format!("value of {}", &reference["demo://".len()..]).into())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.add_provider(Demo);
    /// let value = vault.resolve_reference("demo://db").await?;
    /// assert_eq!(value.expose_secret(), "value of db");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidReference`] when the reference has no `scheme://` or its provider
    ///   finds it malformed;
    /// - [`Error::NoProvider`] / [`Error::FeatureDisabled`] when no provider handles its
    ///   scheme, [`Error::AmbiguousProvider`] when several do;
    /// - [`Error::Provider`] when the provider fails;
    /// - [`Error::Locked`] while the vault is locked.
    pub async fn resolve_reference(&self, reference: &str) -> Result<SecretString> {
        let provider = {
            let state = self.read();
            if state.locked {
                return Err(Error::Locked);
            }
            state.registry.for_reference(reference)?
        };
        provider.check_reference(reference).map_err(Error::from)?;
        let key = Arc::new(CacheKey::new(provider.id(), reference));
        if let Some(value) = self.inner.resolver.cached_ahead(&key) {
            return Ok(value);
        }
        self.fetch_one(&provider, &key)
            .await
            .map_err(|source| Error::from_provider(None, source))
    }

    /// What the vault gives at once for each of `entries` (those of some names, under
    /// `state`, its read lock): local values as they are, linked ones from the cache in one
    /// look-up (a value due for a refresh ahead of time is served, and refetched in the
    /// background). The rest is [`Found::Missing`], and everything while the vault is locked.
    pub(crate) fn warm<'s>(
        &self,
        state: &'s State,
        entries: impl IntoIterator<Item = Option<&'s Entry>>,
    ) -> Vec<Found<'s>> {
        let entries = entries.into_iter();
        let mut found = Vec::with_capacity(entries.size_hint().0);
        let mut linked: Vec<(usize, &'s Arc<CacheKey>)> = Vec::new();
        for (index, entry) in entries.enumerate() {
            let entry = entry.filter(|entry| entry.enabled && !state.locked);
            found.push(match entry.map(|entry| &entry.value) {
                Some(EntryValue::Local(value)) => Found::Local(value),
                Some(EntryValue::Linked(key)) => {
                    linked.push((index, key));
                    Found::Missing
                }
                None => Found::Missing,
            });
        }
        if !linked.is_empty() {
            // Values of a removed provider are forgotten with it: the registry need not be
            // asked.
            let cached = self
                .inner
                .resolver
                .cached_ahead_many(linked.iter().map(|(_, key)| *key));
            for ((index, _), value) in linked.iter().zip(cached) {
                if let Some(value) = value {
                    found[*index] = Found::Cached(value);
                }
            }
        }
        found
    }

    /// Resolves many secrets at once. Linked secrets are grouped by provider and each
    /// provider's [`resolve_all`](ExternalProvider::resolve_all) is called once for the
    /// references missing from the cache. Repeated names are resolved once.
    ///
    /// ```
    /// use request_vault::{ExposeSecret, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("user", "admin")?;
    /// vault.set("password", "hunter2")?;
    /// let values = vault.resolve_all(["user", "password"]).await?;
    /// assert_eq!(values["password"].expose_secret(), "hunter2");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Every failing name is reported together: one failure is returned as it is (see
    /// [`resolve`](Self::resolve)), several as [`Error::Multiple`] in the order given.
    pub async fn resolve_all<I>(&self, names: I) -> Result<HashMap<String, SecretString>>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let given: Vec<I::Item> = names.into_iter().collect();
        let mut values = HashMap::with_capacity(given.len());
        // The warm path: local and cached values under one read lock (a repeated name is
        // inserted again, with the same value); the rest is resolved below.
        let mut rest: Vec<&str> = Vec::new();
        {
            let state = self.read();
            let entries = given.iter().map(|name| state.entries.get(name.as_ref()));
            for (name, found) in given.iter().zip(self.warm(&state, entries)) {
                let name = name.as_ref();
                match found {
                    Found::Local(value) => {
                        values.insert(name.to_owned(), value.clone());
                    }
                    Found::Cached(value) => {
                        values.insert(name.to_owned(), value);
                    }
                    Found::Missing => rest.push(name),
                }
            }
        }
        if rest.is_empty() {
            return Ok(values);
        }
        let mut seen = HashSet::with_capacity(rest.len());
        let distinct: Vec<String> = rest
            .into_iter()
            .filter(|name| seen.insert(*name))
            .map(str::to_owned)
            .collect();
        let outcomes = self.resolve_names(&distinct).await;
        let mut errors = Vec::new();
        for (name, outcome) in distinct.into_iter().zip(outcomes) {
            match outcome {
                Ok(value) => {
                    values.insert(name, value);
                }
                Err(error) => errors.push(error),
            }
        }
        Error::gather(errors)?;
        Ok(values)
    }

    /// Renders `template` as plain text: its names resolved in order (no map built), each
    /// value inserted as it is.
    pub(crate) async fn render_plain(&self, template: &Template) -> Result<SecretString> {
        // Fast paths, under the read lock, nothing to await: every name a local secret,
        // rendered from the values themselves (no copy of any made); else every name local
        // or cached.
        {
            let state = self.read();
            if !state.locked
                && let Some(found) = local_values(&state.entries, template)
            {
                return Ok(crate::template::into_secret(template.render_as_is(&found)));
            }
            let entries = template
                .names()
                .iter()
                .map(|name| state.entries.get(name.as_str()));
            let found = self.warm(&state, entries);
            if let Some(values) = all_found(&found) {
                return Ok(crate::template::into_secret(template.render_as_is(&values)));
            }
        }
        let outcomes = self.resolve_names(template.names()).await;
        let mut values = Vec::with_capacity(outcomes.len());
        let mut errors = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(value) => values.push(value),
                Err(error) => errors.push(error),
            }
        }
        Error::gather(errors)?;
        Ok(template.render_in_order(&values))
    }

    /// Resolves distinct `names`, one outcome per name, in order.
    pub(crate) async fn resolve_names(&self, names: &[String]) -> Vec<Result<SecretString>> {
        let mut outcomes = Slots::new(names.len());
        // Few providers: a list searched by identity beats a map keyed by an owned id.
        let mut groups: Vec<Group> = Vec::new();
        {
            let state = self.read();
            for (index, name) in names.iter().enumerate() {
                match self.plan(&state, name) {
                    Ok(Plan::Local(value)) => outcomes.set(index, Ok(value.clone())),
                    Err(error) => outcomes.set(index, Err(error)),
                    Ok(Plan::Linked { provider, key }) => {
                        let group = match groups.iter().position(|g| Arc::ptr_eq(&g.0, provider)) {
                            Some(at) => &mut groups[at],
                            None => {
                                groups.push((Arc::clone(provider), Vec::new(), Vec::new()));
                                let last = groups.len() - 1;
                                &mut groups[last]
                            }
                        };
                        group.1.push(index);
                        group.2.push(Arc::clone(key));
                    }
                }
            }
        }

        let mut indices = Vec::new();
        let mut lookups = Vec::new();
        let mut keys_of = Vec::new();
        for (provider, members, keys) in groups {
            lookups.extend(self.inner.resolver.lookup(&provider, &keys, true));
            indices.extend(members);
            keys_of.extend(keys);
        }
        let fetched = memo::values(lookups).await;
        for ((index, outcome), key) in indices.into_iter().zip(fetched).zip(keys_of) {
            // A failed refresh leaves the value it was refreshing cached: that one is served.
            let outcome = outcome
                .or_else(|error| self.inner.resolver.cached(&key).ok_or(error))
                .map_err(|source| Error::from_provider(Some(names[index].clone()), source));
            outcomes.set(index, outcome);
        }
        outcomes.finish(|index| Err(Error::not_found(&names[index])))
    }

    /// What resolving `name` takes, decided under the read lock.
    ///
    /// Borrows from the state: the warm path clones nothing but the value. A name is only
    /// checked when it is not found (a stored name is valid).
    pub(crate) fn plan<'s>(&self, state: &'s State, name: &str) -> Result<Plan<'s>> {
        if state.locked {
            name::check(name)?;
            return Err(Error::Locked);
        }
        let Some(entry) = state.entries.get(name) else {
            name::check(name)?;
            return Err(Error::not_found(name));
        };
        if !entry.enabled {
            return Err(Error::Disabled { name: name.into() });
        }
        match &entry.value {
            EntryValue::Local(value) => Ok(Plan::Local(value)),
            EntryValue::Linked(key) => Ok(Plan::Linked {
                provider: state.registry.route(name, key)?,
                key,
            }),
        }
    }
}

/// The values of `template`'s names, in its order, when every one is an enabled local
/// secret. A vault not much larger than the template is walked in key order, each key looked
/// up in the template's own index (cheaper than a tree search per name).
fn local_values<'a>(
    entries: &'a BTreeMap<String, Entry>,
    template: &Template,
) -> Option<Vec<&'a SecretString>> {
    let local = Entry::local_value;
    let names = template.names();
    if entries.len() > 4 * names.len() {
        return names
            .iter()
            .map(|name| entries.get(name.as_str()).and_then(local))
            .collect();
    }
    let mut slots: Vec<Option<&SecretString>> = vec![None; names.len()];
    for (name, entry) in entries {
        if let Some(at) = template.position(name) {
            slots[at] = Some(local(entry)?);
        }
    }
    slots.into_iter().collect()
}
