//! Vault's JSON on the wire: the login bodies sent, and the answers read (`auth` blocks,
//! mount descriptions, reads with their lease, `{"errors": [...]}`). Bodies that hold a
//! credential are written into one buffer sized up front and wiped when dropped.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

/// `POST auth/<approle mount>/login`.
#[derive(Serialize)]
pub(crate) struct AppRoleLogin<'a> {
    pub(crate) role_id: &'a str,
    pub(crate) secret_id: &'a str,
}

/// `POST auth/<jwt or kubernetes mount>/login`.
#[derive(Serialize)]
pub(crate) struct JwtLogin<'a> {
    pub(crate) role: &'a str,
    pub(crate) jwt: &'a str,
}

/// `PUT sys/leases/revoke`.
#[derive(Serialize)]
pub(crate) struct Revoke<'a> {
    pub(crate) lease_id: &'a str,
}

/// `body` as JSON in a buffer large enough for any escaping of `text_len` bytes of text, so
/// that no smaller copy of a credential is left behind by the buffer growing.
pub(crate) fn json_body(body: &impl Serialize, text_len: usize) -> Zeroizing<Vec<u8>> {
    // Escaping makes at most 6 bytes of 1 (`\u00XX`); 64 for names and punctuation.
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        text_len.saturating_mul(6).saturating_add(64),
    ));
    // Writing into a Vec cannot fail, and these types always serialize.
    if serde_json::to_writer(&mut *bytes, body).is_err() {
        bytes.clear();
    }
    bytes
}

/// An answer with an `auth` block (a login, a renewal).
#[derive(Deserialize)]
pub(crate) struct AuthReply {
    pub(crate) auth: Option<AuthBlock>,
}

/// The token a login or renewal hands out.
#[derive(Deserialize)]
pub(crate) struct AuthBlock {
    pub(crate) client_token: Zeroizing<String>,
    /// Seconds; 0 for a token that does not expire.
    #[serde(default)]
    pub(crate) lease_duration: u64,
    #[serde(default)]
    pub(crate) renewable: bool,
}

/// `GET sys/internal/ui/mounts/PATH`.
#[derive(Deserialize)]
pub(crate) struct MountReply {
    pub(crate) data: Option<MountData>,
}

/// The mount serving a path: its path, engine type and options (`version` for KV).
#[derive(Deserialize)]
pub(crate) struct MountData {
    #[serde(default)]
    pub(crate) path: String,
    #[serde(default, rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) options: Option<Value>,
}

impl MountData {
    /// `options.version`, which Vault writes as a string (`"2"`) and some servers as a
    /// number.
    pub(crate) fn version(&self) -> Option<String> {
        match self.options.as_ref()?.get("version")? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// A read: the data (KV v2: `data.data` and `data.metadata`) and its lease.
#[derive(Deserialize)]
pub(crate) struct ReadReply {
    #[serde(default)]
    pub(crate) data: Option<Value>,
    #[serde(default)]
    pub(crate) lease_id: Zeroizing<String>,
    /// Seconds.
    #[serde(default)]
    pub(crate) lease_duration: u64,
}

/// Vault's error body.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_bodies_fit_their_buffer() {
        let secret = "s\"\\\u{1}".repeat(50);
        let body = json_body(
            &AppRoleLogin {
                role_id: "role",
                secret_id: &secret,
            },
            4 + secret.len(),
        );
        let capacity = 6 * (4 + secret.len()) + 64;
        assert!(body.len() <= capacity && body.capacity() == capacity);
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["secret_id"], secret.as_str());
    }

    #[test]
    fn mount_versions_as_strings_or_numbers() {
        let data = |options: Value| MountData {
            path: "secret/".into(),
            kind: "kv".into(),
            options: Some(options),
        };
        assert_eq!(
            data(serde_json::json!({"version": "2"}))
                .version()
                .as_deref(),
            Some("2")
        );
        assert_eq!(
            data(serde_json::json!({"version": 1})).version().as_deref(),
            Some("1")
        );
        assert_eq!(data(Value::Null).version(), None);
    }
}
