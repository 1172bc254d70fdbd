//! [`AwsParameterStore`]: the provider of `awsssm://` references (AWS Systems Manager
//! Parameter Store), and the build of its builder.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::Region;
use aws_sdk_ssm::Client;
use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::provider::batch::{Slots, distinct};
use crate::provider::field::{FieldKey, select_text};
use crate::provider::{ExternalProvider, ProviderError, ProviderErrorKind};

use super::SSM_PROVIDER_ID;
use super::builder::AwsBuilder;
use super::error::Service;
use super::parameter_fetch::{ParameterFetcher, ParameterKey};
use super::parameter_reference::{ParameterReference, SSM_SCHEME};
use super::session::{Regional, Session};

/// What Parameter Store's errors are named after.
const PARAMETER_STORE: Service = Service {
    provider: SSM_PROVIDER_ID,
    name: "AWS Systems Manager Parameter Store",
};

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
    config: aws_sdk_ssm::Config,
    clients: Regional<Client>,
}

impl AwsBuilder<AwsParameterStore> {
    /// Loads the configuration (resolving what was left unset through the standard AWS
    /// chain) and builds the provider. Credentials are fetched lazily, on the first call.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when a session token
    /// is given without static credentials, an endpoint URL is not an http(s) URL, or the
    /// HTTP client cannot be built. Missing credentials or region are reported by
    /// [`AwsParameterStore::check`] and by the first resolve, since a reference may name
    /// its own region.
    pub async fn build(self) -> Result<AwsParameterStore, Error> {
        let session = self.session(PARAMETER_STORE).await?;
        let mut config = aws_sdk_ssm::config::Builder::from(&session.sdk_config);
        if let Some(url) = &session.endpoint_url {
            config = config.endpoint_url(url);
        }
        Ok(AwsParameterStore {
            inner: Arc::new(Inner {
                config: config.build(),
                session,
                clients: Regional::new(),
            }),
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
    /// - [`ProviderErrorKind::Configuration`] when no region is configured;
    /// - [`ProviderErrorKind::Unauthorized`] when no credentials are found or AWS refuses
    ///   them;
    /// - [`ProviderErrorKind::Unavailable`] or [`ProviderErrorKind::Timeout`] when
    ///   Parameter Store cannot be reached.
    pub async fn check(&self) -> Result<(), Error> {
        let session = &self.inner.session;
        let Some(region) = session.default_region.clone() else {
            return Err(Error::from(self.no_region()));
        };
        let client = self.client(&region);
        let outcome = session
            .retry
            .run(|| {
                let call = client.describe_parameters().max_results(1);
                async move {
                    call.send()
                        .await
                        .map_err(|e| session.errors.of_sdk(e, "describing parameters"))
                }
            })
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ProviderErrorKind::Forbidden => Ok(()),
            Err(e) => Err(Error::from(e)),
        }
    }

    /// The client of `region` (the configured one, or a copy re-aimed at another region).
    fn client(&self, region: &str) -> Client {
        self.inner.clients.get(region, || {
            let config = self
                .inner
                .config
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build();
            Client::from_conf(config)
        })
    }

    /// What to fetch for a parsed reference.
    fn key_of(&self, parsed: &ParameterReference) -> Result<ParameterKey, ProviderError> {
        let region = parsed
            .region
            .clone()
            .or_else(|| self.inner.session.default_region.clone())
            .ok_or_else(|| self.no_region())?;
        Ok(ParameterKey {
            region,
            requested: parsed.requested(),
        })
    }

    fn no_region(&self) -> ProviderError {
        self.inner.session.errors.plain(
            ProviderErrorKind::Configuration,
            "no AWS region: set one with the builder's `.region()`, AWS_REGION or the \
             profile, or use `?region=`"
                .to_owned(),
        )
    }

    /// `value`, or the member or pointer `field` of it.
    fn select(
        &self,
        key: &ParameterKey,
        value: &SecretString,
        field: Option<&FieldKey>,
    ) -> Result<SecretString, ProviderError> {
        let Some(field) = field else {
            return Ok(value.clone());
        };
        select_text(SSM_PROVIDER_ID, value.expose_secret(), field).map_err(|e| {
            self.inner
                .session
                .errors
                .plain(e.kind(), format!("{}: {}", key.describe(), e.message()))
        })
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
        let mut slots = Slots::new(references.len());
        let mut wanted = Vec::new();
        for (index, reference) in references.iter().enumerate() {
            match ParameterReference::parse(reference).and_then(|p| Ok((self.key_of(&p)?, p.field)))
            {
                Ok((key, field)) => wanted.push((index, key, field)),
                Err(e) => slots.set(index, Err(e.with_reference(*reference))),
            }
        }
        let (unique, position) = distinct(wanted.iter().map(|(_, key, _)| key.clone()));
        let session = &self.inner.session;
        let fetcher = ParameterFetcher {
            client_for: |region: &str| self.client(region),
            retry: session.retry,
            concurrency: session.concurrency,
            errors: &session.errors,
        };
        let fetched = fetcher.fetch_all(&unique).await;
        for ((index, _, field), at) in wanted.iter().zip(position) {
            let result = match &fetched[at] {
                Ok(value) => self.select(&unique[at], value, field.as_ref()),
                Err(e) => Err(e.duplicate()),
            };
            slots.set(
                *index,
                result.map_err(|e| e.with_reference(references[*index])),
            );
        }
        slots.finish_or_missing(SSM_PROVIDER_ID, references)
    }
}

// Hand-written: never shows credentials.
impl fmt::Debug for AwsParameterStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let session = &self.inner.session;
        f.debug_struct("AwsParameterStore")
            .field("id", &session.id)
            .field("region", &session.default_region)
            .field("credentials", &session.description)
            .field("retry", &session.retry)
            .finish_non_exhaustive()
    }
}
