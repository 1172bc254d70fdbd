//! Access tokens and where they come from: [`AccessToken`], the [`TokenSource`] trait every
//! way of signing in implements (client secret, workload identity, managed identity, the
//! Azure CLI, a chain of them), the [`TokenContext`] they share (the HTTP clients, the
//! authority host, the IMDS endpoint), and the clock arithmetic of token lifetimes.
//!
//! The leaf of the folder: it imports nothing from its siblings, and they all import it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use url::Url;

use crate::provider::ProviderError;
use crate::provider::http::Http;

/// How long before expiry a kept token is renewed (at most half its lifetime): the one
/// refresh margin of the folder.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How long a token is taken to live when its source does not say: an hour, Entra ID's
/// default.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(60 * 60);

pub(crate) use crate::provider::token::AccessToken;

/// What every token source shares: the HTTP clients and the places tokens come from.
#[derive(Clone)]
pub(crate) struct TokenContext {
    /// Key Vault and Entra ID: the caller's client when given, else one the crate builds.
    pub(crate) http: Arc<Http>,
    /// IMDS and App Service: always a client the crate builds (short timeouts, no proxy,
    /// no redirect followed), never the caller's, so that the identity header, a custom
    /// header a redirect would carry on, goes nowhere else.
    pub(crate) metadata: Arc<Http>,
    /// The Entra ID host (`https://login.microsoftonline.com/`).
    pub(crate) authority_host: Url,
    /// The IMDS token endpoint.
    pub(crate) imds_endpoint: Url,
    /// The longest one `az` run may take.
    pub(crate) cli_timeout: Duration,
}

/// One way of signing in to Microsoft Entra ID. Sources hand out tokens for a (tenant,
/// scope) pair; keeping them is the Key Vault client's business, and so is deciding which
/// tenant a token may be requested in.
#[async_trait]
pub(crate) trait TokenSource: fmt::Debug + Send + Sync {
    /// A short name for messages: `client secret`, `managed identity (IMDS)`.
    fn kind(&self) -> &'static str;

    /// The tenant tokens are requested in when no challenge names one: the configured
    /// tenant, or `None` for the source's own default (the CLI's signed-in tenant).
    fn tenant(&self) -> Option<&str> {
        None
    }

    /// Whether `tenant` is the one the source signs in to anyway (its configured tenant, or
    /// the one the CLI said its token was for): a challenge naming it needs no allowance.
    fn is_home_tenant(&self, tenant: &str) -> bool {
        self.tenant()
            .is_some_and(|home| home.eq_ignore_ascii_case(tenant))
    }

    /// Whether a token can be requested in a tenant a challenge names. A managed identity
    /// lives in one tenant and ignores it (so that vaults of several tenants share one
    /// token).
    fn chooses_tenant(&self) -> bool {
        true
    }

    /// The credentials the source holds from its settings (a client secret, the App
    /// Service identity header), for the provider to scrub out of server text.
    fn held_credentials(&self) -> Vec<&SecretString> {
        Vec::new()
    }

    /// A token for `scope` (`https://vault.azure.net/.default`) in `tenant` (`None`: the
    /// source's default). Transient failures are retried by one retry loop, the door's, in
    /// the source; the caller never retries around it.
    async fn token(
        &self,
        context: &TokenContext,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError>;

    /// As [`token`](Self::token), tried as a link of a chain that does not know yet whether
    /// the source exists here: a managed identity off Azure answers quickly, unretried.
    async fn probe(
        &self,
        context: &TokenContext,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError> {
        self.token(context, tenant, scope).await
    }
}

/// A number of seconds as JSON writes it: a number, or a string of digits (IMDS, App
/// Service and older Entra answers).
pub(crate) fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The Unix time now, in seconds (0 on a clock before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token's lifetime from an answer: `expires_in` seconds, else `expires_on` (Unix
/// seconds) less now, else `default`.
pub(crate) fn lifetime(
    expires_in: Option<&serde_json::Value>,
    expires_on: Option<&serde_json::Value>,
    default: Duration,
) -> Duration {
    match (expires_in.and_then(seconds), expires_on.and_then(seconds)) {
        (Some(secs), _) => Duration::from_secs(secs),
        (None, Some(at)) => Duration::from_secs(at.saturating_sub(unix_now())),
        (None, None) => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lifetimes_come_from_expires_in_then_expires_on() {
        let hour = DEFAULT_LIFETIME;
        assert_eq!(
            lifetime(Some(&json!(3599)), Some(&json!(1)), hour),
            Duration::from_secs(3599)
        );
        assert_eq!(
            lifetime(Some(&json!("120")), None, hour),
            Duration::from_secs(120)
        );
        let on = json!(unix_now().saturating_add(600).to_string());
        let from_on = lifetime(None, Some(&on), hour);
        assert!(from_on > Duration::from_secs(590) && from_on <= Duration::from_secs(600));
        assert_eq!(lifetime(None, Some(&json!(1)), hour), Duration::ZERO);
        assert_eq!(lifetime(Some(&json!("soon")), None, hour), hour);
        assert_eq!(
            lifetime(Some(&json!(u64::MAX)), None, hour),
            Duration::from_secs(u64::MAX)
        );
    }
}
