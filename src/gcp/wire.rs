//! What Google's servers and credential files say, as serde types: Secret Manager's access
//! answer, Google's error body, OAuth 2.0 and STS token answers, the IAM Credentials
//! `generateAccessToken` answer, and the credential files Application Default Credentials
//! reads. Every field that holds a secret is wiped when dropped and has no `Debug`.

use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

/// `GET …/versions/V:access`: `{"name": …, "payload": {"data": base64, "dataCrc32c": "…"}}`.
#[derive(Deserialize)]
pub(crate) struct AccessAnswer {
    /// `projects/NUMBER/[locations/L/]secrets/S/versions/N`: the version actually read.
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) payload: Option<Payload>,
}

/// The payload of a version.
#[derive(Deserialize)]
pub(crate) struct Payload {
    /// The secret's bytes, base64 (absent for an empty secret).
    #[serde(default)]
    pub(crate) data: Option<Zeroizing<String>>,
    /// The CRC32C of the bytes: an int64 as a decimal string (proto3 JSON), or a number.
    #[serde(default, rename = "dataCrc32c")]
    pub(crate) data_crc32c: Option<Value>,
}

/// Google's error body (AIP-193): `{"error": {"code": 404, "message": …, "status":
/// "NOT_FOUND", "details": [...]}}`.
#[derive(Deserialize, Default)]
pub(crate) struct GoogleError {
    #[serde(default)]
    pub(crate) error: Option<GoogleErrorDetail>,
}

/// The inside of [`GoogleError`].
#[derive(Deserialize, Default)]
pub(crate) struct GoogleErrorDetail {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) status: String,
}

/// An OAuth 2.0 error body (RFC 6749, section 5.2), as Google's token endpoint and STS
/// send it: `{"error": "invalid_grant", "error_description": …}`.
#[derive(Deserialize, Default)]
pub(crate) struct OAuthError {
    #[serde(default)]
    pub(crate) error: Value,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}

/// An OAuth 2.0 token answer (Google's token endpoint, STS, the metadata server).
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub(crate) access_token: Zeroizing<String>,
    /// Seconds: a number, or a string of digits in some answers.
    #[serde(default)]
    pub(crate) expires_in: Option<Value>,
}

/// IAM Credentials `generateAccessToken`: `{"accessToken": …, "expireTime":
/// "2014-10-02T15:01:23Z"}`.
#[derive(Deserialize)]
pub(crate) struct ImpersonatedAnswer {
    #[serde(rename = "accessToken")]
    pub(crate) access_token: Zeroizing<String>,
    #[serde(default, rename = "expireTime")]
    pub(crate) expire_time: Option<String>,
}

/// The `type` of a credential file.
#[derive(Deserialize)]
pub(crate) struct KeyFileType {
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) quota_project_id: Option<String>,
}

/// A service account key file (`"type": "service_account"`).
#[derive(Deserialize)]
pub(crate) struct ServiceAccountKey {
    pub(crate) client_email: String,
    pub(crate) private_key: Zeroizing<String>,
    #[serde(default)]
    pub(crate) private_key_id: Option<String>,
    #[serde(default)]
    pub(crate) token_uri: Option<String>,
}

/// A user's credentials, as `gcloud auth application-default login` writes them
/// (`"type": "authorized_user"`).
#[derive(Deserialize)]
pub(crate) struct AuthorizedUser {
    pub(crate) client_id: String,
    pub(crate) client_secret: Zeroizing<String>,
    pub(crate) refresh_token: Zeroizing<String>,
    #[serde(default)]
    pub(crate) token_uri: Option<String>,
}

/// A workload identity federation configuration (`"type": "external_account"`).
#[derive(Deserialize)]
pub(crate) struct ExternalAccount {
    pub(crate) audience: String,
    pub(crate) subject_token_type: String,
    #[serde(default)]
    pub(crate) token_url: Option<String>,
    pub(crate) credential_source: CredentialSource,
    #[serde(default)]
    pub(crate) service_account_impersonation_url: Option<String>,
    #[serde(default)]
    pub(crate) service_account_impersonation: Option<ImpersonationOptions>,
    #[serde(default)]
    pub(crate) client_id: Option<String>,
    #[serde(default)]
    pub(crate) client_secret: Option<Zeroizing<String>>,
    #[serde(default)]
    pub(crate) workforce_pool_user_project: Option<String>,
}

/// Where an external account's subject token comes from.
#[derive(Deserialize)]
pub(crate) struct CredentialSource {
    #[serde(default)]
    pub(crate) file: Option<String>,
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) headers: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) format: Option<SourceFormat>,
    #[serde(default)]
    pub(crate) environment_id: Option<String>,
    #[serde(default)]
    pub(crate) executable: Option<Value>,
}

/// How the subject token is written: the whole text, or a field of a JSON object.
#[derive(Deserialize)]
pub(crate) struct SourceFormat {
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) subject_token_field_name: Option<String>,
}

/// `service_account_impersonation` of an external account.
#[derive(Deserialize)]
pub(crate) struct ImpersonationOptions {
    #[serde(default)]
    pub(crate) token_lifetime_seconds: Option<Value>,
}

/// A gcloud-impersonated credential (`"type": "impersonated_service_account"`).
#[derive(Deserialize)]
pub(crate) struct ImpersonatedServiceAccount {
    pub(crate) service_account_impersonation_url: String,
    pub(crate) source_credentials: Value,
}

/// A JSON number or a string of digits, as a count of seconds.
pub(crate) fn seconds(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_answers_parse_as_google_sends_them() {
        let answer: AccessAnswer = serde_json::from_str(
            r#"{"name":"projects/123/secrets/s/versions/2","payload":{"data":"aGk=","dataCrc32c":"1234"}}"#,
        )
        .unwrap();
        let payload = answer.payload.unwrap();
        assert_eq!(payload.data.unwrap().as_str(), "aGk=");
        assert_eq!(seconds(&payload.data_crc32c.unwrap()), Some(1234));
        assert_eq!(seconds(&Value::from(u64::MAX)), Some(u64::MAX));
        assert_eq!(seconds(&Value::from(-1)), None);
    }
}
