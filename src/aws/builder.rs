//! [`AwsBuilder`]: region, credentials, role, endpoints, HTTP options and retries, turned
//! into the AWS SDK's configuration; one builder for both AWS providers
//! ([`AwsSecretsManagerBuilder`](super::AwsSecretsManagerBuilder) and
//! [`AwsParameterStoreBuilder`](super::AwsParameterStoreBuilder)).

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::provider::{HttpOptions, ProviderError, ProviderErrorKind, RetryPolicy};

use super::client::DoorClient;
use super::error::{Errors, Service};
use super::session::Session;

/// How many calls an AWS provider's batch makes at once unless configured
/// ([`AwsBuilder::concurrency`]).
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The AWS SDK behaviour version this crate was written and tested against, set in code so
/// that an SDK upgrade never changes defaults under a caller (and so that the library never
/// turns on the SDK's `behavior-version-latest` feature for its users).
fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// A role to assume with STS before reading secrets, as Postman Vault offers: the role's
/// ARN, and optionally an external ID, a session name and a session duration.
///
/// ```
/// use std::time::Duration;
/// use request_vault::aws::AssumeRole;
///
/// let role = AssumeRole::new("arn:aws:iam::123456789012:role/vault-reader")
///     .external_id("partner-42")
///     .session_name("request-vault")
///     .duration(Duration::from_secs(900));
/// assert_eq!(role.role_arn(), "arn:aws:iam::123456789012:role/vault-reader");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct AssumeRole {
    role_arn: String,
    external_id: Option<String>,
    session_name: Option<String>,
    duration: Option<Duration>,
}

impl AssumeRole {
    /// The role `role_arn` (`arn:aws:iam::ACCOUNT:role/NAME`).
    pub fn new(role_arn: impl Into<String>) -> Self {
        AssumeRole {
            role_arn: role_arn.into(),
            external_id: None,
            session_name: None,
            duration: None,
        }
    }

    /// The external ID the role's trust policy asks for.
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// The role session name (shown in CloudTrail); the SDK picks one when unset.
    pub fn session_name(mut self, session_name: impl Into<String>) -> Self {
        self.session_name = Some(session_name.into());
        self
    }

    /// How long the assumed credentials last (STS allows 15 minutes up to the role's
    /// maximum, one hour by default). They are renewed before they expire.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// The role's ARN.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }
}

impl From<&str> for AssumeRole {
    fn from(role_arn: &str) -> Self {
        AssumeRole::new(role_arn)
    }
}

impl From<String> for AssumeRole {
    fn from(role_arn: String) -> Self {
        AssumeRole::new(role_arn)
    }
}

// Hand-written for symmetry with the builder; an external ID is not a secret but is kept
// out of logs all the same.
impl fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRole")
            .field("role_arn", &self.role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| "<set>"))
            .field("session_name", &self.session_name)
            .field("duration", &self.duration)
            .finish()
    }
}

struct StaticKeys {
    access_key_id: String,
    secret_access_key: SecretString,
}

/// Options for an AWS provider: [`AwsSecretsManagerBuilder`](super::AwsSecretsManagerBuilder)
/// for [`AwsSecretsManager`](super::AwsSecretsManager), and
/// [`AwsParameterStoreBuilder`](super::AwsParameterStoreBuilder) for
/// [`AwsParameterStore`](super::AwsParameterStore). Anything left unset comes from the
/// standard AWS chain (environment, shared config and credentials files with profiles and
/// SSO, web identity, ECS and EC2 instance metadata), as `from_env` uses it.
///
/// ```no_run
/// use std::time::Duration;
/// use request_vault::AwsSecretsManager;
/// use request_vault::aws::AssumeRole;
/// use request_vault::provider::RetryPolicy;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), request_vault::Error> {
/// let provider = AwsSecretsManager::builder()
///     .region("eu-west-1")
///     .profile("ci")
///     .assume_role(AssumeRole::new("arn:aws:iam::123456789012:role/vault-reader").external_id("x-42"))
///     .timeout(Duration::from_secs(5))
///     .retry(RetryPolicy::default().max_attempts(3))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
///
/// # HTTP, retries and timeouts
///
/// Every request the provider makes (to the service, to STS for a role, to SSO, to
/// instance metadata) goes through the crate's own HTTP client and its policy: redirects are
/// never followed, answers are capped at [`max_response_bytes`](Self::max_response_bytes),
/// and credentials echoed by a server are masked in errors. [`client`](Self::client) gives
/// it the caller's `reqwest::Client` (proxies, TLS roots, DNS overrides).
///
/// The SDK's own retries are turned off for the service's calls: each is one HTTP
/// attempt, and the provider's [`RetryPolicy`] (see [`retry`](Self::retry)) retries
/// throttling, timeouts, dropped connections and 5xx answers, so that one policy governs
/// every provider of the crate and a call is never retried twice over. Each attempt is
/// bounded by [`timeout`](Self::timeout) (30 s unless set) and its connection by
/// [`connect_timeout`](Self::connect_timeout) (10 s unless set). STS calls for an assumed
/// role are not retried by the SDK either: a transient failure of STS (unreachable,
/// throttled, 5xx) fails the call that needed the credentials with a transient kind, and
/// the policy retries that call, so a failing STS is asked at most
/// [`max_attempts`](RetryPolicy::max_attempts) times per call, all within the call's one
/// deadline. (Instance metadata and SSO providers keep their own short internal retries.)
#[must_use]
pub struct AwsBuilder<P> {
    id: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    sts_endpoint_url: Option<String>,
    keys: Option<StaticKeys>,
    session_token: Option<SecretString>,
    profile: Option<String>,
    profile_files: Option<(PathBuf, PathBuf)>,
    assume_role: Option<AssumeRole>,
    retry: RetryPolicy,
    http: HttpOptions,
    /// The caller's client, kept apart: instance and container metadata never use it.
    client: Option<reqwest::Client>,
    concurrency: usize,
    provider: PhantomData<fn() -> P>,
}

impl<P> Default for AwsBuilder<P> {
    fn default() -> Self {
        AwsBuilder {
            id: None,
            region: None,
            endpoint_url: None,
            sts_endpoint_url: None,
            keys: None,
            session_token: None,
            profile: None,
            profile_files: None,
            assume_role: None,
            retry: RetryPolicy::default(),
            http: HttpOptions::new(),
            client: None,
            concurrency: DEFAULT_CONCURRENCY,
            provider: PhantomData,
        }
    }
}

impl<P> AwsBuilder<P> {
    /// The provider's id in a vault (unless set, [`PROVIDER_ID`](super::PROVIDER_ID),
    /// `"aws"`, for Secrets Manager and [`SSM_PROVIDER_ID`](super::SSM_PROVIDER_ID),
    /// `"aws-ssm"`, for Parameter Store): give each of several AWS accounts its own.
    ///
    /// ```no_run
    /// use request_vault::{AwsSecretsManager, ExternalProvider};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let prod = AwsSecretsManager::builder().id("aws-prod").profile("prod").build().await?;
    /// assert_eq!(prod.id(), "aws-prod");
    /// # Ok(()) }
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The region values are read from, unless a reference names its own (an ARN's region,
    /// or `?region=`). Unset: `AWS_REGION`, the profile, or instance metadata.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends the service's calls (Secrets Manager's, or Parameter Store's) to `url` instead
    /// of AWS's endpoint: a VPC endpoint, an emulator such as moto or LocalStack, a proxy.
    /// Only that service is redirected (STS, SSO and instance metadata are not; see
    /// [`sts_endpoint_url`](Self::sts_endpoint_url)). `AWS_ENDPOINT_URL_SECRETS_MANAGER`
    /// and `AWS_ENDPOINT_URL_SSM` do the same from the environment.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Sends the STS calls of [`assume_role`](Self::assume_role) to `url` (an emulator, a
    /// VPC endpoint). `AWS_ENDPOINT_URL_STS` does the same from the environment.
    pub fn sts_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.sts_endpoint_url = Some(url.into());
        self
    }

    /// Static credentials: an access key ID and its secret access key (kept as a
    /// [`SecretString`], never printed). Replaces the credential chain.
    pub fn static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<SecretString>,
    ) -> Self {
        self.keys = Some(StaticKeys {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        });
        self
    }

    /// The session token that goes with temporary [static
    /// credentials](Self::static_credentials) (`AWS_SESSION_TOKEN`'s counterpart).
    pub fn session_token(mut self, token: impl Into<SecretString>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// The named profile of the shared config and credentials files (`AWS_PROFILE`'s
    /// counterpart), for its credentials (keys, SSO, a role, a process) and its region.
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// Reads profiles from these files instead of `~/.aws/config` and
    /// `~/.aws/credentials` (`AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`'s
    /// counterparts).
    pub fn profile_files(
        mut self,
        config: impl Into<PathBuf>,
        credentials: impl Into<PathBuf>,
    ) -> Self {
        self.profile_files = Some((config.into(), credentials.into()));
        self
    }

    /// Assumes a role with STS (an ARN, or an [`AssumeRole`] with an external ID, a session
    /// name and a duration) using the other credentials, and reads values as that role.
    pub fn assume_role(mut self, role: impl Into<AssumeRole>) -> Self {
        self.assume_role = Some(role.into());
        self
    }

    /// How transient failures (throttling, timeouts, dropped connections, 5xx) are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The longest one attempt of a call may take (30 s unless set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    /// The longest connecting may take (10 s unless set).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.connect_timeout(timeout);
        self
    }

    /// Sends every request through `client` (the caller's proxies, TLS roots, DNS
    /// overrides), used as it is: build it with
    /// [`HttpOptions::client_builder`](crate::provider::HttpOptions::client_builder) so
    /// that it follows no redirect (a redirected answer is refused all the same). This
    /// matters more for AWS than elsewhere: a session token travels in the
    /// `X-Amz-Security-Token` header (SigV4 has no other place for it), which reqwest keeps
    /// on a redirect to another origin, where it drops `Authorization`. Instance and
    /// container metadata (link-local credential endpoints, whose tokens travel in custom
    /// headers too) never use it: the crate's own client, through no proxy, reaches them.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Trusts these PEM certificates besides the system's (a TLS-inspecting proxy, a
    /// private endpoint).
    pub fn ca_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.http = self.http.ca_certificates_pem(pem);
        self
    }

    /// The most one answer may hold
    /// ([`MAX_RESPONSE_BYTES`](crate::provider::MAX_RESPONSE_BYTES) unless set); a larger
    /// answer fails the call as soon as the cap is passed.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.http = self.http.max_response_bytes(bytes);
        self
    }

    /// How many calls a batch makes at once ([`DEFAULT_CONCURRENCY`] unless set; at least
    /// 1).
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Checks the settings, loads the configuration (resolving what was left unset through
    /// the standard AWS chain) with the door's HTTP client, and assumes the role if one is
    /// set. Credentials are fetched lazily, on the first call.
    pub(crate) async fn session(self, service: Service) -> Result<Session, Error> {
        self.validate(service.provider)?;
        let door = DoorClient::new(&self.http, self.client.clone(), service.provider)
            .map_err(Error::from)?;
        let scrubber = door.scrubber();
        if let Some(keys) = &self.keys {
            scrubber.add(&SecretString::from(keys.access_key_id.as_str()));
            scrubber.add(&keys.secret_access_key);
        }
        if let Some(token) = &self.session_token {
            scrubber.add(token);
        }
        let description = self.describe();
        let mut sdk_config = self.loader(door).load().await;
        if let Some(role) = &self.assume_role {
            sdk_config = assume(&sdk_config, role, self.sts_endpoint_url.as_deref()).await;
        }
        Ok(Session {
            id: self.id.unwrap_or_else(|| service.provider.to_owned()),
            default_region: sdk_config.region().map(|r| r.as_ref().to_owned()),
            sdk_config,
            endpoint_url: self.endpoint_url,
            retry: self.retry,
            concurrency: self.concurrency,
            description,
            errors: Errors::new(service, scrubber),
        })
    }

    /// A session token needs static keys, and endpoint URLs are http(s) URLs.
    fn validate(&self, provider: &str) -> Result<(), Error> {
        let configuration = |message: String| {
            Error::from(ProviderError::new(
                provider,
                ProviderErrorKind::Configuration,
                message,
            ))
        };
        if self.session_token.is_some() && self.keys.is_none() {
            return Err(configuration(
                "a session token needs static credentials (`.static_credentials(id, secret)`)"
                    .to_owned(),
            ));
        }
        for url in [&self.endpoint_url, &self.sts_endpoint_url]
            .into_iter()
            .flatten()
        {
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => {
                    return Err(configuration(format!(
                        "the endpoint URL `{url}` is not an http(s) URL"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The SDK's loader with this builder's settings and the door's HTTP client.
    fn loader(&self, door: DoorClient) -> aws_config::ConfigLoader {
        let mut loader = aws_config::defaults(behavior_version())
            .http_client(door)
            .retry_config(RetryConfig::disabled());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some((config, credentials)) = &self.profile_files {
            loader = loader.profile_files(
                EnvConfigFiles::builder()
                    .with_file(EnvConfigFileKind::Config, config)
                    .with_file(EnvConfigFileKind::Credentials, credentials)
                    .build(),
            );
        }
        if let Some(keys) = &self.keys {
            loader = loader.credentials_provider(Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.expose_secret(),
                self.session_token
                    .as_ref()
                    .map(|token| token.expose_secret().to_owned()),
                None,
                "request-vault",
            ));
        }
        loader
    }

    fn describe(&self) -> String {
        let credentials = match (&self.keys, &self.profile) {
            (Some(_), _) => "static credentials".to_owned(),
            (None, Some(profile)) => format!("profile `{profile}`"),
            (None, None) => "the default credential chain".to_owned(),
        };
        match &self.assume_role {
            Some(role) => format!("{credentials}, assuming role `{}`", role.role_arn),
            None => credentials,
        }
    }
}

/// The configuration with credentials of `role`, assumed with the configuration's own.
async fn assume(base: &SdkConfig, role: &AssumeRole, sts_endpoint_url: Option<&str>) -> SdkConfig {
    // No retries of the SDK's own: the provider's policy retries the call that needed the
    // credentials, so a failing STS is asked at most `max_attempts` times per call.
    let mut sts = base.to_builder();
    if let Some(url) = sts_endpoint_url {
        sts = sts.endpoint_url(url);
    }
    let mut provider = AssumeRoleProvider::builder(role.role_arn.clone()).configure(&sts.build());
    if let Some(external_id) = &role.external_id {
        provider = provider.external_id(external_id);
    }
    if let Some(session_name) = &role.session_name {
        provider = provider.session_name(session_name);
    }
    if let Some(duration) = role.duration {
        provider = provider.session_length(duration);
    }
    let provider = provider.build().await;
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

// Hand-written: the builder holds credentials.
impl<P> fmt::Debug for AwsBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsBuilder")
            .field("id", &self.id)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("sts_endpoint_url", &self.sts_endpoint_url)
            .field("credentials", &self.describe())
            .field("retry", &self.retry)
            .field("http", &self.http)
            .field("callers_client", &self.client.is_some())
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}
