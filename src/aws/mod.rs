//! AWS: `awssecrets://` references to Secrets Manager ([`AwsSecretsManager`]) and
//! `awsssm://` references to Systems Manager Parameter Store ([`AwsParameterStore`]),
//! resolved through the official AWS SDK for Rust, whose HTTP goes through the crate's own
//! client.
//!
//! ```no_run
//! use request_vault::{AwsParameterStore, AwsSecretsManager, Vault};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), request_vault::Error> {
//! let vault = Vault::new();
//! vault.add_provider(AwsSecretsManager::from_env().await?); // the standard AWS chain
//! vault.add_provider(AwsParameterStore::from_env().await?);
//! vault.link("db-password", "awssecrets://prod/db#password")?; // checked offline, now
//! vault.link("api-key", "ref+awssecrets://arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbCdEf")?;
//! vault.link("old", "awssecrets://prod/db?version_stage=AWSPREVIOUS#password")?;
//! vault.link("token", "awsssm://app/api/token")?; // the parameter /app/api/token
//! let all = vault.resolve_all(["db-password", "api-key", "old", "token"]).await?;
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
//! `awsssm://PATH/TO/PARAM[:VERSION|:LABEL][?region=R][#KEY]` names the parameter
//! `/PATH/TO/PARAM` (`awsssm:///PATH/TO/PARAM` too), its latest version unless a version or
//! label is selected. `String` and `StringList` parameters resolve to their text,
//! `SecureString`s to their decrypted text; `#KEY` and `#/a/b` pick from a JSON value.
//!
//! # Requests
//!
//! A batch ([`ExternalProvider::resolve_all`](crate::ExternalProvider::resolve_all), and so
//! a vault render) fetches each distinct secret or parameter version in a region once,
//! however many `#KEY`s point into it. Secrets Manager: current versions with
//! `BatchGetSecretValue`, 20 secrets a call, pinned versions with `GetSecretValue`.
//! Credentials that may call `GetSecretValue` but not `BatchGetSecretValue` are detected on
//! the first batch, whose secrets (and those of later batches) are then fetched one by one.
//! Parameter Store: `GetParameters`, 10 names a call. A secret or parameter that fails in a
//! batch fails alone, and an answer that names another secret or parameter than the one
//! asked for is never taken.
//!
//! Every request (to the service, STS, SSO and instance metadata) goes through the
//! provider door: no redirect is followed, answers are capped, and the access key ID, secret
//! key and session token are masked in any error that quotes the server.
//!
//! # Errors
//!
//! AWS error codes map to [`ProviderErrorKind`](crate::ProviderErrorKind)s:
//! `ResourceNotFoundException`, `ParameterNotFound`, a parameter listed as invalid and a
//! secret scheduled for deletion are [`NotFound`](crate::ProviderErrorKind::NotFound),
//! `AccessDeniedException` and KMS's `DecryptionFailure` and `InvalidKeyId` are
//! [`Forbidden`](crate::ProviderErrorKind::Forbidden), refused, expired or missing
//! credentials are [`Unauthorized`](crate::ProviderErrorKind::Unauthorized), throttling is
//! retried and then [`RateLimited`](crate::ProviderErrorKind::RateLimited), and network
//! failures are [`Unavailable`](crate::ProviderErrorKind::Unavailable) or
//! [`Timeout`](crate::ProviderErrorKind::Timeout).

mod batch;
mod builder;
mod client;
mod error;
mod fetch;
mod parameter_fetch;
mod parameter_reference;
mod parameters;
mod reference;
mod secrets;
mod session;
mod uri;
mod wire;

pub use builder::{AssumeRole, AwsBuilder, DEFAULT_CONCURRENCY};
pub use error::{PROVIDER_ID, SSM_PROVIDER_ID};
pub use parameter_reference::SSM_SCHEME;
pub use parameters::{AwsParameterStore, AwsParameterStoreBuilder};
pub use reference::SCHEME;
pub use secrets::{AwsSecretsManager, AwsSecretsManagerBuilder};

/// The former name of [`DEFAULT_CONCURRENCY`].
#[deprecated(since = "0.1.0", note = "use `aws::DEFAULT_CONCURRENCY`")]
pub const DEFAULT_AWS_CONCURRENCY: usize = DEFAULT_CONCURRENCY;
