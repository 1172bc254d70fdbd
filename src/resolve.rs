//! Resolution: from secret names to values, through the cache and the providers.
//!
//! Names are planned under the vault's read lock against its entries and provider registry
//! (local value, error, or a linked key and its provider); linked keys are then grouped by
//! provider and handed to the resolver, whose cache starts at most one provider call per
//! group for the references it is missing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::join_all;
use secrecy::SecretString;

use crate::cache::CacheKey;
use crate::error::{Error, Result};
use crate::name;
use crate::provider::ExternalProvider;
use crate::provider::batch::Slots;
use crate::vault::{EntryValue, State, Vault};

/// What resolving one name takes.
enum Plan {
    Local(SecretString),
    Linked {
        provider: Arc<dyn ExternalProvider>,
        key: Arc<CacheKey>,
    },
}

/// The linked names of one provider: the provider, and each name's index and key.
type Group = (Arc<dyn ExternalProvider>, Vec<(usize, Arc<CacheKey>)>);

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
    /// - [`Error::IntegrationRemoved`] when its provider was removed, [`Error::NoProvider`]
    ///   when its provider was never added;
    /// - [`Error::Provider`] when the provider fails;
    /// - [`Error::Locked`] while the vault is locked.
    pub async fn resolve(&self, name: &str) -> Result<SecretString> {
        let (provider, key) = {
            let state = self.read();
            if let Some(value) = self.cached(&state, name) {
                return Ok(value); // the warm path: no Arc clones, no await
            }
            match self.plan(&state, name)? {
                Plan::Local(value) => return Ok(value),
                Plan::Linked { provider, key } => (provider, key),
            }
        };
        let lookups = self
            .inner
            .resolver
            .lookup(provider, std::slice::from_ref(&key), false);
        let mut outcome = Err(Error::not_found(name));
        for lookup in lookups {
            outcome = lookup
                .value()
                .await
                .map_err(|source| Error::from_provider(Some(name.to_owned()), source));
        }
        outcome
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
        let mut seen = HashSet::with_capacity(given.len());
        let distinct: Vec<String> = given
            .iter()
            .map(AsRef::as_ref)
            .filter(|name| seen.insert(*name))
            .map(str::to_owned)
            .collect();
        let outcomes = self.resolve_names(&distinct).await;
        let mut values = HashMap::with_capacity(outcomes.len());
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

    /// Resolves distinct `names`, one outcome per name, in order.
    pub(crate) async fn resolve_names(&self, names: &[String]) -> Vec<Result<SecretString>> {
        let mut outcomes = Slots::new(names.len());
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        {
            let state = self.read();
            for (index, name) in names.iter().enumerate() {
                match self.plan(&state, name) {
                    Ok(Plan::Local(value)) => outcomes.set(index, Ok(value)),
                    Err(error) => outcomes.set(index, Err(error)),
                    Ok(Plan::Linked { provider, key }) => {
                        groups
                            .entry(key.provider.clone())
                            .or_insert_with(|| (provider, Vec::new()))
                            .1
                            .push((index, key));
                    }
                }
            }
        }

        let mut pending = Vec::new();
        for (provider, members) in groups.into_values() {
            let keys: Vec<Arc<CacheKey>> = members.iter().map(|(_, key)| Arc::clone(key)).collect();
            let lookups = self.inner.resolver.lookup(provider, &keys, true);
            pending.extend(members.into_iter().map(|(index, _)| index).zip(lookups));
        }
        let fetched = join_all(
            pending
                .into_iter()
                .map(|(index, lookup)| lookup.value().map(move |outcome| (index, outcome))),
        )
        .await;
        for (index, outcome) in fetched {
            let outcome =
                outcome.map_err(|source| Error::from_provider(Some(names[index].clone()), source));
            outcomes.set(index, outcome);
        }
        outcomes.finish(|index| Err(Error::not_found(&names[index])))
    }

    /// The cached value of an enabled linked secret whose provider is registered.
    fn cached(&self, state: &State, name: &str) -> Option<SecretString> {
        if state.locked {
            return None;
        }
        let entry = state.entries.get(name).filter(|entry| entry.enabled)?;
        match &entry.value {
            EntryValue::Linked(key) if state.registry.contains(&key.provider) => {
                self.inner.resolver.cached(key)
            }
            _ => None,
        }
    }

    /// What resolving `name` takes, decided under the read lock.
    fn plan(&self, state: &State, name: &str) -> Result<Plan> {
        name::check(name)?;
        if state.locked {
            return Err(Error::Locked);
        }
        let entry = state
            .entries
            .get(name)
            .ok_or_else(|| Error::not_found(name))?;
        if !entry.enabled {
            return Err(Error::Disabled { name: name.into() });
        }
        match &entry.value {
            EntryValue::Local(value) => Ok(Plan::Local(value.clone())),
            EntryValue::Linked(key) => Ok(Plan::Linked {
                provider: Arc::clone(state.registry.route(name, key)?),
                key: Arc::clone(key),
            }),
        }
    }
}
