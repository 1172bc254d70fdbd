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
mod key_vault;
mod managed;
mod reference;
mod secrets;
mod token;
mod wire;

pub use builder::{API_VERSION, AzureKeyVaultBuilder, DEFAULT_CONCURRENCY, DEFAULT_DNS_SUFFIX};
pub use error::PROVIDER_ID;
pub use key_vault::AzureKeyVault;
pub use reference::SCHEME;

use crate::Error;

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
}
