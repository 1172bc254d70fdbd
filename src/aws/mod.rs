//! AWS Secrets Manager: `awssecrets://` references and the [`AwsSecretsManager`] provider
//! that resolves them through the official AWS SDK for Rust.
//!
//! ```no_run
//! use request_vault::{AwsSecretsManager, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! vault.add_provider(AwsSecretsManager::from_env().await?); // the standard AWS chain
//! vault.link("db-password", "awssecrets://prod/db#password")?; // checked offline, now
//! vault.link("api-key", "ref+awssecrets://arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbCdEf")?;
//! vault.link("old", "awssecrets://prod/db?version_stage=AWSPREVIOUS#password")?;
//! let all = vault.resolve_all(["db-password", "api-key", "old"]).await?;
//! # Ok(()) }
//! ```
//!
//! # References
//!
//! `awssecrets://SECRET[?version_stage=S&version_id=V&region=R][#KEY]`, with the optional
//! `ref+` prefix that `vals` writes. `SECRET` is a secret name or a full ARN (whose region is
//! used, whatever the provider's). `#KEY` picks a member of a JSON secret, `#/a/b` is a JSON
//! pointer; without either the whole value is returned. A binary secret (`SecretBinary`)
//! resolves to its bytes in standard, padded base64, so that every value is text.
//!
//! # Requests
//!
//! A batch ([`ExternalProvider::resolve_all`], and so a vault render) fetches each distinct
//! secret version in a region once, however many `#KEY`s point into it: current versions
//! with `BatchGetSecretValue`, 20 secrets a call, pinned versions with `GetSecretValue`.
//! A secret that fails in a batch fails alone. Credentials that may call `GetSecretValue`
//! but not `BatchGetSecretValue` are detected on the first batch, whose secrets (and those
//! of later batches) are then fetched one by one.
//!
//! # Errors
//!
//! AWS error codes map to [`ProviderErrorKind`]s: `ResourceNotFoundException` and a secret
//! scheduled for deletion are [`NotFound`](ProviderErrorKind::NotFound),
//! `AccessDeniedException` and KMS's `DecryptionFailure` are
//! [`Forbidden`](ProviderErrorKind::Forbidden), refused, expired or missing credentials are
//! [`Unauthorized`](ProviderErrorKind::Unauthorized), throttling is retried and then
//! [`RateLimited`](ProviderErrorKind::RateLimited), and network failures are
//! [`Unavailable`](ProviderErrorKind::Unavailable) or [`Timeout`](ProviderErrorKind::Timeout).

mod builder;
mod error;
mod fetch;
mod reference;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::Region;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};

pub use builder::{AssumeRole, AwsSecretsManagerBuilder, DEFAULT_AWS_CONCURRENCY};
pub use reference::SCHEME;

use crate::Error;
use crate::provider::batch::{Slots, distinct};
use crate::provider::field::select_text;
use crate::provider::{ExternalProvider, ProviderError, ProviderErrorKind, RetryPolicy};

use fetch::FetchKey;
use reference::AwsReference;

/// The id of the AWS Secrets Manager provider.
pub const PROVIDER_ID: &str = "aws";

/// Resolves `awssecrets://` references from AWS Secrets Manager. Cheap to clone; clones
/// share the SDK clients and their credentials cache.
#[derive(Clone)]
pub struct AwsSecretsManager {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    config: aws_sdk_secretsmanager::Config,
    default_region: Option<String>,
    clients: Mutex<HashMap<String, Client>>,
    retry: RetryPolicy,
    concurrency: usize,
    batch_refused: AtomicBool,
    description: String,
}

impl AwsSecretsManager {
    pub(crate) fn new(
        id: String,
        config: aws_sdk_secretsmanager::Config,
        default_region: Option<String>,
        retry: RetryPolicy,
        concurrency: usize,
        description: String,
    ) -> Self {
        AwsSecretsManager {
            inner: Arc::new(Inner {
                id,
                config,
                default_region,
                clients: Mutex::new(HashMap::new()),
                retry,
                concurrency,
                batch_refused: AtomicBool::new(false),
                description,
            }),
        }
    }

    /// A builder for a provider with other options (region, credentials, role, endpoint).
    pub fn builder() -> AwsSecretsManagerBuilder {
        AwsSecretsManagerBuilder::default()
    }

    /// A provider using the standard AWS credential chain and region: environment
    /// variables, the shared config and credentials files (profiles, SSO, roles,
    /// `credential_process`), web identity, ECS and EC2 instance metadata.
    ///
    /// # Errors
    ///
    /// As [`AwsSecretsManagerBuilder::build`].
    pub async fn from_env() -> Result<Self, Error> {
        Self::builder().build().await
    }

    /// The region used for references that do not name their own, if one was found.
    pub fn region(&self) -> Option<&str> {
        self.inner.default_region.as_deref()
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
        let Some(region) = self.inner.default_region.clone() else {
            return Err(Error::from(no_region()));
        };
        let client = self.client(&region);
        let outcome = self
            .inner
            .retry
            .run(|| {
                let call = client.list_secrets().max_results(1);
                async move {
                    call.send()
                        .await
                        .map_err(|e| error::from_sdk(e, "listing secrets"))
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
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = self
                    .inner
                    .config
                    .to_builder()
                    .region(Region::new(region.to_owned()))
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    /// What to fetch for a parsed reference.
    fn key_of(&self, parsed: &AwsReference) -> Result<FetchKey, ProviderError> {
        let region = parsed
            .region
            .clone()
            .or_else(|| self.inner.default_region.clone())
            .ok_or_else(no_region)?;
        Ok(FetchKey {
            region,
            secret_id: parsed.secret_id.clone(),
            version_stage: parsed.version_stage.clone(),
            version_id: parsed.version_id.clone(),
        })
    }
}

fn no_region() -> ProviderError {
    ProviderError::new(
        PROVIDER_ID,
        ProviderErrorKind::Configuration,
        "no AWS region: set one with the builder's `.region()`, AWS_REGION or the profile, \
         or use a secret ARN or `?region=`",
    )
}

#[async_trait]
impl ExternalProvider for AwsSecretsManager {
    fn id(&self) -> &str {
        &self.inner.id
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
        let fetched = fetch::fetch_all(
            &unique,
            |region| self.client(region),
            self.inner.retry,
            self.inner.concurrency,
            &self.inner.batch_refused,
        )
        .await;
        for ((index, _, field), at) in wanted.iter().zip(position) {
            let reference = references[*index];
            let result = match (&fetched[at], field) {
                (Ok(value), None) => Ok(value.clone()),
                (Ok(value), Some(field)) => select_text(PROVIDER_ID, value.expose_secret(), field)
                    .map_err(|e| {
                        ProviderError::new(
                            PROVIDER_ID,
                            e.kind(),
                            format!("{}: {}", unique[at].describe(), e.message()),
                        )
                    }),
                (Err(e), _) => Err(e.duplicate()),
            };
            slots.set(*index, result.map_err(|e| e.with_reference(reference)));
        }
        slots.finish_or_missing(PROVIDER_ID, references)
    }
}

// Hand-written: never shows credentials.
impl fmt::Debug for AwsSecretsManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSecretsManager")
            .field("id", &self.inner.id)
            .field("region", &self.inner.default_region)
            .field("credentials", &self.inner.description)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}
