//! [`Vault`]: the named secrets, local or linked, and the providers they resolve through.
//!
//! This file manages entries; the providers live in the registry (`registry.rs`), fetching
//! and caching in the resolver (`resolver.rs`), and resolution planning in `resolve.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::cache::CacheKey;
use crate::domain::DomainPattern;
use crate::error::{Error, Result};
use crate::info::{SecretInfo, SecretKind, Staleness};
use crate::name;
use crate::provider::{DEFAULT_PROVIDER_CONCURRENCY, ExternalProvider, ProviderContext};
use crate::registry::Registry;
use crate::resolver::Resolver;

pub use crate::provider::DEFAULT_CACHE_TTL;

/// A vault of named secrets.
///
/// Each secret is *local* (its value kept in the vault) or *linked* (the vault keeps a
/// reference such as `op://Prod/Postgres/password` and fetches the value from an
/// [`ExternalProvider`] when needed, caching it in memory for the TTL).
///
/// `Vault` is a handle: cloning it is cheap and every clone sees the same secrets. It is
/// `Send + Sync`; its methods take `&self`.
///
/// ```
/// use request_vault::{ExposeSecret, Vault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), request_vault::Error> {
/// let vault = Vault::new();
/// vault.set("api-key", "s3cr3t")?;
/// assert_eq!(vault.resolve("api-key").await?.expose_secret(), "s3cr3t");
/// assert!(vault.unset("api-key")?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: RwLock<State>,
    /// The cache of linked values and the permits of provider calls.
    pub(crate) resolver: Resolver,
    /// The client `send` uses; built on first use unless one was given.
    pub(crate) client: OnceLock<reqwest::Client>,
    /// The vault's file and key, when it has one: an opaque slot that only `persist` reads
    /// (its `FileState`), so that the core does not depend on the file layer.
    #[cfg(feature = "file")]
    pub(crate) file: std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) entries: BTreeMap<String, Entry>,
    /// The providers, kept under the same lock as the entries so that a resolution is
    /// planned against one consistent view.
    pub(crate) registry: Registry,
    /// Whether local values were wiped by `lock`.
    pub(crate) locked: bool,
}

/// One secret as the vault keeps it.
pub(crate) struct Entry {
    pub(crate) value: EntryValue,
    pub(crate) allowed_domains: Vec<DomainPattern>,
    pub(crate) enabled: bool,
    pub(crate) created: SystemTime,
    pub(crate) updated: SystemTime,
    /// Members of the secret's record that a newer version wrote and this one does not
    /// know: they travel with the secret (through `rename`, say) and are written back.
    #[cfg(feature = "file")]
    pub(crate) unknown: Option<Box<crate::document::Unknown>>,
}

pub(crate) enum EntryValue {
    Local(SecretString),
    Linked(Arc<CacheKey>),
}

impl Entry {
    pub(crate) fn new(value: EntryValue) -> Self {
        let now = SystemTime::now();
        Entry {
            value,
            allowed_domains: Vec::new(),
            enabled: true,
            created: now,
            updated: now,
            #[cfg(feature = "file")]
            unknown: None,
        }
    }
}

/// Options for a [`Vault`], built with [`Vault::builder`].
///
/// ```
/// use std::time::Duration;
/// use request_vault::Vault;
///
/// let vault = Vault::builder()
///     .cache_ttl(Duration::from_secs(300))
///     .provider_concurrency(4)
///     .build();
/// # drop(vault);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct VaultBuilder {
    cache_ttl: Duration,
    provider_concurrency: usize,
    stale_if_error: Option<Duration>,
    client: Option<reqwest::Client>,
}

impl Default for VaultBuilder {
    fn default() -> Self {
        VaultBuilder {
            cache_ttl: DEFAULT_CACHE_TTL,
            provider_concurrency: DEFAULT_PROVIDER_CONCURRENCY,
            stale_if_error: None,
            client: None,
        }
    }
}

impl VaultBuilder {
    /// How long fetched values of linked secrets are kept in memory ([`DEFAULT_CACHE_TTL`]
    /// unless set). `Duration::ZERO` disables caching; concurrent fetches are still shared.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many provider calls the vault makes at once
    /// ([`DEFAULT_PROVIDER_CONCURRENCY`] unless set; at least 1).
    pub fn provider_concurrency(mut self, limit: usize) -> Self {
        self.provider_concurrency = limit.max(1);
        self
    }

    /// Serves a linked secret's last value, for at most `max_staleness` past its cache TTL,
    /// when refreshing it fails with a transient error (a timeout, a rate limit, the backend
    /// unavailable): the value is marked stale, and [`Vault::describe`] says since when and
    /// why ([`SecretInfo::stale`]). A refusal or a missing secret (`Unauthorized`,
    /// `Forbidden`, `NotFound`, or any other non-transient kind) always surfaces, and drops
    /// the value. Off unless set.
    ///
    /// ```
    /// use std::time::Duration;
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::builder()
    ///     .cache_ttl(Duration::from_secs(300))
    ///     .stale_if_error(Duration::from_secs(3600))
    ///     .build();
    /// # drop(vault);
    /// ```
    pub fn stale_if_error(mut self, max_staleness: Duration) -> Self {
        self.stale_if_error = Some(max_staleness);
        self
    }

    /// The HTTP client [`Vault::send`] uses (and `middleware::VaultMiddleware`, for the
    /// requests that carry secrets). It must not follow redirects itself
    /// (`reqwest::redirect::Policy::none()`): the vault follows them, checking each hop.
    /// Without one, the vault builds such a client on first use.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds an empty in-memory vault with these options.
    pub fn build(self) -> Vault {
        let client = OnceLock::new();
        if let Some(given) = self.client {
            let _ = client.set(given);
        }
        Vault {
            inner: Arc::new(Inner {
                state: RwLock::new(State::default()),
                resolver: Resolver::new(
                    self.cache_ttl,
                    self.stale_if_error,
                    self.provider_concurrency,
                ),
                client,
                #[cfg(feature = "file")]
                file: std::sync::Mutex::new(None),
            }),
        }
    }
}

impl Default for Vault {
    fn default() -> Self {
        Vault::new()
    }
}

impl Vault {
    /// An empty in-memory vault with default options.
    pub fn new() -> Self {
        VaultBuilder::default().build()
    }

    /// A builder for a vault with other options.
    pub fn builder() -> VaultBuilder {
        VaultBuilder::default()
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        // Every update is a single map operation, so a poisoned lock holds consistent data.
        self.inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The read lock if it is free now: for a caller that may run inside a vault operation
    /// (a redactor called from a `tracing` writer), where waiting could deadlock.
    pub(crate) fn try_read(&self) -> Option<RwLockReadGuard<'_, State>> {
        match self.inner.state.try_read() {
            Ok(state) => Some(state),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The write lock, for a change: refused while the vault is locked.
    fn change(&self) -> Result<RwLockWriteGuard<'_, State>> {
        let state = self.write();
        if state.locked {
            return Err(Error::Locked);
        }
        Ok(state)
    }

    /// Stores a local secret, creating it or replacing its value.
    ///
    /// Allowed domains and the enabled flag of an existing secret are kept.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::ReadOnly`] when `name` is a linked secret.
    pub fn set(&self, name: &str, value: impl Into<SecretString>) -> Result<()> {
        name::check(name)?;
        let value = value.into();
        let mut state = self.change()?;
        match state.entries.get_mut(name) {
            Some(entry) => match entry.value {
                EntryValue::Linked(_) => return Err(Error::ReadOnly { name: name.into() }),
                EntryValue::Local(_) => {
                    self.inner.resolver.watch().local(name, &value);
                    entry.value = EntryValue::Local(value);
                    entry.updated = SystemTime::now();
                }
            },
            None => {
                self.inner.resolver.watch().local(name, &value);
                state
                    .entries
                    .insert(name.to_owned(), Entry::new(EntryValue::Local(value)));
            }
        }
        tracing::debug!(secret = name, "stored local secret");
        Ok(())
    }

    /// Removes a secret (a local value or a link). Returns whether it existed.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules.
    pub fn unset(&self, name: &str) -> Result<bool> {
        name::check(name)?;
        let removed = self.change()?.entries.remove(name);
        tracing::debug!(secret = name, existed = removed.is_some(), "unset secret");
        Ok(removed.is_some())
    }

    /// Renames a secret, keeping its value or link, domains and flags.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when either name breaks the naming rules;
    /// - [`Error::NotFound`] when `old` does not exist;
    /// - [`Error::AlreadyExists`] when `new` exists already.
    pub fn rename(&self, old: &str, new: &str) -> Result<()> {
        name::check(old)?;
        name::check(new)?;
        let mut state = self.change()?;
        if !state.entries.contains_key(old) {
            return Err(Error::not_found(old));
        }
        if old == new {
            return Ok(());
        }
        if state.entries.contains_key(new) {
            return Err(Error::AlreadyExists { name: new.into() });
        }
        if let Some(mut entry) = state.entries.remove(old) {
            entry.updated = SystemTime::now();
            state.entries.insert(new.to_owned(), entry);
        }
        tracing::debug!(from = old, to = new, "renamed secret");
        Ok(())
    }

    /// Enables or disables a secret. A disabled secret is kept but does not resolve.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::NotFound`] when there is no such secret.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        self.update(name, |entry| entry.enabled = enabled)
    }

    /// Restricts where a secret may be sent: only requests whose host matches one of the
    /// patterns (see [`DomainPattern`]). An empty list lifts the restriction.
    ///
    /// ```
    /// # use request_vault::Vault;
    /// let vault = Vault::new();
    /// vault.set("api-key", "s3cr3t")?;
    /// vault.set_allowed_domains("api-key", ["api.example.com", "*.example.org"])?;
    /// assert_eq!(vault.describe("api-key")?.allowed_domains.len(), 2);
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::InvalidDomain`] when a pattern is malformed (nothing is changed);
    /// - [`Error::NotFound`] when there is no such secret.
    pub fn set_allowed_domains<I>(&self, name: &str, patterns: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        name::check(name)?;
        let patterns = patterns
            .into_iter()
            .map(|p| DomainPattern::new(p.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        self.update(name, |entry| entry.allowed_domains = patterns)
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut Entry)) -> Result<()> {
        name::check(name)?;
        let mut state = self.change()?;
        let entry = state
            .entries
            .get_mut(name)
            .ok_or_else(|| Error::not_found(name))?;
        change(entry);
        entry.updated = SystemTime::now();
        Ok(())
    }

    /// Registers an external provider; its [`scheme`](ExternalProvider::scheme) becomes
    /// linkable. A provider with the same id is replaced.
    pub fn add_provider<P: ExternalProvider + 'static>(&self, provider: P) {
        self.add_shared_provider(Arc::new(provider));
    }

    /// Registers a provider already behind an `Arc`, as [`add_provider`](Self::add_provider).
    pub fn add_shared_provider(&self, provider: Arc<dyn ExternalProvider>) {
        provider.attach(&ProviderContext::new(self.inner.resolver.ttl()));
        tracing::debug!(
            provider = provider.id(),
            scheme = provider.scheme(),
            "added provider"
        );
        self.write().registry.add(provider);
    }

    /// Removes a provider. Its linked secrets stay, but fail to resolve with
    /// [`Error::IntegrationRemoved`] until the provider is added again. Returns whether it
    /// was registered.
    pub fn remove_provider(&self, id: &str) -> bool {
        let Some(provider) = self.write().registry.remove(id) else {
            return false;
        };
        // Its values go too: the warm path serves whatever is cached without asking the
        // registry, so a removed integration must leave nothing behind.
        self.inner.resolver.forget_provider(id);
        provider.clear_cache();
        tracing::debug!(provider = id, "removed provider");
        true
    }

    /// The provider registered under `id`, if any.
    pub fn provider(&self, id: &str) -> Option<Arc<dyn ExternalProvider>> {
        self.read().registry.get(id).cloned()
    }

    /// Links `name` to an external secret: the provider is chosen by the reference's URI
    /// scheme and checks the reference offline, now. An existing link is re-pointed; an
    /// existing local secret becomes linked (its value is dropped). Domains and the enabled
    /// flag of an existing secret are kept.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::InvalidReference`] when the reference has no `scheme://` or the provider
    ///   finds it malformed;
    /// - [`Error::NoProvider`] when no provider handles its scheme;
    /// - [`Error::FeatureDisabled`] when no provider handles the scheme and it is one of the
    ///   crate's own providers (`op`, `awssecrets`, `vault`, `azurekeyvault`) whose cargo
    ///   feature is off.
    ///
    /// A `ref+` prefix (`ref+vault://…`, as `vals` writes references) is accepted.
    pub fn link(&self, name: &str, reference: &str) -> Result<()> {
        name::check(name)?;
        let provider = self.read().registry.for_reference(reference)?;
        provider.check_reference(reference).map_err(Error::from)?;
        let key = Arc::new(CacheKey::new(provider.id(), reference));
        let mut state = self.change()?;
        match state.entries.get_mut(name) {
            Some(entry) => {
                entry.value = EntryValue::Linked(key);
                entry.updated = SystemTime::now();
            }
            None => {
                state
                    .entries
                    .insert(name.to_owned(), Entry::new(EntryValue::Linked(key)));
            }
        }
        tracing::debug!(
            secret = name,
            provider = provider.id(),
            reference,
            "linked secret"
        );
        Ok(())
    }

    /// Describes every secret, sorted by name. Never includes values.
    pub fn secrets(&self) -> Vec<SecretInfo> {
        let state = self.read();
        state
            .entries
            .iter()
            .map(|(name, entry)| self.info(name, entry))
            .collect()
    }

    /// Describes one secret: kind, provider, reference, allowed domains, enabled, and for a
    /// linked secret when its value was fetched and until when it is cached. Never the value.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::NotFound`] when there is no such secret.
    pub fn describe(&self, name: &str) -> Result<SecretInfo> {
        name::check(name)?;
        let state = self.read();
        let entry = state
            .entries
            .get(name)
            .ok_or_else(|| Error::not_found(name))?;
        Ok(self.info(name, entry))
    }

    fn info(&self, name: &str, entry: &Entry) -> SecretInfo {
        let (kind, provider, reference, freshness) = match &entry.value {
            EntryValue::Local(_) => (SecretKind::Local, None, None, None),
            EntryValue::Linked(key) => (
                SecretKind::Linked,
                Some(key.provider.clone()),
                Some(key.reference.clone()),
                self.inner.resolver.freshness(key),
            ),
        };
        let (last_fetched, cached_until, stale) = match freshness {
            Some(f) => (
                Some(f.fetched_at),
                Some(f.cached_until),
                f.stale
                    .map(|stale| Staleness::new(stale.expired_at, &stale.error)),
            ),
            None => (None, None, None),
        };
        SecretInfo {
            name: name.to_owned(),
            kind,
            provider,
            reference,
            allowed_domains: entry.allowed_domains.clone(),
            enabled: entry.enabled,
            created: entry.created,
            updated: entry.updated,
            last_fetched,
            cached_until,
            stale,
        }
    }

    /// The cache keys of those `names` that are linked and cached now.
    pub(crate) fn cached_keys(&self, names: &[String]) -> Vec<Arc<CacheKey>> {
        let state = self.read();
        names
            .iter()
            .filter_map(
                |name| match state.entries.get(name.as_str()).map(|e| &e.value) {
                    Some(EntryValue::Linked(key))
                        if self.inner.resolver.freshness(key).is_some() =>
                    {
                        Some(Arc::clone(key))
                    }
                    _ => None,
                },
            )
            .collect()
    }

    /// Forgets the cached values of `keys`.
    pub(crate) fn forget(&self, keys: &[Arc<CacheKey>]) {
        for key in keys {
            self.inner.resolver.forget(key);
        }
    }

    /// Forgets every fetched value now (Postman's "Reset cache"), including what providers
    /// cache of their own. The next resolve of a linked secret fetches it again.
    pub fn clear_cache(&self) {
        self.inner.resolver.clear();
        let providers: Vec<_> = self.read().registry.providers().cloned().collect();
        for provider in providers {
            provider.clear_cache();
        }
        tracing::debug!("cleared the cache");
    }
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("Vault")
            .field("secrets", &state.entries.keys().collect::<Vec<_>>())
            .field("providers", &state.registry.ids().collect::<Vec<_>>())
            .field("cache_ttl", &self.inner.resolver.ttl())
            .finish()
    }
}

impl fmt::Display for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        let linked = state
            .entries
            .values()
            .filter(|e| matches!(e.value, EntryValue::Linked(_)))
            .count();
        write!(
            f,
            "vault with {} secrets ({} local, {linked} linked)",
            state.entries.len(),
            state.entries.len() - linked
        )
    }
}
