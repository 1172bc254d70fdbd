//! [`Chain`]: several token sources tried in order until one gives a token, which is then
//! kept for good, as the SDKs' default credential does (`from_env` chains a managed
//! identity and the Azure CLI).

use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::PROVIDER_ID;
use super::token::{AccessToken, TokenContext, TokenSource};

/// Sources tried in order; the first that gives a token is kept.
pub(crate) struct Chain {
    links: Vec<Box<dyn TokenSource>>,
    chosen: Mutex<Option<usize>>,
}

impl Chain {
    /// A chain of `links`, none chosen yet.
    pub(crate) fn new(links: Vec<Box<dyn TokenSource>>) -> Self {
        Chain {
            links,
            chosen: Mutex::new(None),
        }
    }

    /// The link chosen, once one gave a token.
    fn chosen(&self) -> Option<&dyn TokenSource> {
        let index = (*self.chosen.lock().unwrap_or_else(|p| p.into_inner()))?;
        self.links.get(index).map(|link| &**link)
    }

    /// Tries each link once (a probe) and keeps the first that gives a token.
    async fn first(
        &self,
        context: &TokenContext,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError> {
        let mut failures = Vec::new();
        for (index, link) in self.links.iter().enumerate() {
            match link.probe(context, tenant, scope).await {
                Ok(token) => {
                    *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some(index);
                    return Ok(token);
                }
                Err(e) => failures.push((link.kind(), e)),
            }
        }
        Err(none_worked(&failures))
    }
}

/// The error of a chain no link of which gave a token. The most telling failure decides
/// the kind: a CLI that is installed but signed out says `Unauthorized`; nothing available
/// at all is a configuration problem.
fn none_worked(failures: &[(&str, ProviderError)]) -> ProviderError {
    let kind = failures
        .iter()
        .map(|(_, e)| e.kind())
        .find(|k| {
            matches!(
                k,
                ProviderErrorKind::Unauthorized | ProviderErrorKind::Forbidden
            )
        })
        .unwrap_or(ProviderErrorKind::Configuration);
    let tried: Vec<String> = failures
        .iter()
        .map(|(name, e)| format!("{name}: {}", e.message()))
        .collect();
    ProviderError::new(
        PROVIDER_ID,
        kind,
        format!(
            "no Azure credential gave a token (set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, run on an Azure host with a managed identity, or sign in with `az login`); tried {}",
            tried.join("; ")
        ),
    )
}

#[async_trait]
impl TokenSource for Chain {
    fn kind(&self) -> &'static str {
        "default chain"
    }

    fn tenant(&self) -> Option<&str> {
        self.chosen().and_then(|link| link.tenant())
    }

    fn is_home_tenant(&self, tenant: &str) -> bool {
        self.chosen()
            .is_some_and(|link| link.is_home_tenant(tenant))
    }

    fn chooses_tenant(&self) -> bool {
        self.chosen().is_none_or(|link| link.chooses_tenant())
    }

    fn held_credentials(&self) -> Vec<&SecretString> {
        self.links
            .iter()
            .flat_map(|link| link.held_credentials())
            .collect()
    }

    async fn token(
        &self,
        context: &TokenContext,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError> {
        match self.chosen() {
            Some(link) => link.token(context, tenant, scope).await,
            None => self.first(context, tenant, scope).await,
        }
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.links).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_out_cli_says_unauthorized_and_nothing_at_all_configuration() {
        let failure = |kind| ProviderError::new(PROVIDER_ID, kind, "why");
        let error = none_worked(&[
            (
                "managed identity (IMDS)",
                failure(ProviderErrorKind::Timeout),
            ),
            ("Azure CLI", failure(ProviderErrorKind::Unauthorized)),
        ]);
        assert_eq!(error.kind(), ProviderErrorKind::Unauthorized);
        assert!(
            error
                .message()
                .contains("tried managed identity (IMDS): why; Azure CLI: why"),
            "{error}"
        );
        let error = none_worked(&[("Azure CLI", failure(ProviderErrorKind::Configuration))]);
        assert_eq!(error.kind(), ProviderErrorKind::Configuration);
    }
}
