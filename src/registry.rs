//! The providers a vault resolves through: registered by id, found by URI scheme when a
//! secret is linked (unless the caller names one), and by id when a linked secret is
//! resolved. Several providers may share a scheme (two accounts of one kind).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::cache::CacheKey;
use crate::error::{Error, Result};
use crate::provider::{self, ExternalProvider};

/// The registered providers, with the schemes they link and the ids of removed ones.
#[derive(Default)]
pub(crate) struct Registry {
    providers: BTreeMap<String, Arc<dyn ExternalProvider>>,
    /// Scheme to the ids of the providers that handle it, for `link`.
    schemes: BTreeMap<String, BTreeSet<String>>,
    /// Ids of providers removed, to tell "integration removed" apart from "never added".
    removed: BTreeSet<String>,
}

impl Registry {
    /// Registers `provider`, replacing one with the same id.
    pub(crate) fn add(&mut self, provider: Arc<dyn ExternalProvider>) {
        let id = provider.id().to_owned();
        self.unlink_scheme(&id);
        self.schemes
            .entry(provider.scheme().to_owned())
            .or_default()
            .insert(id.clone());
        self.removed.remove(&id);
        self.providers.insert(id, provider);
    }

    /// Removes the provider `id`, remembering that it was there.
    pub(crate) fn remove(&mut self, id: &str) -> Option<Arc<dyn ExternalProvider>> {
        let provider = self.providers.remove(id)?;
        self.unlink_scheme(id);
        self.removed.insert(id.to_owned());
        Some(provider)
    }

    /// Forgets which scheme provider `id` handles.
    fn unlink_scheme(&mut self, id: &str) {
        self.schemes.retain(|_, ids| {
            ids.remove(id);
            !ids.is_empty()
        });
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

    /// The providers registered for `scheme`, by id.
    pub(crate) fn for_scheme(
        &self,
        scheme: &str,
    ) -> impl Iterator<Item = &Arc<dyn ExternalProvider>> {
        self.schemes
            .get(scheme)
            .into_iter()
            .flatten()
            .filter_map(|id| self.providers.get(id))
    }

    /// The provider that handles `reference`, chosen by its URI scheme (a `ref+` prefix is
    /// accepted). Checks nothing else of the reference.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidReference`] when the reference has no `scheme://`;
    /// - [`Error::AmbiguousProvider`] when several providers handle the scheme;
    /// - [`Error::FeatureDisabled`] when no provider handles the scheme and it is one of the
    ///   crate's own providers whose cargo feature is off (a provider the caller registered
    ///   for that scheme is used as any other);
    /// - [`Error::NoProvider`] when no provider handles the scheme.
    pub(crate) fn for_reference(&self, reference: &str) -> Result<Arc<dyn ExternalProvider>> {
        let scheme = scheme_of(reference)?;
        let mut handlers = self.for_scheme(scheme);
        match (handlers.next(), handlers.next()) {
            (Some(only), None) => return Ok(Arc::clone(only)),
            (Some(_), Some(_)) => {
                return Err(Error::AmbiguousProvider {
                    scheme: scheme.to_owned(),
                    ids: self
                        .schemes
                        .get(scheme)
                        .into_iter()
                        .flatten()
                        .cloned()
                        .collect(),
                });
            }
            (None, _) => {}
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

    /// The provider registered as `id`, when it handles `reference`'s scheme.
    ///
    /// # Errors
    ///
    /// - [`Error::UnknownProvider`] when no provider is registered as `id`;
    /// - [`Error::InvalidReference`] when the reference has no `scheme://`, or another
    ///   scheme than the provider's.
    pub(crate) fn by_id(&self, id: &str, reference: &str) -> Result<Arc<dyn ExternalProvider>> {
        let provider = self
            .providers
            .get(id)
            .ok_or_else(|| Error::UnknownProvider {
                name: None,
                provider: id.to_owned(),
            })?;
        let scheme = scheme_of(reference)?;
        if scheme != provider.scheme() {
            return Err(Error::InvalidReference {
                reference: reference.to_owned(),
                offset: Some(0),
                source: format!(
                    "provider `{id}` resolves `{}://` references, not `{scheme}://`",
                    provider.scheme()
                )
                .into(),
            });
        }
        Ok(Arc::clone(provider))
    }

    /// The provider the linked secret `name` (linked as `key`) resolves through.
    ///
    /// # Errors
    ///
    /// - [`Error::IntegrationRemoved`] when its provider was removed;
    /// - [`Error::UnknownProvider`] when its provider was never added.
    pub(crate) fn route(&self, name: &str, key: &CacheKey) -> Result<&Arc<dyn ExternalProvider>> {
        match self.providers.get(&key.provider) {
            Some(provider) => Ok(provider),
            None if self.removed.contains(&key.provider) => Err(Error::IntegrationRemoved {
                name: name.into(),
                provider: key.provider.clone(),
            }),
            None => Err(Error::UnknownProvider {
                name: Some(name.into()),
                provider: key.provider.clone(),
            }),
        }
    }
}

/// The URI scheme of `reference` (after an optional `ref+` prefix).
///
/// # Errors
///
/// [`Error::InvalidReference`] when it has no `scheme://`.
pub(crate) fn scheme_of(reference: &str) -> Result<&str> {
    match provider::strip_ref_prefix(reference).split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => Ok(scheme),
        _ => Err(Error::InvalidReference {
            reference: reference.to_owned(),
            offset: Some(0),
            source: "a reference starts with a scheme such as `op://`".into(),
        }),
    }
}
