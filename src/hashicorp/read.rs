//! Reading one secret: KV v2 at `MOUNT/data/REST` (`?version=N`), KV v1 and every other
//! engine at the path as is; the fields come out of `data` (KV v2: `data.data`), and a lease
//! (`lease_id`, `lease_duration`, `renewable`) travels with them.
//!
//! A leased read (a dynamic secret such as `database/creds/app`) is kept for its lease,
//! less a margin, so that every field of it (`#username`, `#password`) comes from that one
//! lease however and whenever the fields are asked for. Reads without a lease are only
//! shared while under way; the vault caches their values.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::api::{Call, failure};
use super::connection::Connection;
use super::mounts::{Engine, Mount};
use super::{error, lease_margin};
use crate::provider::field::{FieldKey, field_names, select, text_of, wipe};
use crate::provider::{ProviderError, ProviderErrorKind, deadline};

/// What identifies one read: namespace, path, version.
pub(crate) type ReadKey = (Option<String>, String, Option<u64>);

/// The fields of one read, wiped when dropped, with its lease.
pub(crate) struct Secret {
    fields: Value,
    lease: Option<Lease>,
}

struct Lease {
    id: Zeroizing<String>,
    expires: Instant,
}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(&mut self.fields);
    }
}

impl Secret {
    /// How long values of this read may still be cached: the lease's remaining time less
    /// the margin; `None` when it has no lease.
    pub(crate) fn max_age(&self) -> Option<Duration> {
        self.lease
            .as_ref()
            .map(|lease| lease.expires.saturating_duration_since(Instant::now()))
    }

    /// The lease's id, for revocation.
    pub(crate) fn lease_id(&self) -> Option<&str> {
        self.lease.as_ref().map(|l| l.id.as_str())
    }

    /// The field `key` asks for; without a key, the one field there is.
    pub(crate) fn pick(&self, key: Option<&FieldKey>) -> Result<SecretString, ProviderError> {
        match key {
            Some(key) => select(super::PROVIDER_ID, &self.fields, key),
            None => {
                let names = field_names(&self.fields);
                match (self.fields.as_object(), names.as_slice()) {
                    (Some(object), [one]) => match object.get(one) {
                        Some(value) if !value.is_null() => Ok(text_of(value)),
                        _ => Err(error(
                            ProviderErrorKind::NotFound,
                            format!("the secret's one field `{one}` is empty (null)"),
                        )),
                    },
                    (_, []) => Err(error(
                        ProviderErrorKind::NotFound,
                        "the secret has no fields".to_owned(),
                    )),
                    (_, many) => Err(error(
                        ProviderErrorKind::Ambiguous,
                        format!(
                            "the secret has {} fields ({}): pick one with `#KEY`",
                            many.len(),
                            many.join(", ")
                        ),
                    )
                    .with_candidates(many.to_vec())),
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct ReadReply {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    lease_id: String,
    #[serde(default)]
    lease_duration: u64,
}

impl Connection {
    /// The secret `key` names: shared while under way, kept for its lease when it has one.
    pub(crate) async fn read(self: &Arc<Self>, key: ReadKey) -> Result<Arc<Secret>, ProviderError> {
        let this = Arc::clone(self);
        let read_key = key.clone();
        self.reads
            .get_leased(key, move || {
                async move {
                    let secret = Arc::new(this.read_now(&read_key).await?);
                    if let Some(id) = secret.lease_id() {
                        this.note_lease(&read_key.0, id);
                    }
                    // Unleased reads are not kept here: the vault caches their values.
                    let keep = secret.max_age().unwrap_or(Duration::ZERO);
                    Ok((secret, Some(keep)))
                }
                .boxed()
            })
            .await
            .map_err(|e| e.duplicate())
    }

    async fn read_now(self: &Arc<Self>, key: &ReadKey) -> Result<Secret, ProviderError> {
        let (namespace, path, version) = key;
        let mount = self.mount_for(namespace, path).await?;
        let (api_path, kv2) = match mount.engine {
            Engine::KvV2 => {
                let rest = path
                    .strip_prefix(mount.path.as_str())
                    .filter(|rest| !rest.is_empty())
                    .ok_or_else(|| {
                        error(
                            ProviderErrorKind::NotFound,
                            format!(
                                "`{path}` names the mount {} itself, not a secret in it",
                                mount.describe()
                            ),
                        )
                    })?;
                (format!("{}data/{rest}", mount.path), true)
            }
            _ if version.is_some() => {
                return Err(error(
                    ProviderErrorKind::Unsupported,
                    format!(
                        "`version` applies to KV version 2 secrets, and `{path}` is under {}",
                        mount.describe()
                    ),
                ));
            }
            _ => (path.clone(), false),
        };
        let mut call = Call::get(&api_path, namespace.as_deref());
        call.version = *version;
        let what = format!("reading `{path}`");
        let reply = self.authorized(&call, &what).await?;
        if reply.status.as_u16() == 404 {
            return Err(not_found(&reply, path, *version, &mount, kv2));
        }
        if !reply.is_success() {
            let mut e = failure(&reply, &what, &[]);
            // The database and other engines answer 400 `unknown role` for a role that
            // does not exist.
            if reply.status.as_u16() == 400 && e.message().contains("unknown role") {
                e = error(ProviderErrorKind::NotFound, e.message().to_owned());
            }
            return Err(e);
        }
        let parsed: ReadReply = reply.json(super::PROVIDER_ID, "the secret")?;
        let mut data = parsed.data.unwrap_or(Value::Null);
        let fields = if kv2 {
            match data.get_mut("data").map(Value::take) {
                Some(fields @ Value::Object(_)) => fields,
                _ => {
                    let e = kv2_gone(&data, path, *version);
                    wipe(&mut data);
                    return Err(e);
                }
            }
        } else {
            std::mem::take(&mut data)
        };
        wipe(&mut data);
        if !fields.is_object() {
            return Err(error(
                ProviderErrorKind::NotFound,
                format!("`{path}` holds no data"),
            ));
        }
        let lease = (!parsed.lease_id.is_empty() && parsed.lease_duration > 0).then(|| {
            let duration = Duration::from_secs(parsed.lease_duration);
            Lease {
                id: Zeroizing::new(parsed.lease_id.clone()),
                expires: deadline::from_now(duration.saturating_sub(lease_margin(duration))),
            }
        });
        let mut lease_id = parsed.lease_id;
        zeroize::Zeroize::zeroize(&mut lease_id);
        tracing::debug!(
            path = path.as_str(),
            leased = lease.is_some(),
            "read a Vault secret"
        );
        Ok(Secret { fields, lease })
    }
}

/// A 404: a KV v2 version that was deleted or destroyed says so (Vault answers those with
/// 404 and the version's metadata), anything else is simply not there.
fn not_found(
    reply: &crate::provider::http::Reply,
    path: &str,
    version: Option<u64>,
    mount: &Mount,
    kv2: bool,
) -> ProviderError {
    if kv2 && let Ok(mut body) = serde_json::from_slice::<Value>(&reply.body) {
        let data = body.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        wipe(&mut body);
        if data.get("metadata").is_some() {
            return kv2_gone(&data, path, version);
        }
    }
    let at = match version {
        Some(n) => format!("version {n} of `{path}`"),
        None => format!("`{path}`"),
    };
    failure(
        reply,
        &format!("reading {at}: no secret there (mount {})", mount.describe()),
        &[],
    )
}

/// The error for a KV v2 version whose data is gone, from its `metadata`.
fn kv2_gone(data: &Value, path: &str, asked: Option<u64>) -> ProviderError {
    let metadata = data.get("metadata").unwrap_or(&Value::Null);
    let version = metadata
        .get("version")
        .and_then(Value::as_u64)
        .or(asked)
        .map(|n| format!("version {n} of "))
        .unwrap_or_default();
    let destroyed = metadata.get("destroyed").and_then(Value::as_bool) == Some(true);
    let deleted = metadata
        .get("deletion_time")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let message = match (destroyed, deleted) {
        (true, _) => format!("{version}`{path}` was destroyed"),
        (false, Some(time)) => {
            format!("{version}`{path}` was deleted at {time} (it can be undeleted)")
        }
        (false, None) => format!("{version}`{path}` holds no data"),
    };
    error(ProviderErrorKind::NotFound, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn secret(fields: Value) -> Secret {
        Secret {
            fields,
            lease: None,
        }
    }

    #[test]
    fn one_field_without_a_key_and_names_otherwise() {
        let one = secret(json!({"password": "p"}));
        assert_eq!(one.pick(None).unwrap().expose_secret(), "p");
        let two = secret(json!({"username": "u", "password": "hunter2"}));
        let err = two.pick(None).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Ambiguous);
        assert!(err.message().contains("password, username"));
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        let key = FieldKey::Member("username".into());
        assert_eq!(two.pick(Some(&key)).unwrap().expose_secret(), "u");
        assert_eq!(
            secret(json!({})).pick(None).unwrap_err().kind(),
            ProviderErrorKind::NotFound
        );
    }

    #[test]
    fn deleted_and_destroyed_versions_say_so() {
        let deleted = json!({"data": null, "metadata": {"deletion_time": "2024-05-01T10:00:00Z", "destroyed": false, "version": 2}});
        let e = kv2_gone(&deleted, "secret/app", None);
        assert_eq!(e.kind(), ProviderErrorKind::NotFound);
        assert!(
            e.message()
                .contains("version 2 of `secret/app` was deleted at 2024-05-01T10:00:00Z")
        );
        let destroyed = json!({"data": null, "metadata": {"deletion_time": "", "destroyed": true, "version": 1}});
        assert!(
            kv2_gone(&destroyed, "secret/app", Some(1))
                .message()
                .contains("was destroyed")
        );
    }
}
