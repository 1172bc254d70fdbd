//! Service account keys and user credentials: the two key-file credentials that get tokens
//! from an OAuth 2.0 token endpoint. A service account signs a JWT with its key and
//! exchanges it (the JWT bearer grant, RFC 7523); a user's refresh token is exchanged with
//! the OAuth client's ID and secret (the refresh token grant).
//!
//! A service account could instead send its signed JWT itself as the bearer token (Google
//! accepts a JWT with an `aud` or `scope` for its APIs). The exchange is used: it works with
//! every `token_uri` a key may name, gives a token with a lifetime the server states, and
//! keeps one token path (cache, renewal on 401, scrubbing) for every credential.

use std::fmt;

use secrecy::SecretString;
use url::Url;

use crate::provider::ProviderError;

use super::jwt::Signer;
use super::oauth::{FormRequest, SCOPE};
use super::token::{AccessToken, TokenContext, unix_now};

/// The grant type of an assertion exchange.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A service account key.
pub(crate) struct ServiceAccount {
    pub(crate) signer: Signer,
    pub(crate) token_uri: Url,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.signer.email)
            .field("token_uri", &self.token_uri.as_str())
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// A token for the service account.
    ///
    /// # Errors
    ///
    /// As [`FormRequest::send`].
    pub(crate) async fn token(&self, context: &TokenContext) -> Result<AccessToken, ProviderError> {
        let assertion = self
            .signer
            .assertion(self.token_uri.as_str(), SCOPE, unix_now())?;
        context.obtained(&assertion);
        let who = format!(
            "Google's token endpoint for service account `{}`",
            self.signer.email
        );
        FormRequest {
            url: &self.token_uri,
            form: vec![
                ("grant_type", JWT_BEARER),
                (
                    "assertion",
                    secrecy::ExposeSecret::expose_secret(&assertion),
                ),
            ],
            client: None,
            who: &who,
        }
        .send(context)
        .await
    }
}

/// A user's credentials: an OAuth client and a refresh token.
pub(crate) struct AuthorizedUser {
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) refresh_token: SecretString,
    pub(crate) token_uri: Url,
}

impl fmt::Debug for AuthorizedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizedUser")
            .field("client_id", &self.client_id)
            .field("token_uri", &self.token_uri.as_str())
            .finish_non_exhaustive()
    }
}

impl AuthorizedUser {
    /// A token for the user.
    ///
    /// # Errors
    ///
    /// As [`FormRequest::send`]; a revoked or expired refresh token is `Unauthorized`
    /// (`gcloud auth application-default login` makes a new one).
    pub(crate) async fn token(&self, context: &TokenContext) -> Result<AccessToken, ProviderError> {
        use secrecy::ExposeSecret;
        let who = format!(
            "Google's token endpoint for the user credentials of OAuth client `{}`",
            self.client_id
        );
        FormRequest {
            url: &self.token_uri,
            form: vec![
                ("grant_type", "refresh_token"),
                ("client_id", &self.client_id),
                ("client_secret", self.client_secret.expose_secret()),
                ("refresh_token", self.refresh_token.expose_secret()),
            ],
            client: None,
            who: &who,
        }
        .send(context)
        .await
    }
}
