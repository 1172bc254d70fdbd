//! Azure Key Vault: the [`AzureKeyVault`] provider for `azurekeyvault://VAULT/SECRET[/VERSION][#KEY]`
//! references, signed in with Microsoft Entra ID.
//!
//! ```no_run
//! use request_vault::{AzureKeyVault, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! // Client secret, workload identity, managed identity or `az login`, as the SDKs choose.
//! vault.add_provider(AzureKeyVault::from_env()?);
//! vault.link("db", "azurekeyvault://prod-kv/db-credentials#password")?; // checked offline
//! let password = vault.resolve("db").await?;
//! # Ok(()) }
//! ```
//!
//! `VAULT` is a vault name, reached at `https://VAULT.vault.azure.net` (the DNS suffix is a
//! builder setting for other clouds, and a vault can be mapped to any base URL); `VERSION`
//! pins a version; `#KEY` or `#/a/b` picks a field of a JSON value. A `ref+` prefix, as
//! `vals` writes it, is accepted.
//!
//! Requests use Key Vault REST API version [`API_VERSION`] (`7.5`), the version current
//! `vals`, Postman and most SDK releases speak; the newer date-named versions answer Get
//! Secret the same way. Tokens are kept until five minutes before they expire, one token
//! request per tenant and scope, and Key Vault's authentication challenge is followed as the
//! official SDKs do: its resource must be the cloud's Key Vault resource
//! (`https://vault.azure.net`), and a tenant other than the credential's own is signed in to
//! only when [`additionally_allowed_tenants`](AzureKeyVaultBuilder::additionally_allowed_tenants)
//! allows it. A batch fetches each distinct (vault, secret, version) once.
//!
//! Requests follow the provider door's policy: no redirect is followed (so neither the
//! client secret, nor a token, nor the App Service identity header reaches another origin),
//! answers are capped at [`MAX_RESPONSE_BYTES`](crate::provider::MAX_RESPONSE_BYTES) unless
//! [`max_response_bytes`](AzureKeyVaultBuilder::max_response_bytes) says otherwise, and
//! server text in errors is scrubbed of the client secret, the federated assertion and every
//! token obtained. The managed identity endpoints (IMDS, App Service) are always reached with
//! a client the crate builds (short timeouts, no proxy), never one given with
//! [`client`](AzureKeyVaultBuilder::client).
//!
//! # Why not Microsoft's crates
//!
//! `azure_security_keyvault_secrets` 1.0.1 and `azure_identity` 1.0.0 (on `azure_core`
//! 1.1.0, reqwest 0.13, rustls) were measured first: with default features off and rustls
//! on they add 39 crates to this crate's 95 (`cargo tree -e normal`, 134 in all: the three
//! SDK crates, `typespec*`, `time`, `uuid`, `rand`, `tokio-util`, `async-lock`,
//! `futures-executor`, …). Their secret client and Entra credentials accept a custom HTTP
//! client and authority host, but the managed identity credential's IMDS address is a
//! constant (`169.254.169.254`) that no option moves, App Service is reached only through
//! process-wide environment variables, and 1.0 has no default credential chain (only the
//! CLI-based developer chain). The five REST calls needed here (Get Secret, Get Secrets, the
//! v2.0 token endpoint, IMDS, App Service) are therefore spoken directly over the crate's own
//! reqwest client, which also keeps one retry policy, one error type and one leak discipline.

mod builder;
mod chain;
mod challenge;
mod cli;
mod client;
mod credential;
mod entra;
mod error;
mod managed;
mod reference;
mod secrets;
mod token;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

pub use builder::AzureKeyVaultBuilder;
pub use reference::SCHEME;

use crate::Error;
use crate::provider::batch::one;
use crate::provider::{ExternalProvider, ProviderError};

use client::Client;
use reference::KeyVaultRef;

/// The id of the Azure Key Vault provider.
pub const PROVIDER_ID: &str = "azure";

/// The Key Vault REST API version requests ask for.
pub const API_VERSION: &str = "7.5";

/// The public cloud's Key Vault DNS suffix.
pub const DEFAULT_DNS_SUFFIX: &str = "vault.azure.net";

/// How many secrets a batch fetches at once unless configured.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Resolves `azurekeyvault://VAULT/SECRET[/VERSION][#KEY]` references (a `ref+` prefix is
/// accepted) from Azure Key Vault, signed in with Microsoft Entra ID. Cheap to clone; clones
/// share credentials and tokens.
///
/// - `VAULT` is reached at `https://VAULT.vault.azure.net` (see
///   [`dns_suffix`](AzureKeyVaultBuilder::dns_suffix) and
///   [`vault_url`](AzureKeyVaultBuilder::vault_url)); `VERSION` pins a version; `#KEY` or
///   `#/a/b` picks a field of a JSON value. Names follow Key Vault's rules and are checked
///   offline, with the byte offset of a problem.
/// - Tokens are kept until shortly before they expire (one request per tenant and scope) and
///   renewed once when a vault refuses one. Key Vault's authentication challenge is followed
///   as the official SDKs do; a challenge naming a resource other than the cloud's Key Vault
///   resource (`https://vault.azure.net` for the public cloud), or a tenant other than the
///   credential's own that the builder does not allow
///   ([`additionally_allowed_tenants`](AzureKeyVaultBuilder::additionally_allowed_tenants)),
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
    client: Arc<Client>,
    concurrency: usize,
}

impl AzureKeyVault {
    /// A builder for a provider with other settings or another credential.
    pub fn builder() -> AzureKeyVaultBuilder {
        AzureKeyVaultBuilder::default()
    }

    /// A provider signed in as the environment says, as the Azure SDKs' default credential:
    /// a client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), else
    /// workload identity (`AZURE_FEDERATED_TOKEN_FILE` with the tenant and client ID), else a
    /// managed identity (App Service's `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, or IMDS; a
    /// user-assigned one by `AZURE_CLIENT_ID`), falling back to the Azure CLI.
    /// `AZURE_AUTHORITY_HOST` sets the Entra ID host.
    ///
    /// # Errors
    ///
    /// As [`AzureKeyVaultBuilder::from_env`].
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().from_env()
    }

    /// Verifies that a token can be had and that each vault the provider knows (mapped with
    /// [`AzureKeyVaultBuilder::vault_url`], named with [`AzureKeyVaultBuilder::vault`], or
    /// seen in a reference) lists one page of its secrets' properties (names only; no value
    /// is read).
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
        PROVIDER_ID
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
