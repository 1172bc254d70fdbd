//! Cache control: refetch one linked secret now, forget one fetched value, or forget them
//! all. Forgetting is a barrier: no resolve that starts afterwards gets a value fetched
//! before, nor joins a fetch begun before.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::resolve::Plan;
use crate::vault::{EntryValue, Vault};

impl Vault {
    /// Fetches a linked secret's value now, replacing the cached one: resolves that start
    /// meanwhile share this fetch, and later ones get its value. If it fails, the value
    /// cached before stays in place (for the rest of its TTL) and the error is returned.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug, Clone, Default)] struct Rotating(Arc<Mutex<u32>>);
    /// # #[async_trait] impl ExternalProvider for Rotating {
    /// #     fn id(&self) -> &str { "demo" }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, _: &str) -> Result<SecretString, ProviderError> {
    /// #         let mut n = self.0.lock().unwrap(); *n += 1; Ok(format!("v{n}").into())
    /// #     }
    /// # }
    /// use request_vault::{ExposeSecret, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// // `Rotating` answers v1, v2, … on each fetch.
    /// let vault = Vault::new();
    /// vault.add_provider(Rotating::default());
    /// vault.link("db", "demo://db")?;
    /// assert_eq!(vault.resolve("db").await?.expose_secret(), "v1");
    /// assert_eq!(vault.resolve("db").await?.expose_secret(), "v1"); // cached
    /// vault.refresh("db").await?; // the password was rotated: fetch it now
    /// assert_eq!(vault.resolve("db").await?.expose_secret(), "v2");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::NotFound`] when there is no such secret;
    /// - [`Error::NotLinked`] when it is a local secret;
    /// - [`Error::Disabled`] when it is disabled;
    /// - [`Error::IntegrationRemoved`] / [`Error::UnknownProvider`] when its provider was
    ///   removed or never added;
    /// - [`Error::Provider`] when the provider fails;
    /// - [`Error::Locked`] while the vault is locked.
    pub async fn refresh(&self, name: &str) -> Result<()> {
        let (provider, key) = {
            let state = self.read();
            match self.plan(&state, name)? {
                Plan::Local(_) => return Err(Error::NotLinked { name: name.into() }),
                Plan::Linked { provider, key } => (Arc::clone(provider), Arc::clone(key)),
            }
        };
        tracing::debug!(secret = name, "refreshing linked secret");
        self.inner
            .resolver
            .refresh(&provider, &key)
            .value()
            .await
            .map(drop)
            .map_err(|source| Error::from_provider(Some(name.to_owned()), source))
    }

    /// Forgets the cached value of one linked secret, so that the next resolve fetches it
    /// again. Returns whether a value was cached (false for a local or unknown name).
    ///
    /// A barrier, as [`clear_cache`](Self::clear_cache): no resolve that starts after this
    /// returns gets the old value. A fetch already under way finishes for the resolves
    /// waiting on it, but its value is not cached and no later resolve joins it.
    ///
    /// ```
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug)] struct Demo;
    /// # #[async_trait] impl ExternalProvider for Demo {
    /// #     fn id(&self) -> &str { "demo" }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, r: &str) -> Result<SecretString, ProviderError> { Ok(r.into()) }
    /// # }
    /// use request_vault::Vault;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.add_provider(Demo);
    /// vault.link("db", "demo://db")?;
    /// vault.resolve("db").await?;
    /// assert!(vault.invalidate("db"));
    /// assert!(!vault.invalidate("db")); // nothing cached any more
    /// assert!(vault.describe("db")?.last_fetched.is_none());
    /// # Ok(()) }
    /// ```
    pub fn invalidate(&self, name: &str) -> bool {
        let key = match self.read().entries.get(name).map(|entry| &entry.value) {
            Some(EntryValue::Linked(key)) => Arc::clone(key),
            _ => return false,
        };
        let forgotten = self.inner.resolver.invalidate(&key);
        tracing::debug!(secret = name, forgotten, "invalidated cached value");
        forgotten
    }

    /// Forgets every fetched value now (Postman's "Reset cache"), including what providers
    /// cache of their own. The next resolve of a linked secret fetches it again.
    ///
    /// A barrier, as [`invalidate`](Self::invalidate): no resolve that starts after this
    /// returns gets a value fetched before it.
    ///
    /// ```
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug)] struct Demo;
    /// # #[async_trait] impl ExternalProvider for Demo {
    /// #     fn id(&self) -> &str { "demo" }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, r: &str) -> Result<SecretString, ProviderError> { Ok(r.into()) }
    /// # }
    /// use request_vault::Vault;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.add_provider(Demo);
    /// vault.link("db", "demo://db")?;
    /// vault.resolve("db").await?;
    /// vault.clear_cache();
    /// assert!(vault.describe("db")?.cached_until.is_none());
    /// # Ok(()) }
    /// ```
    pub fn clear_cache(&self) {
        self.inner.resolver.clear();
        let providers: Vec<_> = self.read().registry.providers().cloned().collect();
        for provider in providers {
            provider.clear_cache();
        }
        tracing::debug!("cleared the cache");
    }
}
