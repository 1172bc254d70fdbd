//! [`GcpSecretManager`]: the provider, what it holds, and how it checks and resolves
//! references; [`GcpSecretManagerBuilder`](super::GcpSecretManagerBuilder) makes one.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::provider::batch;
use crate::provider::{ExternalProvider, ProviderError};

use super::access;
use super::client::Client;
use super::error::PROVIDER_ID;
use super::reference::{SCHEME, SecretRef};

/// Resolves `gcpsecrets://PROJECT/SECRET[?version=V][&location=L][#KEY]` references (a
/// `ref+` prefix is accepted) from Google Cloud Secret Manager. Cheap to clone; clones share
/// the credential and its token.
///
/// - References are checked offline by Google's rules for project, secret, version and
///   location names, with the byte offset of a problem.
/// - The token is kept until shortly before it expires and renewed once when Secret Manager
///   refuses it (`UNAUTHENTICATED`).
/// - A missing secret or version is [`NotFound`](crate::ProviderErrorKind::NotFound); a
///   destroyed version is `NotFound` and a disabled one
///   [`Forbidden`](crate::ProviderErrorKind::Forbidden), each saying which; missing
///   permission is `Forbidden`; `RESOURCE_EXHAUSTED` and `UNAVAILABLE` are retried, then
///   [`RateLimited`](crate::ProviderErrorKind::RateLimited) and
///   [`Unavailable`](crate::ProviderErrorKind::Unavailable). An answer whose CRC32C does
///   not match its payload, or that names another secret, is
///   [`Protocol`](crate::ProviderErrorKind::Protocol).
/// - A batch accesses each distinct secret version once, concurrently.
///
/// Build one with [`GcpSecretManager::from_env`] or [`GcpSecretManager::builder`]:
///
/// ```
/// use request_vault::GcpSecretManager;
///
/// # fn main() -> Result<(), request_vault::Error> {
/// # let key_file_text = include_str!(concat!(
/// #     env!("CARGO_MANIFEST_DIR"),
/// #     "/tests/fixtures/gcp/service-account.json"
/// # ));
/// let provider = GcpSecretManager::builder().service_account_key(key_file_text)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GcpSecretManager {
    pub(super) id: String,
    pub(super) client: Arc<Client>,
    pub(super) concurrency: usize,
}

#[async_trait]
impl ExternalProvider for GcpSecretManager {
    fn id(&self) -> &str {
        &self.id
    }

    fn scheme(&self) -> &str {
        SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        SecretRef::parse(reference).map(drop)
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let results = self.resolve_all(&[reference]).await;
        batch::one(results, PROVIDER_ID, reference)
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        access::resolve_all(&self.client, self.concurrency, references).await
    }

    fn clear_cache(&self) {
        self.client.tokens.clear();
    }
}

impl std::fmt::Debug for GcpSecretManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpSecretManager")
            .field("id", &self.id)
            .field("client", &self.client)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}
