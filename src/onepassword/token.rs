//! [`ServiceAccountToken`]: a parsed, validated 1Password service-account token.
//!
//! A token is `ops_` followed by base64url-encoded JSON holding the account's sign-in
//! address, the service account's email, and its key material (`secretKey`, `srpX`, `muk`,
//! `userAuth`). Only the non-secret details are kept readable; the whole token stays in a
//! [`SecretString`] and is handed to the `op` CLI through its environment only.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::IgnoredAny;
use zeroize::Zeroizing;

use super::error::{PROVIDER_ID, error};
use crate::Error;
use crate::provider::ProviderErrorKind;

/// The prefix every service-account token starts with.
pub const TOKEN_PREFIX: &str = "ops_";

/// A validated service-account token.
///
/// ```
/// use base64::Engine as _;
/// use request_vault::onepassword::ServiceAccountToken;
///
/// let json = r#"{"email":"ci@example.1password.com","signInAddress":"example.1password.com",
///     "secretKey":"A3-XXXXXX","srpX":"00","muk":{},"userAuth":{}}"#;
/// let token = format!("ops_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json));
/// let token = ServiceAccountToken::parse(token.into())?;
/// assert_eq!(token.sign_in_address(), "example.1password.com");
/// assert_eq!(token.email_domain(), "example.1password.com");
/// assert!(!format!("{token:?}").contains("A3-XXXXXX"));
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Clone)]
pub struct ServiceAccountToken {
    token: SecretString,
    sign_in_address: String,
    email_domain: String,
}

/// The token's JSON: the secret members are checked for presence, never kept.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Claims {
    email: String,
    sign_in_address: String,
    secret_key: IgnoredAny,
    srp_x: IgnoredAny,
    muk: IgnoredAny,
    user_auth: IgnoredAny,
}

impl ServiceAccountToken {
    /// Parses and validates a token.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when the token does not
    /// start with `ops_`, is not base64url, or is not the JSON a service-account token holds.
    /// The message never contains the token.
    pub fn parse(token: SecretString) -> Result<Self, Error> {
        let invalid = |why: &str| -> Error {
            Error::from(error(
                ProviderErrorKind::Configuration,
                format!("the service-account token is malformed: {why}"),
            ))
        };
        let text = token.expose_secret().trim();
        let Some(body) = text.strip_prefix(TOKEN_PREFIX) else {
            return Err(invalid("it does not start with `ops_`"));
        };
        let decoded = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(body.trim_end_matches('='))
                .or_else(|_| URL_SAFE.decode(body))
                .map_err(|_| invalid("the part after `ops_` is not base64url"))?,
        );
        let claims: Claims = serde_json::from_slice(&decoded).map_err(|_| {
            invalid("it does not hold the JSON of a service-account token (email, signInAddress, secretKey, srpX, muk, userAuth)")
        })?;
        let email_domain = claims
            .email
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_owned())
            .ok_or_else(|| invalid("its email has no domain"))?;
        Ok(ServiceAccountToken {
            token: SecretString::from(text),
            sign_in_address: claims.sign_in_address,
            email_domain,
        })
    }

    /// The sign-in address of the account, such as `my.1password.com`.
    pub fn sign_in_address(&self) -> &str {
        &self.sign_in_address
    }

    /// The domain of the service account's email.
    pub fn email_domain(&self) -> &str {
        &self.email_domain
    }

    /// The whole token, for the `op` child process's environment.
    pub(crate) fn secret(&self) -> &SecretString {
        &self.token
    }
}

impl fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountToken")
            .field("provider", &PROVIDER_ID)
            .field("sign_in_address", &self.sign_in_address)
            .field("email_domain", &self.email_domain)
            .finish_non_exhaustive()
    }
}
