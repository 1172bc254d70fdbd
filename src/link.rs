//! Providers and links: registering providers (several accounts of one kind side by side,
//! told apart by id) and linking secrets through them, by scheme or by provider id.

use std::sync::Arc;
use std::time::SystemTime;

use crate::cache::CacheKey;
use crate::error::{Error, Result};
use crate::name;
use crate::provider::{ExternalProvider, ProviderContext};
use crate::vault::{Entry, EntryValue, Vault};

impl Vault {
    /// Registers an external provider; its [`scheme`](ExternalProvider::scheme) becomes
    /// linkable. A provider with the same [`id`](ExternalProvider::id) is replaced; one with
    /// another id is added beside those of its kind (two accounts, say: see
    /// [`link_with`](Self::link_with)).
    ///
    /// ```
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug)] struct Demo(&'static str);
    /// # #[async_trait] impl ExternalProvider for Demo {
    /// #     fn id(&self) -> &str { self.0 }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, r: &str) -> Result<SecretString, ProviderError> { Ok(r.into()) }
    /// # }
    /// use request_vault::Vault;
    ///
    /// // `Demo` stands for any provider, such as `OnePassword` (see the `provider` module).
    /// let vault = Vault::new();
    /// vault.add_provider(Demo("demo"));
    /// vault.link("db", "demo://db")?;
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    pub fn add_provider<P: ExternalProvider + 'static>(&self, provider: P) {
        self.add_shared_provider(Arc::new(provider));
    }

    /// Registers a provider already behind an `Arc`, as [`add_provider`](Self::add_provider).
    ///
    /// ```
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug)] struct Demo(&'static str);
    /// # #[async_trait] impl ExternalProvider for Demo {
    /// #     fn id(&self) -> &str { self.0 }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, r: &str) -> Result<SecretString, ProviderError> { Ok(r.into()) }
    /// # }
    /// use std::sync::Arc;
    /// use request_vault::Vault;
    ///
    /// // One provider shared by two vaults.
    /// let shared: Arc<dyn ExternalProvider> = Arc::new(Demo("demo"));
    /// let (a, b) = (Vault::new(), Vault::new());
    /// a.add_shared_provider(Arc::clone(&shared));
    /// b.add_shared_provider(shared);
    /// assert!(a.provider("demo").is_some() && b.provider("demo").is_some());
    /// ```
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
    ///
    /// ```
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug)] struct Demo(&'static str);
    /// # #[async_trait] impl ExternalProvider for Demo {
    /// #     fn id(&self) -> &str { self.0 }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, r: &str) -> Result<SecretString, ProviderError> { Ok(r.into()) }
    /// # }
    /// use request_vault::{ErrorKind, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.add_provider(Demo("demo"));
    /// vault.link("db", "demo://db")?;
    /// assert!(vault.remove_provider("demo"));
    /// let err = vault.resolve("db").await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::IntegrationRemoved);
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug)] struct Demo(&'static str);
    /// # #[async_trait] impl ExternalProvider for Demo {
    /// #     fn id(&self) -> &str { self.0 }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, r: &str) -> Result<SecretString, ProviderError> { Ok(r.into()) }
    /// # }
    /// use request_vault::Vault;
    ///
    /// let vault = Vault::new();
    /// vault.add_provider(Demo("demo"));
    /// assert_eq!(vault.provider("demo").map(|p| p.scheme().to_owned()).as_deref(), Some("demo"));
    /// assert!(vault.provider("other").is_none());
    /// ```
    pub fn provider(&self, id: &str) -> Option<Arc<dyn ExternalProvider>> {
        self.read().registry.get(id).cloned()
    }

    /// Links `name` to an external secret: the provider is chosen by the reference's URI
    /// scheme and checks the reference offline, now. An existing link is re-pointed; an
    /// existing local secret becomes linked (its value is dropped). Domains and the enabled
    /// flag of an existing secret are kept. With several providers of the scheme (two
    /// accounts of one kind), name one with [`link_with`](Self::link_with).
    ///
    /// A `ref+` prefix (`ref+vault://…`, as `vals` writes references) is accepted.
    ///
    /// ```
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug)] struct Demo(&'static str);
    /// # #[async_trait] impl ExternalProvider for Demo {
    /// #     fn id(&self) -> &str { self.0 }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, r: &str) -> Result<SecretString, ProviderError> { Ok(r.into()) }
    /// # }
    /// use request_vault::{ErrorKind, Vault};
    ///
    /// let vault = Vault::new();
    /// vault.add_provider(Demo("demo"));
    /// vault.link("db", "demo://Prod/db")?;
    /// assert_eq!(vault.describe("db")?.provider.as_deref(), Some("demo"));
    /// assert_eq!(vault.link("x", "other://db").unwrap_err().kind(), ErrorKind::NoProvider);
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::InvalidReference`] when the reference has no `scheme://` or the provider
    ///   finds it malformed;
    /// - [`Error::NoProvider`] when no provider handles its scheme;
    /// - [`Error::AmbiguousProvider`] when several providers handle its scheme (naming
    ///   their ids);
    /// - [`Error::FeatureDisabled`] when no provider handles the scheme and it is one of the
    ///   crate's own providers (`op`, `awssecrets`, `vault`, `azurekeyvault`) whose cargo
    ///   feature is off;
    /// - [`Error::Locked`] while the vault is locked.
    pub fn link(&self, name: &str, reference: &str) -> Result<()> {
        name::check(name)?;
        let provider = self.read().registry.for_reference(reference)?;
        self.link_through(name, &provider, reference)
    }

    /// Links `name` to an external secret through the provider registered as
    /// `provider_id`, which checks the reference offline, now; otherwise as
    /// [`link`](Self::link). This is how a secret picks one of several accounts of one kind
    /// (providers built with `.id(..)`, such as
    /// [`OnePasswordBuilder::id`](crate::OnePasswordBuilder::id)).
    ///
    /// ```
    /// # use request_vault::{async_trait, ExternalProvider, ProviderError, SecretString};
    /// # #[derive(Debug)] struct Demo(&'static str);
    /// # #[async_trait] impl ExternalProvider for Demo {
    /// #     fn id(&self) -> &str { self.0 }
    /// #     fn scheme(&self) -> &str { "demo" }
    /// #     fn check_reference(&self, _: &str) -> Result<(), ProviderError> { Ok(()) }
    /// #     async fn resolve(&self, r: &str) -> Result<SecretString, ProviderError> { Ok(r.into()) }
    /// # }
    /// use request_vault::{ErrorKind, Vault};
    ///
    /// // Two accounts of one kind: a work one and a personal one.
    /// let vault = Vault::new();
    /// vault.add_provider(Demo("work"));
    /// vault.add_provider(Demo("personal"));
    /// vault.link_with("db", "work", "demo://Prod/db")?;
    /// assert_eq!(vault.describe("db")?.provider.as_deref(), Some("work"));
    ///
    /// // By scheme alone, the vault cannot tell which account is meant.
    /// let err = vault.link("db", "demo://Prod/db").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AmbiguousProvider);
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when `name` breaks the naming rules;
    /// - [`Error::UnknownProvider`] when no provider is registered as `provider_id`;
    /// - [`Error::InvalidReference`] when the reference has no `scheme://`, another scheme
    ///   than the provider's, or the provider finds it malformed;
    /// - [`Error::Locked`] while the vault is locked.
    pub fn link_with(&self, name: &str, provider_id: &str, reference: &str) -> Result<()> {
        name::check(name)?;
        let provider = self.read().registry.by_id(provider_id, reference)?;
        self.link_through(name, &provider, reference)
    }

    /// Links `name` to `reference` through `provider`, once the provider accepts it.
    fn link_through(
        &self,
        name: &str,
        provider: &Arc<dyn ExternalProvider>,
        reference: &str,
    ) -> Result<()> {
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
}
