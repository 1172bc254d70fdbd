//! 1Password: secret references (`op://…`) and the [`OnePassword`] provider that resolves
//! them.
//!
//! Two transports, one behaviour:
//! - **Connect**: a 1Password Connect server's REST API, spoken natively
//!   ([`OnePassword::connect`], or `OP_CONNECT_HOST` + `OP_CONNECT_TOKEN`);
//! - **service accounts**: an `ops_…` token used through the official `op` CLI
//!   ([`OnePassword::service_account`], or `OP_SERVICE_ACCOUNT_TOKEN`);
//! - **the `op` CLI's own sign-in**, for developers on their own machines: the 1Password
//!   app's CLI integration or an `op signin` session, no token ([`OnePassword::cli`]).
//!
//! ```no_run
//! use request_vault::{OnePassword, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! vault.add_provider(OnePassword::from_env()?);
//! vault.link("db", "op://Prod/Postgres/password")?; // checked offline, now
//! let password = vault.resolve("db").await?;
//! # Ok(()) }
//! ```
//!
//! Names are matched as 1Password matches them: case-insensitively, IDs first, archived
//! items ignored, several sections with one label searched together, a field that is not
//! found looked up as a file of that name. Ambiguous names are errors that list the
//! candidates' IDs. A batch fetches each item once, and name-to-ID listings are cached for
//! the provider's TTL, because every read counts against the token's rate limit.

mod cli;
mod connect;
mod error;
pub mod reference;
mod select;
#[cfg(feature = "ssh")]
mod ssh;
pub mod token;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

pub use error::PROVIDER_ID;
pub use reference::{
    Attribute, ReferenceError, ReferenceErrorKind, SecretReference, Segment, SegmentKind, SshFormat,
};
pub use token::ServiceAccountToken;

use crate::Error;
use crate::provider::{
    DEFAULT_CACHE_TTL, ExternalProvider, HttpOptions, MAX_RESPONSE_BYTES, ProviderContext,
    ProviderError, ProviderErrorKind, RetryPolicy,
};
use error::error;

/// How many requests to a Connect server run at once unless configured: enough for a batch
/// of 20 items to take one round trip (Connect servers run close to their clients).
pub const DEFAULT_CONCURRENCY: usize = 32;

/// The former name of [`DEFAULT_CONCURRENCY`].
#[deprecated(
    since = "0.1.0",
    note = "renamed DEFAULT_CONCURRENCY, as in the other providers"
)]
pub const DEFAULT_CONNECT_CONCURRENCY: usize = DEFAULT_CONCURRENCY;

/// Resolves `op://` references from 1Password. Cheap to clone; clones share credentials,
/// caches and the request limit.
#[derive(Clone)]
pub struct OnePassword {
    transport: Arc<Transport>,
}

enum Transport {
    Connect(connect::Connect),
    Cli(cli::Cli),
}

/// Options for a [`OnePassword`] provider.
///
/// ```
/// use std::time::Duration;
/// use request_vault::OnePassword;
/// use request_vault::provider::RetryPolicy;
///
/// let provider = OnePassword::builder()
///     .timeout(Duration::from_secs(5))
///     .connect_timeout(Duration::from_secs(2))
///     .concurrency(4)
///     .retry(RetryPolicy::default().max_attempts(3))
///     .connect("http://127.0.0.1:8080", "connect-token")?;
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct OnePasswordBuilder {
    timeout: Duration,
    http: HttpOptions,
    /// The cap on each output of `op` (the Connect client's is in `http`).
    max_response_bytes: usize,
    concurrency: usize,
    retry: RetryPolicy,
    cache_ttl: Option<Duration>,
    op_path: Option<PathBuf>,
}

impl Default for OnePasswordBuilder {
    fn default() -> Self {
        OnePasswordBuilder {
            timeout: Duration::from_secs(30),
            http: HttpOptions::new(),
            max_response_bytes: MAX_RESPONSE_BYTES,
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default(),
            cache_ttl: None,
            op_path: None,
        }
    }
}

impl OnePasswordBuilder {
    /// The longest one request (or one `op` run) may take. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.http = self.http.timeout(timeout);
        self
    }

    /// The longest connecting to the Connect server may take. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.connect_timeout(timeout);
        self
    }

    /// The most one answer of the Connect server, or each of the standard output and the
    /// error output of one `op` run, may hold, in bytes ([`MAX_RESPONSE_BYTES`] unless set):
    /// raise it for vaults that keep large files. `op` is stopped when it prints more.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self.http = self.http.max_response_bytes(bytes);
        self
    }

    /// How many requests to the Connect server run at once
    /// ([`DEFAULT_CONCURRENCY`] unless set; at least 1).
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// How transient failures (timeouts, dropped connections, 429, 5xx) are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How long vault and item listings (name-to-ID maps) are kept.
    ///
    /// Unless set, they are kept as long as the vault the provider is added to keeps values
    /// ([`VaultBuilder::cache_ttl`](crate::VaultBuilder::cache_ttl)), and
    /// [`DEFAULT_CACHE_TTL`] (one hour) before it is added to one. Set, it holds whatever
    /// the vault's TTL.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// Where the `op` CLI is, when it is not on `PATH`.
    pub fn op_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.op_path = Some(path.into());
        self
    }

    /// The HTTP client for Connect requests (its own timeouts then apply). Build it with
    /// `redirect::Policy::none()`, or start from
    /// [`HttpOptions::client_builder`](crate::provider::HttpOptions::client_builder).
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.http = self.http.client(client);
        self
    }

    /// A provider talking to the Connect server at `host` (such as `http://localhost:8080`).
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when `host` is not an
    /// http(s) URL or the token is empty or not printable ASCII.
    pub fn connect(self, host: &str, token: impl Into<SecretString>) -> Result<OnePassword, Error> {
        let http = self
            .http
            .build(PROVIDER_ID, self.retry)
            .map_err(Error::from)?;
        let settings = connect::ConnectSettings {
            http,
            concurrency: self.concurrency,
            cache_ttl: self.cache_ttl.unwrap_or(DEFAULT_CACHE_TTL),
            follow_vault_ttl: self.cache_ttl.is_none(),
        };
        let transport = connect::Connect::new(host, token.into(), settings).map_err(Error::from)?;
        Ok(OnePassword {
            transport: Arc::new(Transport::Connect(transport)),
        })
    }

    /// A provider using a service-account token through the `op` CLI.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when the token is
    /// malformed (see [`ServiceAccountToken::parse`]). A missing `op` is reported when it is
    /// first needed, with how to install it.
    pub fn service_account(self, token: impl Into<SecretString>) -> Result<OnePassword, Error> {
        let token = ServiceAccountToken::parse(token.into())?;
        let program = self.op_path.unwrap_or_else(|| PathBuf::from("op"));
        let sign_in = cli::SignIn::ServiceAccount(std::sync::RwLock::new(token));
        Ok(OnePassword {
            transport: Arc::new(Transport::Cli(cli::Cli::new(cli::Runner::new(
                program,
                sign_in,
                self.timeout,
                self.max_response_bytes,
            )))),
        })
    }

    /// A provider using the `op` CLI's own sign-in, with no token: the 1Password app's CLI
    /// integration (Settings > Developer), or a session from `op signin` in the environment.
    /// For developers on their own machines; use [`service_account`](Self::service_account)
    /// or [`connect`](Self::connect) for servers and CI.
    ///
    /// `op` runs with the caller's environment (so `OP_ACCOUNT`, `OP_SESSION_*` and
    /// `OP_CONFIG_DIR` apply) minus `OP_SERVICE_ACCOUNT_TOKEN`, `OP_CONNECT_HOST` and
    /// `OP_CONNECT_TOKEN`, which would make `op` act as another identity than the signed-in
    /// user. [`OnePassword::check`] says when `op` is not signed in.
    ///
    /// ```no_run
    /// use request_vault::{OnePassword, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let provider = OnePassword::builder().cli()?;
    /// provider.check().await?; // "not signed in: sign in with `op signin`, …"
    /// let vault = Vault::new();
    /// vault.add_provider(provider);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when `op` is neither
    /// at [`op_path`](Self::op_path) nor on `PATH`, with how to install it.
    pub fn cli(self) -> Result<OnePassword, Error> {
        let program = match self.op_path {
            Some(path) => path,
            None => cli::find_on_path("op").unwrap_or_else(|| PathBuf::from("op")),
        };
        if !program.is_file() {
            return Err(Error::from(cli::missing(&program)));
        }
        Ok(OnePassword {
            transport: Arc::new(Transport::Cli(cli::Cli::new(cli::Runner::new(
                program,
                cli::SignIn::User,
                self.timeout,
                self.max_response_bytes,
            )))),
        })
    }

    /// A provider configured from the environment, as the `op` CLI reads it:
    /// `OP_CONNECT_HOST` and `OP_CONNECT_TOKEN` win over `OP_SERVICE_ACCOUNT_TOKEN`.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when neither is set
    /// (or only one of the Connect pair), or when a value is malformed.
    pub fn from_env(self) -> Result<OnePassword, Error> {
        let var = crate::provider::setting::var;
        match (var("OP_CONNECT_HOST"), var("OP_CONNECT_TOKEN"), var("OP_SERVICE_ACCOUNT_TOKEN")) {
            (Some(host), Some(token), _) => self.connect(&host, token),
            (None, None, Some(token)) | (Some(_), None, Some(token)) | (None, Some(_), Some(token)) => {
                self.service_account(token)
            }
            (Some(_), None, None) | (None, Some(_), None) => Err(Error::from(error(
                ProviderErrorKind::Configuration,
                "set both OP_CONNECT_HOST and OP_CONNECT_TOKEN to use a Connect server".to_owned(),
            ))),
            (None, None, None) => Err(Error::from(error(
                ProviderErrorKind::Configuration,
                "no 1Password credentials in the environment: set OP_CONNECT_HOST and OP_CONNECT_TOKEN, or OP_SERVICE_ACCOUNT_TOKEN (or use OnePassword::cli() for the `op` CLI's own sign-in)".to_owned(),
            ))),
        }
    }
}

impl OnePassword {
    /// A builder for a provider with other options.
    pub fn builder() -> OnePasswordBuilder {
        OnePasswordBuilder::default()
    }

    /// A provider for the Connect server at `host`, with default options.
    ///
    /// # Errors
    ///
    /// As [`OnePasswordBuilder::connect`].
    pub fn connect(host: &str, token: impl Into<SecretString>) -> Result<Self, Error> {
        Self::builder().connect(host, token)
    }

    /// A provider for a service-account token, through the `op` CLI, with default options.
    ///
    /// # Errors
    ///
    /// As [`OnePasswordBuilder::service_account`].
    pub fn service_account(token: impl Into<SecretString>) -> Result<Self, Error> {
        Self::builder().service_account(token)
    }

    /// A provider using the `op` CLI's own sign-in (the 1Password app or `op signin`), with
    /// default options. See [`OnePasswordBuilder::cli`].
    ///
    /// # Errors
    ///
    /// As [`OnePasswordBuilder::cli`].
    pub fn cli() -> Result<Self, Error> {
        Self::builder().cli()
    }

    /// A provider configured from the environment, with default options.
    ///
    /// # Errors
    ///
    /// As [`OnePasswordBuilder::from_env`].
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().from_env()
    }

    /// Swaps the credentials in place (a Connect token, or a service-account token for the
    /// CLI transport) and forgets cached listings. Postman's "reauthenticate".
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when the token is
    /// malformed (the old credentials are kept then), or when the provider uses the `op`
    /// CLI's own sign-in ([`OnePassword::cli`]), which takes no token: sign in again with
    /// `op signin` or the 1Password app instead.
    pub fn reauthenticate(&self, token: impl Into<SecretString>) -> Result<(), Error> {
        match &*self.transport {
            Transport::Connect(connect) => {
                connect.reauthenticate(token.into()).map_err(Error::from)
            }
            Transport::Cli(cli) => cli
                .reauthenticate(ServiceAccountToken::parse(token.into())?)
                .map_err(Error::from),
        }
    }

    /// Verifies that 1Password is reachable and the credentials are accepted: the Connect
    /// server's heartbeat and vault list, or `op whoami`.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] whose kind says what failed: [`ProviderErrorKind::Unavailable`] or
    /// [`ProviderErrorKind::Timeout`] (unreachable), [`ProviderErrorKind::Unauthorized`]
    /// (reauthenticate; with [`OnePassword::cli`], `op` is not signed in, and the message
    /// says how to sign in), [`ProviderErrorKind::Configuration`] (`op` missing).
    pub async fn check(&self) -> Result<(), Error> {
        let outcome = match &*self.transport {
            Transport::Connect(connect) => connect.check().await,
            Transport::Cli(cli) => cli.check().await,
        };
        outcome.map_err(Error::from)
    }
}

#[async_trait]
impl ExternalProvider for OnePassword {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn scheme(&self) -> &str {
        reference::SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        let parsed = SecretReference::parse(crate::provider::strip_ref_prefix(reference))?;
        if parsed.ssh_format().is_some() && !cfg!(feature = "ssh") {
            return Err(error(
                ProviderErrorKind::Unsupported,
                "`ssh-format=openssh` needs the `ssh` cargo feature of request-vault, which this build leaves out".to_owned(),
            )
            .with_reference(reference));
        }
        Ok(())
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let results = self.resolve_all(&[reference]).await;
        crate::provider::batch::one(results, PROVIDER_ID, reference)
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        match &*self.transport {
            Transport::Connect(connect) => connect.resolve_all(references).await,
            Transport::Cli(cli) => cli.resolve_all(references).await,
        }
    }

    /// Lets the listings follow the vault's TTL, unless
    /// [`OnePasswordBuilder::cache_ttl`] set one.
    fn attach(&self, context: &ProviderContext) {
        if let Transport::Connect(connect) = &*self.transport {
            connect.follow_ttl(context.cache_ttl());
        }
    }

    fn clear_cache(&self) {
        if let Transport::Connect(connect) = &*self.transport {
            connect.clear_cache();
        }
    }
}

impl std::fmt::Debug for OnePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("OnePassword");
        match &*self.transport {
            Transport::Connect(connect) => out
                .field("transport", &"connect")
                .field("host", &connect.host()),
            Transport::Cli(cli) => {
                out.field("transport", &"op")
                    .field("program", &cli.program());
                match cli.token() {
                    Some(token) => out.field("account", &token.sign_in_address().to_owned()),
                    None => out.field("sign_in", &"op"),
                }
            }
        };
        out.finish_non_exhaustive()
    }
}
