//! [`AzureKeyVault`]: the provider, what it holds, and how it checks and resolves
//! references; [`AzureKeyVaultBuilder`](super::AzureKeyVaultBuilder) makes one.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::Error;
use crate::provider::batch::one;
use crate::provider::{ExternalProvider, ProviderError};

use super::client::Client;
use super::error::PROVIDER_ID;
use super::reference::{KeyVaultRef, SCHEME};
use super::secrets;

/// Resolves `azurekeyvault://VAULT/SECRET[/VERSION][#KEY]` references (a `ref+` prefix is
/// accepted) from Azure Key Vault, signed in with Microsoft Entra ID. Cheap to clone; clones
/// share credentials and tokens.
///
/// - `VAULT` is reached at `https://VAULT.vault.azure.net` (see
///   [`dns_suffix`](super::AzureKeyVaultBuilder::dns_suffix) and
///   [`vault_url`](super::AzureKeyVaultBuilder::vault_url)); `VERSION` pins a version; `#KEY` or
///   `#/a/b` picks a field of a JSON value. Names follow Key Vault's rules and are checked
///   offline, with the byte offset of a problem.
/// - Tokens are kept until shortly before they expire (one request per tenant and scope) and
///   renewed once when a vault refuses one. Key Vault's authentication challenge is followed
///   as the official SDKs do; a challenge naming a resource other than the cloud's Key Vault
///   resource (`https://vault.azure.net` for the public cloud), or a tenant other than the
///   credential's own that the builder does not allow
///   ([`additionally_allowed_tenants`](super::AzureKeyVaultBuilder::additionally_allowed_tenants)),
///   is refused ([`ProviderErrorKind::Unauthorized`](crate::ProviderErrorKind::Unauthorized))
///   and no token is requested for it.
/// - A disabled secret fails with [`ProviderErrorKind::Forbidden`](crate::ProviderErrorKind::Forbidden)
///   and says so; an expired or not-yet-valid one is served (Key Vault treats `exp` and `nbf`
///   as informational) with a `tracing` warning naming the secret. A missing one is
///   `NotFound`, throttling is retried (honouring `Retry-After`) and then `RateLimited`.
/// - A batch fetches each distinct (vault, secret, version) once.
///
/// Build one with [`AzureKeyVault::from_env`] or [`AzureKeyVault::builder`]:
///
/// ```
/// use request_vault::AzureKeyVault;
///
/// let provider = AzureKeyVault::builder()
///     .dns_suffix("vault.azure.cn")
///     .authority_host("https://login.chinacloudapi.cn")
///     .client_secret("00000000-0000-0000-0000-000000000000", "app-client-id", "client-secret")?;
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Clone)]
pub struct AzureKeyVault {
    pub(super) id: Arc<str>,
    pub(super) client: Arc<Client>,
    pub(super) concurrency: usize,
}

impl AzureKeyVault {
    /// Verifies that a token can be had and that each vault the provider knows (mapped with
    /// [`AzureKeyVaultBuilder::vault_url`](super::AzureKeyVaultBuilder::vault_url), named
    /// with [`AzureKeyVaultBuilder::vault`](super::AzureKeyVaultBuilder::vault), or seen in a
    /// reference) lists one page of its secrets' properties (names only; no value is read).
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] whose kind says what failed: `Unauthorized` (the credential was
    /// refused), `Forbidden` (it may not list secrets), `Configuration` (no credential
    /// available), `Unavailable`/`Timeout` (unreachable).
    pub async fn check(&self) -> Result<(), Error> {
        let vaults = self.client.known_vaults();
        if vaults.is_empty() {
            let key = self.client.default_key();
            let token = self.client.token(&key);
            self.client.bounded(token).await.map_err(Error::from)?;
        }
        for vault in vaults {
            let names = secrets::list_page(&self.client, &vault)
                .await
                .map_err(Error::from)?;
            tracing::debug!(vault = %vault, listed = names.len(), "Azure Key Vault is reachable");
        }
        Ok(())
    }
}

#[async_trait]
impl ExternalProvider for AzureKeyVault {
    fn id(&self) -> &str {
        &self.id
    }

    fn scheme(&self) -> &str {
        SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        let parsed = KeyVaultRef::parse(reference)?;
        self.client.saw(&parsed.vault);
        Ok(())
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        one(self.resolve_all(&[reference]).await, PROVIDER_ID, reference)
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        secrets::resolve_all(&self.client, self.concurrency, references).await
    }

    fn clear_cache(&self) {
        self.client.clear();
    }
}

impl std::fmt::Debug for AzureKeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = &self.client.settings;
        f.debug_struct("AzureKeyVault")
            .field("id", &self.id)
            .field("credential", &settings.credential)
            .field("dns_suffix", &settings.dns_suffix)
            .field("authority_host", &settings.context.authority_host.as_str())
            .field(
                "vault_urls",
                &settings
                    .vault_urls
                    .iter()
                    .map(|(vault, url)| (vault.as_str(), url.as_str()))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            )
            .field("additionally_allowed_tenants", &settings.allowed_tenants)
            .field("api_version", &settings.api_version)
            .finish_non_exhaustive()
    }
}
