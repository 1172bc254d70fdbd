//! Service account impersonation: IAM Credentials `generateAccessToken`
//! (`POST https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`),
//! which turns a token of one identity (a federated identity from STS, a user) into a token
//! of a service account it may act as.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;
use zeroize::Zeroizing;

use crate::provider::http::{Outgoing, is_transient_status};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::{self, PROVIDER_ID};
use super::oauth::{SCOPE, target};
use super::token::{AccessToken, TokenContext, until_rfc3339};
use super::wire::ImpersonatedAnswer;

/// How long an impersonated token is asked for unless the configuration says: an hour, the
/// most Google grants without an organization policy.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// An impersonation step: where to ask and for how long.
#[derive(Debug, Clone)]
pub(crate) struct Impersonation {
    pub(crate) url: Url,
    pub(crate) lifetime: Duration,
}

impl Impersonation {
    /// The service account's token, asked for with `source` (the caller's own token).
    ///
    /// # Errors
    ///
    /// As [`error::token_endpoint`]: `Forbidden` when the identity may not impersonate the
    /// service account (`iam.serviceAccounts.getAccessToken`), `Protocol` for an answer
    /// without a token.
    pub(crate) async fn token(
        &self,
        context: &TokenContext,
        source: &SecretString,
    ) -> Result<AccessToken, ProviderError> {
        let body = serde_json::json!({
            "scope": [SCOPE],
            "lifetime": format!("{}s", self.lifetime.as_secs()),
        });
        let request = Outgoing::post(self.url.clone(), target(&self.url))
            .idempotent()
            .bearer(PROVIDER_ID, source)?
            .body(
                "application/json",
                Zeroizing::new(body.to_string().into_bytes()),
            );
        let who = format!("IAM Credentials at {}", target(&self.url));
        let reply = context
            .http
            .call(&request, |reply| {
                is_transient_status(reply.status).then(|| error::token_endpoint(reply, &who))
            })
            .await?;
        if !reply.is_success() {
            return Err(error::token_endpoint(&reply, &who));
        }
        let answer: ImpersonatedAnswer = reply.json(PROVIDER_ID, "an impersonated token")?;
        if answer.access_token.is_empty() {
            return Err(ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Protocol,
                format!("{who} sent an empty access token"),
            ));
        }
        let token = SecretString::from(answer.access_token.as_str());
        context.obtained(&token);
        let lifetime = answer
            .expire_time
            .as_deref()
            .and_then(until_rfc3339)
            .unwrap_or(self.lifetime);
        Ok(AccessToken {
            token,
            lifetime: lifetime.min(self.lifetime),
        })
    }

    /// The service account's email, from the URL (for messages).
    pub(crate) fn account(&self) -> &str {
        let last = self.url.path().rsplit('/').next().unwrap_or_default();
        last.strip_suffix(":generateAccessToken").unwrap_or(last)
    }
}
