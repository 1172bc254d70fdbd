//! [`Vault`]: the named secrets, local or linked, and the providers they resolve through.
//!
//! This file manages entries; options are in `builder.rs`, providers and links in `link.rs`
//! (the registry itself in `registry.rs`), fetching and caching in the resolver
//! (`resolver.rs`), resolution planning in `resolve.rs`, and cache control in `refresh.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
use std::time::SystemTime;

use secrecy::SecretString;

use crate::cache::CacheKey;
use crate::domain::DomainPattern;
use crate::error::{Error, Result};
use crate::info::{SecretInfo, SecretKind, Staleness};
use crate::name;
use crate::registry::Registry;
use crate::resolver::Resolver;
use crate::template_cache::TemplateCache;

pub use crate::provider::DEFAULT_CACHE_TTL;

/// A vault of named secrets.
///
/// Each secret is *local* (its value kept in the vault) or *linked* (the vault keeps a
/// reference such as `op://Prod/Postgres/password` and fetches the value from an
/// [`ExternalProvider`](crate::ExternalProvider) when needed, caching it in memory for the TTL).
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
    pub(crate) state: RwLock<State>,
    /// The cache of linked values and the permits of provider calls.
    pub(crate) resolver: Resolver,
    /// The client `send` uses; built on first use unless one was given.
    pub(crate) client: OnceLock<reqwest::Client>,
    /// The parsed templates of `render`, by their text (never a value).
    pub(crate) templates: TemplateCache,
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
    /// The value of an enabled local secret.
    pub(crate) fn local_value(&self) -> Option<&SecretString> {
        match &self.value {
            EntryValue::Local(value) if self.enabled => Some(value),
            _ => None,
        }
    }

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

impl Vault {
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
    pub(crate) fn change(&self) -> Result<RwLockWriteGuard<'_, State>> {
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
    /// ```
    /// use request_vault::{ExposeSecret, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("api-key", "first")?;
    /// vault.set("api-key", String::from("second"))?; // replaces the value
    /// assert_eq!(vault.resolve("api-key").await?.expose_secret(), "second");
    /// # Ok(()) }
    /// ```
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
    /// ```
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::new();
    /// vault.set("api-key", "s3cr3t")?;
    /// assert!(vault.unset("api-key")?);
    /// assert!(!vault.unset("api-key")?);
    /// # Ok::<(), request_vault::Error>(())
    /// ```
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
    /// ```
    /// use request_vault::{ErrorKind, Vault};
    ///
    /// let vault = Vault::new();
    /// vault.set("old-name", "s3cr3t")?;
    /// vault.rename("old-name", "new-name")?;
    /// assert_eq!(vault.describe("old-name").unwrap_err().kind(), ErrorKind::NotFound);
    /// assert!(vault.describe("new-name").is_ok());
    /// # Ok::<(), request_vault::Error>(())
    /// ```
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
    /// ```
    /// use request_vault::{ErrorKind, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("api-key", "s3cr3t")?;
    /// vault.set_enabled("api-key", false)?;
    /// assert_eq!(vault.resolve("api-key").await.unwrap_err().kind(), ErrorKind::Disabled);
    /// vault.set_enabled("api-key", true)?;
    /// assert!(vault.resolve("api-key").await.is_ok());
    /// # Ok(()) }
    /// ```
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

    /// Describes every secret, sorted by name. Never includes values.
    ///
    /// ```
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::new();
    /// vault.set("b", "2")?;
    /// vault.set("a", "1")?;
    /// let names: Vec<String> = vault.secrets().into_iter().map(|info| info.name).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    pub fn secrets(&self) -> Vec<SecretInfo> {
        let state = self.read();
        state
            .entries
            .iter()
            .map(|(name, entry)| self.info(name, entry))
            .collect()
    }

    /// Describes one secret: kind, provider, reference, allowed domains, enabled, and for a
    /// linked secret when its value was fetched, until when it is cached and when it is
    /// refreshed ahead of time. Never the value.
    ///
    /// ```
    /// use request_vault::{SecretKind, Vault};
    ///
    /// let vault = Vault::new();
    /// vault.set("api-key", "s3cr3t")?;
    /// let info = vault.describe("api-key")?;
    /// assert_eq!(info.kind, SecretKind::Local);
    /// assert!(info.enabled && info.last_fetched.is_none());
    /// assert!(!info.to_string().contains("s3cr3t"));
    /// # Ok::<(), request_vault::Error>(())
    /// ```
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
        let (last_fetched, cached_until, refreshes_at, stale) = match freshness {
            Some(f) => (
                Some(f.fetched_at),
                Some(f.cached_until),
                f.refreshes_at,
                f.stale
                    .map(|stale| Staleness::new(stale.expired_at, &stale.error)),
            ),
            None => (None, None, None, None),
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
            refreshes_at,
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
