//! Token requests to an OAuth 2.0 endpoint (Google's `https://oauth2.googleapis.com/token`
//! or a key file's `token_uri`, and STS `https://sts.googleapis.com/v1/token`): one form
//! POST, marked idempotent (a token request may run twice), retried on transient answers,
//! its answer read as a token with its lifetime.

use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use zeroize::Zeroizing;

use crate::provider::http::{Outgoing, Reply, is_transient_status, sensitive_header};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::{self, PROVIDER_ID};
use super::token::{AccessToken, TokenContext};
use super::wire::{TokenAnswer, seconds};

/// Google's OAuth 2.0 token endpoint, where key files without a `token_uri` get tokens.
pub(crate) const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The scope every token is asked for: Secret Manager accepts no narrower one.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// How long a token lives when its answer does not say: an hour, as Google's are.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A token request: `form` POSTed to `url`, with HTTP Basic client authentication when
/// `client` is given. `who` names the exchange in errors ("Google's token endpoint for
/// service account `x@p.iam.gserviceaccount.com`").
pub(crate) struct FormRequest<'a> {
    pub(crate) url: &'a Url,
    pub(crate) form: Vec<(&'a str, &'a str)>,
    pub(crate) client: Option<(&'a str, &'a SecretString)>,
    pub(crate) who: &'a str,
}

impl FormRequest<'_> {
    /// Sends the request and reads the token. The token is registered with the scrubbers.
    ///
    /// # Errors
    ///
    /// As [`error::token_endpoint`] for a refusal, `Protocol` for an answer that holds no
    /// token, the door's errors for transport failures.
    pub(crate) async fn send(self, context: &TokenContext) -> Result<AccessToken, ProviderError> {
        let body = Zeroizing::new({
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &self.form {
                form.append_pair(name, value);
            }
            form.finish()
        });
        let mut request = Outgoing::post(self.url.clone(), target(self.url))
            .idempotent()
            .body(
                "application/x-www-form-urlencoded",
                Zeroizing::new(body.as_bytes().to_vec()),
            );
        if let Some((id, secret)) = self.client {
            request = request.header(AUTHORIZATION, basic(id, secret)?);
        }
        let who = self.who;
        let reply = context
            .http
            .call(&request, |reply| {
                is_transient_status(reply.status).then(|| error::token_endpoint(reply, who))
            })
            .await?;
        let token = token_of(&reply, who)?;
        context.obtained(&token.token);
        Ok(token)
    }
}

/// The token of a successful answer, or the error of a refusal.
///
/// # Errors
///
/// As [`error::token_endpoint`], and `Protocol` for an answer without a token.
pub(crate) fn token_of(reply: &Reply, who: &str) -> Result<AccessToken, ProviderError> {
    if !reply.is_success() {
        return Err(error::token_endpoint(reply, who));
    }
    let answer: TokenAnswer = reply.json(PROVIDER_ID, "a token")?;
    if answer.access_token.is_empty() {
        return Err(ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Protocol,
            format!("{who} sent an empty access token"),
        ));
    }
    let lifetime = answer
        .expires_in
        .as_ref()
        .and_then(seconds)
        .map_or(DEFAULT_LIFETIME, Duration::from_secs);
    Ok(AccessToken {
        token: SecretString::from(answer.access_token.as_str()),
        lifetime,
    })
}

/// `scheme://host[:port]` of `url`: what errors say of a server.
pub(crate) fn target(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// `Authorization: Basic base64(id:secret)`, marked sensitive.
fn basic(id: &str, secret: &SecretString) -> Result<reqwest::header::HeaderValue, ProviderError> {
    use base64::Engine as _;
    let pair = Zeroizing::new(format!("{id}:{}", secret.expose_secret()));
    let value = Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    ));
    sensitive_header(&value).ok_or_else(|| {
        ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Configuration,
            "the client ID holds characters a header cannot hold",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_give_tokens_with_their_lifetime() {
        let reply = Reply::fake(
            200,
            r#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#,
        );
        let token = token_of(&reply, "Google").unwrap();
        assert_eq!(token.token.expose_secret(), "ya29.x");
        assert_eq!(token.lifetime, Duration::from_secs(3599));
        let huge = Reply::fake(
            200,
            &format!(r#"{{"access_token":"t","expires_in":{}}}"#, u64::MAX),
        );
        assert_eq!(
            token_of(&huge, "Google").unwrap().lifetime,
            Duration::from_secs(u64::MAX)
        );
        let unsaid = Reply::fake(200, r#"{"access_token":"t","expires_in":"soon"}"#);
        assert_eq!(
            token_of(&unsaid, "Google").unwrap().lifetime,
            DEFAULT_LIFETIME
        );
        let empty = Reply::fake(200, r#"{"access_token":""}"#);
        assert_eq!(
            token_of(&empty, "Google").unwrap_err().kind(),
            ProviderErrorKind::Protocol
        );
        let refused = Reply::fake(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        );
        assert_eq!(
            token_of(&refused, "Google").unwrap_err().kind(),
            ProviderErrorKind::Unauthorized
        );
    }
}
