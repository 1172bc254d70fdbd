//! [`AwsSecretsManager`]: the provider of `awssecrets://` references, and the build of its
//! builder.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use aws_config::Region;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::provider::batch::{Slots, distinct};
use crate::provider::field::select_text;
use crate::provider::{ExternalProvider, ProviderError, ProviderErrorKind};

use super::PROVIDER_ID;
use super::builder::AwsBuilder;
use super::error::Service;
use super::fetch::{FetchKey, Fetcher};
use super::reference::{AwsReference, SCHEME};
use super::session::{Regional, Session};

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
    config: aws_sdk_secretsmanager::Config,
    clients: Regional<Client>,
    batch_refused: AtomicBool,
}

impl AwsBuilder<AwsSecretsManager> {
    /// Loads the configuration (resolving what was left unset through the standard AWS
    /// chain) and builds the provider. Credentials are fetched lazily, on the first call.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when a session token
    /// is given without static credentials, an endpoint URL is not an http(s) URL, or the
    /// HTTP client cannot be built (CA certificates that are not PEM). Missing credentials
    /// or region are reported by [`AwsSecretsManager::check`] and by the first resolve,
    /// since a reference may name its own region.
    pub async fn build(self) -> Result<AwsSecretsManager, Error> {
        let session = self.session(SECRETS_MANAGER).await?;
        let mut config = aws_sdk_secretsmanager::config::Builder::from(&session.sdk_config);
        if let Some(url) = &session.endpoint_url {
            config = config.endpoint_url(url);
        }
        Ok(AwsSecretsManager {
            inner: Arc::new(Inner {
                config: config.build(),
                session,
                clients: Regional::new(),
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
    /// - [`ProviderErrorKind::Configuration`] when no region is configured;
    /// - [`ProviderErrorKind::Unauthorized`] when no credentials are found or AWS refuses
    ///   them;
    /// - [`ProviderErrorKind::Unavailable`] or [`ProviderErrorKind::Timeout`] when Secrets
    ///   Manager cannot be reached.
    pub async fn check(&self) -> Result<(), Error> {
        let session = &self.inner.session;
        let Some(region) = session.default_region.clone() else {
            return Err(Error::from(self.no_region()));
        };
        let client = self.client(&region);
        let outcome = session
            .retry
            .run(|| {
                let call = client.list_secrets().max_results(1);
                async move {
                    call.send()
                        .await
                        .map_err(|e| session.errors.of_sdk(e, "listing secrets"))
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
    fn key_of(&self, parsed: &AwsReference) -> Result<FetchKey, ProviderError> {
        let region = parsed
            .region
            .clone()
            .or_else(|| self.inner.session.default_region.clone())
            .ok_or_else(|| self.no_region())?;
        Ok(FetchKey {
            region,
            secret_id: parsed.secret_id.clone(),
            version_stage: parsed.version_stage.clone(),
            version_id: parsed.version_id.clone(),
        })
    }

    fn no_region(&self) -> ProviderError {
        self.inner.session.errors.plain(
            ProviderErrorKind::Configuration,
            "no AWS region: set one with the builder's `.region()`, AWS_REGION or the \
             profile, or use a secret ARN or `?region=`"
                .to_owned(),
        )
    }

    /// `value`, or the member or pointer `field` of it.
    fn select(
        &self,
        key: &FetchKey,
        value: &SecretString,
        field: Option<&crate::provider::field::FieldKey>,
    ) -> Result<SecretString, ProviderError> {
        let Some(field) = field else {
            return Ok(value.clone());
        };
        select_text(PROVIDER_ID, value.expose_secret(), field).map_err(|e| {
            self.inner
                .session
                .errors
                .plain(e.kind(), format!("{}: {}", key.describe(), e.message()))
        })
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
        let mut slots = Slots::new(references.len());
        let mut wanted = Vec::new();
        for (index, reference) in references.iter().enumerate() {
            match AwsReference::parse(reference).and_then(|p| Ok((self.key_of(&p)?, p.field))) {
                Ok((key, field)) => wanted.push((index, key, field)),
                Err(e) => slots.set(index, Err(e.with_reference(*reference))),
            }
        }
        let (unique, position) = distinct(wanted.iter().map(|(_, key, _)| key.clone()));
        let session = &self.inner.session;
        let fetcher = Fetcher {
            client_for: |region: &str| self.client(region),
            retry: session.retry,
            concurrency: session.concurrency,
            batch_refused: &self.inner.batch_refused,
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
        slots.finish_or_missing(PROVIDER_ID, references)
    }
}

// Hand-written: never shows credentials.
impl fmt::Debug for AwsSecretsManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let session = &self.inner.session;
        f.debug_struct("AwsSecretsManager")
            .field("id", &session.id)
            .field("region", &session.default_region)
            .field("credentials", &session.description)
            .field("retry", &session.retry)
            .finish_non_exhaustive()
    }
}
