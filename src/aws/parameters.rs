//! [`AwsParameterStore`]: the provider of `awsssm://` references (AWS Systems Manager
//! Parameter Store), and the build of its builder.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::Region;
use aws_sdk_ssm::Client;
use secrecy::SecretString;

use crate::Error;
use crate::provider::field::FieldKey;
use crate::provider::{ExternalProvider, ProviderError};

use super::batch::Plan;
use super::builder::AwsBuilder;
use super::error::{SSM_PROVIDER_ID, Service};
use super::parameter_fetch::{ParameterFetcher, ParameterKey};
use super::parameter_reference::{ParameterReference, SSM_SCHEME};
use super::session::{Regional, Session};

/// What Parameter Store's errors are named after.
const PARAMETER_STORE: Service = Service {
    provider: SSM_PROVIDER_ID,
    name: "AWS Systems Manager Parameter Store",
};

/// What a reference can name instead of the default region.
const REGION_HINT: &str = "`?region=`";

/// Options for an [`AwsParameterStore`]: see [`AwsBuilder`], shared with
/// [`AwsSecretsManager`](super::AwsSecretsManager).
pub type AwsParameterStoreBuilder = AwsBuilder<AwsParameterStore>;

/// Resolves `awsssm://` references from AWS Systems Manager Parameter Store: `String`,
/// `StringList` (the comma-separated text) and `SecureString` parameters (decrypted). Cheap
/// to clone; clones share the SDK clients and their credentials cache.
///
/// ```no_run
/// use request_vault::{AwsParameterStore, Vault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), request_vault::Error> {
/// let vault = Vault::new();
/// vault.add_provider(AwsParameterStore::from_env().await?); // the standard AWS chain
/// vault.link("db-password", "awsssm://app/db/password")?; // the parameter /app/db/password
/// vault.link("previous", "awsssm:///app/db/password:3")?; // its version 3
/// vault.link("user", "ref+awsssm://app/db/json:live?region=eu-west-1#user")?; // a label, a field
/// let all = vault.resolve_all(["db-password", "previous", "user"]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AwsParameterStore {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    clients: Regional<Client>,
}

impl AwsBuilder<AwsParameterStore> {
    /// Loads the configuration (resolving what was left unset through the standard AWS
    /// chain) and builds the provider. Credentials are fetched lazily, on the first call.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`](crate::ProviderErrorKind::Configuration)
    /// when a session token is given without static credentials, an endpoint URL is not an
    /// http(s) URL, or the HTTP client cannot be built. Missing credentials or region are
    /// reported by [`AwsParameterStore::check`] and by the first resolve, since a reference
    /// may name its own region.
    pub async fn build(self) -> Result<AwsParameterStore, Error> {
        let session = self.session(PARAMETER_STORE).await?;
        let mut config = aws_sdk_ssm::config::Builder::from(&session.sdk_config);
        if let Some(url) = &session.endpoint_url {
            config = config.endpoint_url(url);
        }
        let config = config.build();
        let clients = Regional::new(move |region| {
            let region = Region::new(region.to_owned());
            Client::from_conf(config.to_builder().region(region).build())
        });
        Ok(AwsParameterStore {
            inner: Arc::new(Inner { session, clients }),
        })
    }
}

impl AwsParameterStore {
    /// A builder for a provider with other options (region, credentials, role, endpoint):
    /// the same as [`AwsSecretsManager::builder`](super::AwsSecretsManager::builder)'s.
    pub fn builder() -> AwsParameterStoreBuilder {
        AwsBuilder::default()
    }

    /// A provider using the standard AWS credential chain and region, as
    /// [`AwsSecretsManager::from_env`](super::AwsSecretsManager::from_env).
    ///
    /// # Errors
    ///
    /// As [`AwsParameterStoreBuilder::build`](AwsBuilder::build).
    pub async fn from_env() -> Result<Self, Error> {
        Self::builder().build().await
    }

    /// The region used for references that do not name their own, if one was found.
    pub fn region(&self) -> Option<&str> {
        self.inner.session.default_region.as_deref()
    }

    /// Verifies that Parameter Store is reachable and accepts the credentials, with one
    /// `DescribeParameters` call asking for one result. Credentials that may not describe
    /// parameters (`AccessDeniedException`) were accepted all the same, and pass.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] whose kind says what failed:
    /// - [`ProviderErrorKind::Configuration`](crate::ProviderErrorKind::Configuration) when
    ///   no region is configured;
    /// - [`ProviderErrorKind::Unauthorized`](crate::ProviderErrorKind::Unauthorized) when no
    ///   credentials are found or AWS refuses them;
    /// - [`ProviderErrorKind::Unavailable`](crate::ProviderErrorKind::Unavailable) or
    ///   [`ProviderErrorKind::Timeout`](crate::ProviderErrorKind::Timeout) when Parameter
    ///   Store cannot be reached.
    pub async fn check(&self) -> Result<(), Error> {
        let session = &self.inner.session;
        session
            .check(REGION_HINT, |region| {
                let call = self
                    .inner
                    .clients
                    .get(region)
                    .describe_parameters()
                    .max_results(1);
                async move {
                    call.send()
                        .await
                        .map_err(|e| session.errors.of_sdk(e, "describing parameters"))
                }
            })
            .await
    }

    /// What to fetch for a reference, and the field it picks.
    fn key_of(&self, reference: &str) -> Result<(ParameterKey, Option<FieldKey>), ProviderError> {
        let parsed = ParameterReference::parse(reference)?;
        let region = self
            .inner
            .session
            .region(parsed.region.as_deref(), REGION_HINT)?;
        let key = ParameterKey {
            region,
            requested: parsed.requested(),
        };
        Ok((key, parsed.field))
    }
}

#[async_trait]
impl ExternalProvider for AwsParameterStore {
    fn id(&self) -> &str {
        &self.inner.session.id
    }

    fn scheme(&self) -> &str {
        SSM_SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        ParameterReference::parse(reference).map(|_| ())
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let results = self.resolve_all(&[reference]).await;
        crate::provider::batch::one(results, SSM_PROVIDER_ID, reference)
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        let plan = Plan::new(references, |reference| self.key_of(reference));
        let session = &self.inner.session;
        let fetcher = ParameterFetcher {
            client_for: |region: &str| self.inner.clients.get(region),
            retry: session.retry,
            concurrency: session.concurrency,
            errors: &session.errors,
        };
        let fetched = fetcher.fetch_all(&plan.unique).await;
        plan.finish(
            references,
            &fetched,
            &session.errors,
            ParameterKey::describe,
        )
    }
}

// Hand-written: never shows credentials.
impl fmt::Debug for AwsParameterStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.session.debug("AwsParameterStore", f)
    }
}
