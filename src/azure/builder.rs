//! [`AzureKeyVaultBuilder`]: the settings of an [`AzureKeyVault`] (cloud, URLs, HTTP client,
//! retries) and the methods that end it by picking a credential.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::Error;
use crate::provider::{HttpOptions, ProviderError, ProviderErrorKind, RetryPolicy};

use super::challenge::AllowedTenants;
use super::cli::AzureCli;
use super::client::{Client, Settings};
use super::credential;
use super::entra::{ClientSecret, WorkloadIdentity};
use super::error::PROVIDER_ID;
use super::key_vault::AzureKeyVault;
use super::managed::{ManagedIdentity, ManagedSource};
use super::reference::check_vault_name;
use super::token::{TokenContext, TokenSource};

/// The Key Vault REST API version requests ask for.
pub const API_VERSION: &str = "7.5";

/// The public cloud's Key Vault DNS suffix.
pub const DEFAULT_DNS_SUFFIX: &str = "vault.azure.net";

/// How many secrets a batch fetches at once unless configured.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// The public cloud's Entra ID authority.
const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The Instance Metadata Service's token endpoint on Azure VMs.
const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// Where the Azure SDKs read the tenants a credential may sign in to besides its own.
const ALLOWED_TENANTS_VARIABLE: &str = "AZURE_ADDITIONALLY_ALLOWED_TENANTS";

/// Settings for an [`AzureKeyVault`]; end with the method that picks the credential
/// ([`client_secret`](Self::client_secret), [`managed_identity`](Self::managed_identity),
/// [`workload_identity`](Self::workload_identity), [`azure_cli`](Self::azure_cli) or
/// [`from_env`](Self::from_env)).
///
/// ```
/// use std::time::Duration;
/// use request_vault::AzureKeyVault;
/// use request_vault::provider::RetryPolicy;
///
/// let provider = AzureKeyVault::builder()
///     .dns_suffix("vault.usgovcloudapi.net")
///     .authority_host("https://login.microsoftonline.us")
///     .vault_url("prod-kv", "https://prod-kv.privatelink.vaultcore.usgovcloudapi.net")
///     .retry(RetryPolicy::default().max_attempts(3))
///     .timeout(Duration::from_secs(10))
///     .user_assigned_identity("11111111-2222-3333-4444-555555555555")?;
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AzureKeyVaultBuilder {
    http: HttpOptions,
    /// The caller's client, for Key Vault and Entra ID only (never the metadata endpoints).
    client: Option<reqwest::Client>,
    cli_timeout: Duration,
    dns_suffix: String,
    vault_urls: Vec<(String, String)>,
    vaults: Vec<String>,
    authority_host: Option<String>,
    imds_endpoint: String,
    allowed_tenants: Option<AllowedTenants>,
    retry: RetryPolicy,
    api_version: String,
    az_path: Option<PathBuf>,
    concurrency: usize,
    id: Option<String>,
}

impl Default for AzureKeyVaultBuilder {
    fn default() -> Self {
        let http = HttpOptions::new();
        AzureKeyVaultBuilder {
            http,
            client: None,
            cli_timeout: Duration::from_secs(30),
            dns_suffix: DEFAULT_DNS_SUFFIX.to_owned(),
            vault_urls: Vec::new(),
            vaults: Vec::new(),
            authority_host: None,
            imds_endpoint: DEFAULT_IMDS_ENDPOINT.to_owned(),
            allowed_tenants: None,
            retry: RetryPolicy::default(),
            api_version: API_VERSION.to_owned(),
            az_path: None,
            concurrency: DEFAULT_CONCURRENCY,
            id: None,
        }
    }
}

fn configuration(message: impl Into<String>) -> Error {
    Error::from(ProviderError::new(
        PROVIDER_ID,
        ProviderErrorKind::Configuration,
        message,
    ))
}

impl AzureKeyVaultBuilder {
    /// The provider's id in a vault ([`PROVIDER_ID`], `"azure"`, unless set): give each of
    /// several tenants or identities its own, and link a secret through one of them with
    /// [`Vault::link_with`](crate::Vault::link_with).
    ///
    /// ```
    /// use request_vault::{AzureKeyVault, Vault};
    ///
    /// let vault = Vault::new();
    /// let prod = AzureKeyVault::builder().id("azure-prod").client_secret("prod-tenant", "app-id", "prod-secret")?;
    /// let dev = AzureKeyVault::builder().id("azure-dev").client_secret("dev-tenant", "app-id", "dev-secret")?;
    /// vault.add_provider(prod);
    /// vault.add_provider(dev);
    /// vault.link_with("db", "azure-dev", "azurekeyvault://app-dev/db-password")?;
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The HTTP client for Key Vault and Entra ID (TLS roots, proxies, DNS overrides); its
    /// own timeouts then apply. Build it from
    /// [`HttpOptions::client_builder`](crate::provider::HttpOptions::client_builder) to start
    /// from the crate's policy (no redirect followed). The managed identity endpoints (IMDS,
    /// App Service) never use it: the crate builds their client, so that the identity
    /// header cannot follow a redirect.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The longest one request (or one `az` run) may take. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self.cli_timeout = timeout;
        self
    }

    /// The longest connecting may take. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.connect_timeout(timeout);
        self
    }

    /// The most one answer may hold, in bytes
    /// ([`MAX_RESPONSE_BYTES`](crate::provider::MAX_RESPONSE_BYTES), 16 MiB, unless set):
    /// a longer answer fails the request as soon as the cap is passed. Key Vault secrets are
    /// at most 25 KiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.http = self.http.max_response_bytes(bytes);
        self
    }

    /// The tenants besides its own the credential may request tokens in when a vault's
    /// authentication challenge names them, as the Azure SDKs'
    /// `additionally_allowed_tenants`: none unless set (`AZURE_ADDITIONALLY_ALLOWED_TENANTS`,
    /// separated by `;`, for [`from_env`](Self::from_env)), `"*"` for any. A challenge naming
    /// another tenant is otherwise refused, and no token is requested for it: a server
    /// answering for a vault could else collect tokens for every tenant that trusts the
    /// app. Managed identities live in one tenant and never follow a challenge's.
    ///
    /// ```
    /// use request_vault::AzureKeyVault;
    ///
    /// let provider = AzureKeyVault::builder()
    ///     .additionally_allowed_tenants(["22222222-2222-2222-2222-222222222222"])
    ///     .client_secret("11111111-1111-1111-1111-111111111111", "app-client-id", "client-secret")?;
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    pub fn additionally_allowed_tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_tenants = Some(AllowedTenants::new(tenants));
        self
    }

    /// The Key Vault DNS suffix of the cloud: `vault.azure.net` (default), `vault.azure.cn`,
    /// `vault.usgovcloudapi.net`. Vaults are reached at `https://VAULT.{suffix}`, tokens are
    /// requested for `https://{suffix}/.default`, and challenges must name that resource.
    pub fn dns_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.dns_suffix = suffix.into().trim().trim_matches('.').to_ascii_lowercase();
        self
    }

    /// Reaches vault `vault` at `base_url` (`https://…`, a private endpoint or a test
    /// server) instead of `https://VAULT.{suffix}`.
    pub fn vault_url(mut self, vault: impl Into<String>, base_url: impl Into<String>) -> Self {
        self.vault_urls.push((vault.into(), base_url.into()));
        self
    }

    /// Names a vault for [`AzureKeyVault::check`] to list before any reference names it.
    pub fn vault(mut self, vault: impl Into<String>) -> Self {
        self.vaults.push(vault.into());
        self
    }

    /// The Microsoft Entra ID host tokens are requested from: `https://login.microsoftonline.com`
    /// (default; `AZURE_AUTHORITY_HOST` for [`from_env`](Self::from_env)),
    /// `https://login.chinacloudapi.cn`, `https://login.microsoftonline.us`.
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority_host = Some(host.into());
        self
    }

    /// The Instance Metadata Service token endpoint managed identities use on VMs. Default
    /// `http://169.254.169.254/metadata/identity/oauth2/token`.
    pub fn imds_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.imds_endpoint = endpoint.into();
        self
    }

    /// How transient failures (timeouts, dropped connections, 429, 5xx) are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The Key Vault REST API version to ask for (`7.5` unless set).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Where the Azure CLI is, when `az` is not on `PATH`.
    pub fn az_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.az_path = Some(path.into());
        self
    }

    /// How many secrets a batch fetches at once (16 unless set; at least 1).
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Signs in as an app registration with a client secret.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when the tenant is
    /// not a GUID or domain name, the client ID or secret is empty, or a setting is invalid
    /// (a URL that is not `https://`, a malformed vault name).
    pub fn client_secret(
        self,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<SecretString>,
    ) -> Result<AzureKeyVault, Error> {
        let credential = ClientSecret::new(tenant_id.into(), client_id.into(), secret.into())?;
        self.build(Box::new(credential), None)
    }

    /// Signs in with the host's managed identity, system-assigned: App Service's
    /// `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` when set, else IMDS.
    ///
    /// # Errors
    ///
    /// As [`client_secret`](Self::client_secret), for the settings and `IDENTITY_ENDPOINT`.
    pub fn managed_identity(self) -> Result<AzureKeyVault, Error> {
        self.managed(None)
    }

    /// Signs in with a user-assigned managed identity, by its client ID.
    ///
    /// # Errors
    ///
    /// As [`managed_identity`](Self::managed_identity).
    pub fn user_assigned_identity(
        self,
        client_id: impl Into<String>,
    ) -> Result<AzureKeyVault, Error> {
        self.managed(Some(client_id.into()))
    }

    fn managed(self, client_id: Option<String>) -> Result<AzureKeyVault, Error> {
        let source = ManagedSource::from_env(&|name| env_var(name))?;
        self.build(Box::new(ManagedIdentity::new(source, client_id)), None)
    }

    /// Signs in with a managed identity through an App Service–style endpoint given here
    /// rather than in `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`.
    ///
    /// # Errors
    ///
    /// As [`client_secret`](Self::client_secret), and when `endpoint` is not an http(s)
    /// URL.
    pub fn app_service_identity(
        self,
        endpoint: &str,
        header: impl Into<SecretString>,
        client_id: Option<String>,
    ) -> Result<AzureKeyVault, Error> {
        let source = ManagedSource::app_service(endpoint, header.into())?;
        self.build(Box::new(ManagedIdentity::new(source, client_id)), None)
    }

    /// Signs in with workload identity federation from the environment the Azure Workload
    /// Identity webhook sets: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
    /// `AZURE_FEDERATED_TOKEN_FILE` (`AZURE_AUTHORITY_HOST` too, unless set here).
    ///
    /// # Errors
    ///
    /// As [`client_secret`](Self::client_secret), and when a variable is missing.
    pub fn workload_identity(self) -> Result<AzureKeyVault, Error> {
        let (Some(tenant), Some(client_id), Some(file)) = (
            env_var("AZURE_TENANT_ID"),
            env_var("AZURE_CLIENT_ID"),
            env_var("AZURE_FEDERATED_TOKEN_FILE"),
        ) else {
            return Err(configuration(
                "workload identity needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE",
            ));
        };
        self.workload_identity_file(tenant, client_id, file)
    }

    /// Signs in with workload identity federation: the token in `token_file` (read anew at
    /// each token request) is the client assertion for `client_id` in `tenant_id`.
    ///
    /// # Errors
    ///
    /// As [`client_secret`](Self::client_secret). A missing or empty file is reported when
    /// a token is first needed.
    pub fn workload_identity_file(
        self,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        token_file: impl Into<PathBuf>,
    ) -> Result<AzureKeyVault, Error> {
        let credential =
            WorkloadIdentity::new(tenant_id.into(), client_id.into(), token_file.into())?;
        let authority = env_var("AZURE_AUTHORITY_HOST");
        self.build(Box::new(credential), authority)
    }

    /// Signs in as the Azure CLI's signed-in user (`az account get-access-token`).
    ///
    /// # Errors
    ///
    /// As [`client_secret`](Self::client_secret), for the settings. A missing `az` is
    /// reported when a token is first needed, with how to install it.
    pub fn azure_cli(self) -> Result<AzureKeyVault, Error> {
        let program = self.az_program();
        self.build(Box::new(AzureCli::new(program)), None)
    }

    /// Signs in as the environment says; see [`AzureKeyVault::from_env`].
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when the environment
    /// is half set (`AZURE_CLIENT_SECRET` without the tenant or client ID, say) or a setting
    /// is invalid. Which credential works is found out when a token is first needed.
    pub fn from_env(mut self) -> Result<AzureKeyVault, Error> {
        let credential = credential::from_env(env_var, self.az_program())?;
        if self.allowed_tenants.is_none() {
            self.allowed_tenants =
                env_var(ALLOWED_TENANTS_VARIABLE).map(|list| AllowedTenants::parse(&list));
        }
        self.build(credential, env_var("AZURE_AUTHORITY_HOST"))
    }

    fn az_program(&self) -> PathBuf {
        self.az_path.clone().unwrap_or_else(|| PathBuf::from("az"))
    }

    fn build(
        self,
        credential: Box<dyn TokenSource>,
        env_authority: Option<String>,
    ) -> Result<AzureKeyVault, Error> {
        check_dns_suffix(&self.dns_suffix)?;
        let mut vault_urls = BTreeMap::new();
        for (vault, url) in &self.vault_urls {
            check_vault(vault)?;
            let url = https_url(&format!("the URL of vault `{vault}`"), url)?;
            vault_urls.insert(vault.to_ascii_lowercase(), url);
        }
        for vault in &self.vaults {
            check_vault(vault)?;
        }
        let context = self.context(env_authority, &*credential)?;
        let client = Client::new(Settings {
            context,
            credential,
            allowed_tenants: self.allowed_tenants.unwrap_or_default(),
            retry: self.retry,
            dns_suffix: self.dns_suffix,
            api_version: self.api_version,
            vault_urls,
        });
        for vault in &self.vaults {
            client.saw(vault);
        }
        Ok(AzureKeyVault {
            id: self.id.as_deref().unwrap_or(PROVIDER_ID).into(),
            client: Arc::new(client),
            concurrency: self.concurrency,
        })
    }

    /// The HTTP clients and endpoints the token sources share: the caller's client (if
    /// any) for Key Vault and Entra ID, the crate's own metadata client for IMDS and App
    /// Service, each scrubbing the credential's secrets out of server text.
    fn context(
        &self,
        env_authority: Option<String>,
        credential: &dyn TokenSource,
    ) -> Result<TokenContext, Error> {
        let authority = self
            .authority_host
            .clone()
            .or(env_authority)
            .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
        let authority_host = https_url("the authority host", &authority)?;
        let imds_endpoint = Url::parse(&self.imds_endpoint)
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.username().is_empty()
                    && u.password().is_none()
            })
            .ok_or_else(|| configuration("the IMDS endpoint is not an http(s) URL"))?;
        let http = match &self.client {
            Some(client) => self.http.clone().client(client.clone()),
            None => self.http.clone(),
        };
        let http = Arc::new(http.build(PROVIDER_ID, self.retry)?);
        let metadata = Arc::new(self.http.metadata().build(PROVIDER_ID, self.retry)?);
        for held in credential.held_credentials() {
            http.scrubber().add(held);
            metadata.scrubber().add(held);
        }
        Ok(TokenContext {
            http,
            metadata,
            authority_host,
            imds_endpoint,
            cli_timeout: self.cli_timeout,
        })
    }
}

fn env_var(name: &str) -> Option<String> {
    crate::provider::setting::var(name)
}

fn check_dns_suffix(suffix: &str) -> Result<(), Error> {
    let valid = !suffix.is_empty()
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(configuration(format!(
            "`{suffix}` is not a DNS suffix such as `vault.azure.net`"
        )))
    }
}

fn check_vault(vault: &str) -> Result<(), Error> {
    check_vault_name(vault).map_err(|(_, message)| configuration(format!("`{vault}`: {message}")))
}

/// An `https://` URL without credentials, query or fragment, ending in `/` so that paths
/// join under it.
fn https_url(what: &str, text: &str) -> Result<Url, Error> {
    let mut url =
        Url::parse(text.trim()).map_err(|_| configuration(format!("{what} is not a URL")))?;
    if url.scheme() != "https" {
        return Err(configuration(format!(
            "{what} must be an https:// URL (tokens travel over it)"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(configuration(format!("{what} must not hold credentials")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(configuration(format!(
            "{what} must have no query or fragment"
        )));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}
