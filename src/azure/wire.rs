//! The JSON the provider reads, as Microsoft documents it: Entra ID's and the managed
//! identity endpoints' token answers and errors, `az account get-access-token`'s output,
//! and Key Vault's secret bundles, secret lists and error bodies.
//!
//! Only the fields read are declared; values and tokens are wiped when dropped.

use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::token::{AccessToken, DEFAULT_LIFETIME, lifetime};

/// A token endpoint's success body (Entra ID v2.0, IMDS, App Service). `expires_in` is a
/// number in v2.0 answers and a string elsewhere.
#[derive(Deserialize)]
pub(crate) struct TokenBody {
    pub(crate) access_token: Zeroizing<String>,
    #[serde(default)]
    pub(crate) expires_in: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) expires_on: Option<serde_json::Value>,
}

impl TokenBody {
    /// The token and its lifetime (an hour when the answer does not say); `None` for an
    /// empty token (the caller reports it, naming the endpoint).
    pub(crate) fn into_token(self) -> Option<AccessToken> {
        if self.access_token.is_empty() {
            return None;
        }
        Some(AccessToken {
            lifetime: lifetime(
                self.expires_in.as_ref(),
                self.expires_on.as_ref(),
                DEFAULT_LIFETIME,
            ),
            token: SecretString::from(self.access_token.as_str()),
        })
    }
}

/// Entra ID's error body (RFC 6749 section 5.2 plus `error_codes`); the description text is
/// not read.
#[derive(Deserialize, Default)]
pub(crate) struct EntraError {
    #[serde(default)]
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_codes: Vec<u64>,
}

/// The managed identity endpoints' error body: `{"error": "invalid_request",
/// "error_description": "Identity not found"}` (only the code is read).
#[derive(Deserialize, Default)]
pub(crate) struct ManagedError {
    #[serde(default)]
    pub(crate) error: String,
}

/// What `az account get-access-token --output json` prints.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CliToken {
    pub(crate) access_token: Zeroizing<String>,
    /// Unix seconds (az 2.54 and later).
    #[serde(default, rename = "expires_on")]
    pub(crate) expires_on: Option<serde_json::Value>,
    /// The tenant the token was issued in.
    #[serde(default)]
    pub(crate) tenant: Option<String>,
}

/// A secret bundle, as much of it as is read. The value is wiped when dropped.
#[derive(Deserialize)]
pub(crate) struct SecretBundle {
    #[serde(default)]
    pub(crate) value: Option<Zeroizing<String>>,
    #[serde(default)]
    pub(crate) attributes: Option<Attributes>,
}

/// A secret's attributes: whether it is enabled, and its validity (informational).
#[derive(Deserialize, Default)]
pub(crate) struct Attributes {
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
    #[serde(default)]
    pub(crate) nbf: Option<i64>,
    #[serde(default)]
    pub(crate) exp: Option<i64>,
}

/// One page of Get Secrets.
#[derive(Deserialize)]
pub(crate) struct SecretList {
    #[serde(default)]
    pub(crate) value: Vec<SecretItem>,
}

/// One secret's properties in a list: its id (`https://{vault}/secrets/{name}`).
#[derive(Deserialize)]
pub(crate) struct SecretItem {
    #[serde(default)]
    pub(crate) id: String,
}

/// Key Vault's error body: `{"error": {"code": …, "message": …, "innererror": {"code": …}}}`.
#[derive(Deserialize, Default)]
pub(crate) struct VaultError {
    #[serde(default)]
    pub(crate) error: Option<VaultErrorDetail>,
}

/// One level of a Key Vault error; the message text is not read.
#[derive(Deserialize, Default)]
pub(crate) struct VaultErrorDetail {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) innererror: Option<Box<VaultErrorDetail>>,
}

impl VaultError {
    /// The codes from the outside in: `Forbidden`, `SecretDisabled`.
    pub(crate) fn codes(&self) -> Vec<&str> {
        let mut codes = Vec::new();
        let mut level = self.error.as_ref();
        while let Some(detail) = level {
            if !detail.code.is_empty() {
                codes.push(detail.code.as_str());
            }
            level = detail.innererror.as_deref();
        }
        codes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_error_codes_run_from_the_outside_in() {
        let body: VaultError = serde_json::from_str(
            r#"{"error":{"code":"Forbidden","message":"m","innererror":{"code":"SecretDisabled"}}}"#,
        )
        .unwrap();
        assert_eq!(body.codes(), ["Forbidden", "SecretDisabled"]);
        let empty: VaultError = serde_json::from_str("{}").unwrap();
        assert!(empty.codes().is_empty());
    }

    #[test]
    fn empty_tokens_are_refused() {
        let body: TokenBody = serde_json::from_str(r#"{"access_token":""}"#).unwrap();
        assert!(body.into_token().is_none());
        let body: TokenBody = serde_json::from_str(r#"{"access_token":"t"}"#).unwrap();
        assert!(body.into_token().is_some());
    }
}
