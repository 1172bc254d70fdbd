//! [`HashiCorpVault`]: the provider, what it holds, and how it checks and resolves
//! references (leased or not); [`HashiCorpVaultBuilder`](super::HashiCorpVaultBuilder)
//! makes one.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use super::connection::Connection;
use super::error::PROVIDER_ID;
use super::reference::{SCHEME, VaultReference};
use crate::Error;
use crate::provider::{ExternalProvider, ProviderContext, ProviderError, Resolved};

/// Resolves `vault://` references from HashiCorp Vault. Cheap to clone; clones share the
/// token, the mount table, leased reads and the request limit.
#[derive(Clone)]
pub struct HashiCorpVault {
    pub(super) id: Arc<str>,
    pub(super) connection: Arc<Connection>,
}

impl HashiCorpVault {
    /// Verifies the address, the credentials and the namespace: logs in when the provider
    /// logs in, then `auth/token/lookup-self`.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] whose kind says what failed: [`Unavailable`] or [`Timeout`]
    /// (unreachable, sealed), [`Unauthorized`] (the token or login was refused),
    /// [`Configuration`] (no such auth mount, unreadable credential file).
    ///
    /// [`Unavailable`]: crate::ProviderErrorKind::Unavailable
    /// [`Timeout`]: crate::ProviderErrorKind::Timeout
    /// [`Unauthorized`]: crate::ProviderErrorKind::Unauthorized
    /// [`Configuration`]: crate::ProviderErrorKind::Configuration
    pub async fn check(&self) -> Result<(), Error> {
        self.connection.client().check().await.map_err(Error::from)
    }
}

#[async_trait]
impl ExternalProvider for HashiCorpVault {
    fn id(&self) -> &str {
        &self.id
    }

    fn scheme(&self) -> &str {
        SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        VaultReference::parse(reference).map(drop)
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        self.resolve_leased(reference)
            .await
            .map(Resolved::into_value)
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        self.resolve_all_leased(references)
            .await
            .into_iter()
            .map(|r| r.map(Resolved::into_value))
            .collect()
    }

    async fn resolve_leased(&self, reference: &str) -> Result<Resolved, ProviderError> {
        let results = self.connection.resolve_all(&[reference]).await;
        crate::provider::batch::one(results, PROVIDER_ID, reference)
    }

    async fn resolve_all_leased(
        &self,
        references: &[&str],
    ) -> Vec<Result<Resolved, ProviderError>> {
        self.connection.resolve_all(references).await
    }

    fn attach(&self, context: &ProviderContext) {
        self.connection.attach(context.cache_ttl());
    }

    fn clear_cache(&self) {
        self.connection.clear_cache();
    }
}

impl std::fmt::Debug for HashiCorpVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let client = self.connection.client();
        f.debug_struct("HashiCorpVault")
            .field("id", &self.id)
            .field("addr", &client.api().addr())
            .field("namespace", &client.api().namespace())
            .field("auth", &client.auth().credential.describe())
            .field("auth_mount", &client.auth().mount)
            .finish_non_exhaustive()
    }
}
