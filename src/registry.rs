//! The providers a vault resolves through: registered by id, found by URI scheme when a
//! secret is linked, and by id when a linked secret is resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::cache::CacheKey;
use crate::error::{Error, Result};
use crate::provider::{self, ExternalProvider};

/// The registered providers, with the schemes they link and the ids of removed ones.
#[derive(Default)]
pub(crate) struct Registry {
    providers: BTreeMap<String, Arc<dyn ExternalProvider>>,
    /// Scheme to provider id, for `link`.
    schemes: BTreeMap<String, String>,
    /// Ids of providers removed, to tell "integration removed" apart from "never added".
    removed: BTreeSet<String>,
}

impl Registry {
    /// Registers `provider`, replacing one with the same id.
    pub(crate) fn add(&mut self, provider: Arc<dyn ExternalProvider>) {
        let id = provider.id().to_owned();
        self.schemes
            .insert(provider.scheme().to_owned(), id.clone());
        self.removed.remove(&id);
        self.providers.insert(id, provider);
    }

    /// Removes the provider `id`, remembering that it was there.
    pub(crate) fn remove(&mut self, id: &str) -> Option<Arc<dyn ExternalProvider>> {
        let provider = self.providers.remove(id)?;
        self.schemes.retain(|_, owner| owner != id);
        self.removed.insert(id.to_owned());
        Some(provider)
    }

    /// The provider registered under `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Arc<dyn ExternalProvider>> {
        self.providers.get(id)
    }

    /// Every registered provider, by id.
    pub(crate) fn providers(&self) -> impl Iterator<Item = &Arc<dyn ExternalProvider>> {
        self.providers.values()
    }

    /// The ids of the registered providers, sorted.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &String> {
        self.providers.keys()
    }

    /// The provider that handles `reference`, chosen by its URI scheme (a `ref+` prefix is
    /// accepted). Checks nothing else of the reference.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidReference`] when the reference has no `scheme://`;
    /// - [`Error::FeatureDisabled`] when no provider handles the scheme and it is one of the
    ///   crate's own providers whose cargo feature is off (a provider the caller registered
    ///   for that scheme is used as any other);
    /// - [`Error::NoProvider`] when no provider handles the scheme.
    pub(crate) fn for_reference(&self, reference: &str) -> Result<Arc<dyn ExternalProvider>> {
        let Some((scheme, _)) = provider::strip_ref_prefix(reference).split_once("://") else {
            return Err(Error::InvalidReference {
                reference: reference.to_owned(),
                offset: Some(0),
                source: "a reference starts with a scheme such as `op://`".into(),
            });
        };
        if let Some(registered) = self
            .schemes
            .get(scheme)
            .and_then(|id| self.providers.get(id))
        {
            return Ok(Arc::clone(registered));
        }
        // Nobody handles the scheme: name the feature when it is one of the crate's own.
        Err(match provider::disabled_feature(scheme) {
            Some(feature) => Error::FeatureDisabled {
                scheme: scheme.to_owned(),
                feature,
            },
            None => Error::NoProvider {
                name: None,
                scheme: scheme.to_owned(),
            },
        })
    }

    /// The provider the linked secret `name` (linked as `key`) resolves through.
    ///
    /// # Errors
    ///
    /// - [`Error::IntegrationRemoved`] when its provider was removed;
    /// - [`Error::NoProvider`] when its provider was never added.
    pub(crate) fn route(&self, name: &str, key: &CacheKey) -> Result<&Arc<dyn ExternalProvider>> {
        match self.providers.get(&key.provider) {
            Some(provider) => Ok(provider),
            None if self.removed.contains(&key.provider) => Err(Error::IntegrationRemoved {
                name: name.into(),
                provider: key.provider.clone(),
            }),
            None => Err(Error::NoProvider {
                name: Some(name.into()),
                scheme: key
                    .reference
                    .split_once("://")
                    .map_or(key.provider.as_str(), |(scheme, _)| scheme)
                    .to_owned(),
            }),
        }
    }
}
