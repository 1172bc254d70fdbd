//! [`AwsSecretsManager`]: the provider of `awssecrets://` references, and the build of its
//! builder.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use aws_config::Region;
use aws_sdk_secretsmanager::Client;
use secrecy::SecretString;

use crate::Error;
use crate::provider::{ExternalProvider, ProviderError};

use super::batch::Plan;
use super::builder::AwsBuilder;
use super::error::{PROVIDER_ID, Service};
use super::fetch::{FetchKey, Fetcher};
use super::reference::{AwsReference, SCHEME};
use super::session::{Regional, Session};

/// What a reference can name instead of the default region.
const REGION_HINT: &str = "a secret ARN or `?region=`";

/// What AWS Secrets Manager's errors are named after.
const SECRETS_MANAGER: Service = Service {
    provider: PROVIDER_ID,
    name: "AWS Secrets Manager",
};

/// Options for an [`AwsSecretsManager`]: see [`AwsBuilder`], shared with
/// [`AwsParameterStore`](super::AwsParameterStore).
pub type AwsSecretsManagerBuilder = AwsBuilder<AwsSecretsManager>;

/// Resolves `awssecrets://` references from AWS Secrets Manager. Cheap to clone; clones
/// share the SDK clients and their credentials cache.
#[derive(Clone)]
pub struct AwsSecretsManager {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    clients: Regional<Client>,
    batch_refused: AtomicBool,
}

impl AwsBuilder<AwsSecretsManager> {
    /// Loads the configuration (resolving what was left unset through the standard AWS
    /// chain) and builds the provider. Credentials are fetched lazily, on the first call.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`](crate::ProviderErrorKind::Configuration)
    /// when a session token is given without static credentials, an endpoint URL is not an
    /// http(s) URL, or the HTTP client cannot be built (CA certificates that are not PEM).
    /// Missing credentials or region are reported by [`AwsSecretsManager::check`] and by the
    /// first resolve, since a reference may name its own region.
    pub async fn build(self) -> Result<AwsSecretsManager, Error> {
        let session = self.session(SECRETS_MANAGER).await?;
        let mut config = aws_sdk_secretsmanager::config::Builder::from(&session.sdk_config);
        if let Some(url) = &session.endpoint_url {
            config = config.endpoint_url(url);
        }
        let config = config.build();
        let clients = Regional::new(move |region| {
            let region = Region::new(region.to_owned());
            Client::from_conf(config.to_builder().region(region).build())
        });
        Ok(AwsSecretsManager {
            inner: Arc::new(Inner {
                session,
                clients,
                batch_refused: AtomicBool::new(false),
            }),
        })
    }
}

impl AwsSecretsManager {
    /// A builder for a provider with other options (region, credentials, role, endpoint).
    pub fn builder() -> AwsSecretsManagerBuilder {
        AwsBuilder::default()
    }

    /// A provider using the standard AWS credential chain and region: environment
    /// variables, the shared config and credentials files (profiles, SSO, roles,
    /// `credential_process`), web identity, ECS and EC2 instance metadata.
    ///
    /// # Errors
    ///
    /// As [`AwsSecretsManagerBuilder::build`](AwsBuilder::build).
    pub async fn from_env() -> Result<Self, Error> {
        Self::builder().build().await
    }

    /// The region used for references that do not name their own, if one was found.
    pub fn region(&self) -> Option<&str> {
        self.inner.session.default_region.as_deref()
    }

    /// Verifies that Secrets Manager is reachable and accepts the credentials, with one
    /// `ListSecrets` call asking for one result. Credentials that may not list secrets
    /// (`AccessDeniedException`) were accepted all the same, and pass.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] whose kind says what failed:
    /// - [`ProviderErrorKind::Configuration`](crate::ProviderErrorKind::Configuration) when
    ///   no region is configured;
    /// - [`ProviderErrorKind::Unauthorized`](crate::ProviderErrorKind::Unauthorized) when no
    ///   credentials are found or AWS refuses them;
    /// - [`ProviderErrorKind::Unavailable`](crate::ProviderErrorKind::Unavailable) or
    ///   [`ProviderErrorKind::Timeout`](crate::ProviderErrorKind::Timeout) when Secrets
    ///   Manager cannot be reached.
    pub async fn check(&self) -> Result<(), Error> {
        let session = &self.inner.session;
        session
            .check(REGION_HINT, |region| {
                let call = self.inner.clients.get(region).list_secrets().max_results(1);
                async move {
                    call.send()
                        .await
                        .map_err(|e| session.errors.of_sdk(e, "listing secrets"))
                }
            })
            .await
    }

    /// What to fetch for a reference, and the field it picks.
    fn key_of(
        &self,
        reference: &str,
    ) -> Result<(FetchKey, Option<crate::provider::field::FieldKey>), ProviderError> {
        let parsed = AwsReference::parse(reference)?;
        let region = self
            .inner
            .session
            .region(parsed.region.as_deref(), REGION_HINT)?;
        let key = FetchKey {
            region,
            secret_id: parsed.secret_id,
            version_stage: parsed.version_stage,
            version_id: parsed.version_id,
        };
        Ok((key, parsed.field))
    }
}

#[async_trait]
impl ExternalProvider for AwsSecretsManager {
    fn id(&self) -> &str {
        &self.inner.session.id
    }

    fn scheme(&self) -> &str {
        SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        AwsReference::parse(reference).map(|_| ())
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let results = self.resolve_all(&[reference]).await;
        crate::provider::batch::one(results, PROVIDER_ID, reference)
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        let plan = Plan::new(references, |reference| self.key_of(reference));
        let session = &self.inner.session;
        let fetcher = Fetcher {
            client_for: |region: &str| self.inner.clients.get(region),
            retry: session.retry,
            concurrency: session.concurrency,
            batch_refused: &self.inner.batch_refused,
            errors: &session.errors,
        };
        let fetched = fetcher.fetch_all(&plan.unique).await;
        plan.finish(references, &fetched, &session.errors, FetchKey::describe)
    }
}

// Hand-written: never shows credentials.
impl fmt::Debug for AwsSecretsManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.session.debug("AwsSecretsManager", f)
    }
}
