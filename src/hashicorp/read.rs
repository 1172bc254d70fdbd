//! [`Reads`]: reading one secret under its mount. KV v2 at `MOUNT/data/REST`
//! (`?version=N`), KV v1 and every other engine at the path as is; the fields come out of
//! `data` (KV v2: `data.data`), and a lease (`lease_id`, `lease_duration`) travels with
//! them.
//!
//! A leased read (a dynamic secret such as `database/creds/app`) is kept for its lease,
//! less a margin, so that every field of it (`#username`, `#password`) comes from that one
//! lease however and whenever the fields are asked for. Reads without a lease are only
//! shared while under way; the vault caches their values. Lease IDs are noted for
//! revocation when the builder asked for it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use secrecy::SecretString;
use serde_json::Value;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::api::Call;
use super::client::Client;
use super::error::{Asked, PROVIDER_ID, error, kv2_gone, read_failure};
use super::lease;
use super::mounts::{Engine, Mount};
use super::wire::ReadReply;
use crate::provider::field::{FieldKey, field_names, select, text_of, wipe};
use crate::provider::http::Reply;
use crate::provider::memo::Memo;
use crate::provider::{ProviderError, ProviderErrorKind, deadline};

/// What identifies one read: namespace, path, version.
pub(crate) type ReadKey = (Option<String>, String, Option<u64>);

/// A lease to revoke: its namespace and id.
pub(crate) type LeaseId = (Option<String>, Zeroizing<String>);

/// The fields of one read, wiped when dropped, with its lease.
pub(crate) struct Secret {
    fields: Value,
    lease: Option<Lease>,
}

struct Lease {
    id: Zeroizing<String>,
    /// When the lease's usable time (its time less the margin) ends.
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

    /// The field `key` asks for; without a key, the one field there is.
    pub(crate) fn pick(&self, key: Option<&FieldKey>) -> Result<SecretString, ProviderError> {
        if let Some(key) = key {
            return select(PROVIDER_ID, &self.fields, key);
        }
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

/// The reads of one provider: shared while under way, leased ones kept for their lease.
pub(crate) struct Reads {
    client: Arc<Client>,
    memo: Arc<Memo<ReadKey, Arc<Secret>>>,
    /// Leases obtained, for revocation on `clear_cache` when asked for.
    leases: Mutex<Vec<LeaseId>>,
    note_leases: bool,
}

impl Reads {
    /// Reads through `client`, keeping leased ones at most `ttl`; `note_leases` keeps their
    /// ids for [`take_leases`](Self::take_leases).
    pub(crate) fn new(client: Arc<Client>, ttl: Duration, note_leases: bool) -> Self {
        Reads {
            client,
            memo: Memo::new(ttl),
            leases: Mutex::new(Vec::new()),
            note_leases,
        }
    }

    pub(crate) fn set_ttl(&self, ttl: Duration) {
        self.memo.set_ttl(ttl);
    }

    /// Forgets leased reads.
    pub(crate) fn clear(&self) {
        self.memo.clear();
    }

    /// The leases noted so far, forgotten here.
    pub(crate) fn take_leases(&self) -> Vec<LeaseId> {
        std::mem::take(&mut *self.leases.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The secret `key` names, under `mount`: shared while under way, kept for its lease
    /// when it has one.
    ///
    /// # Errors
    ///
    /// The read's: a path that names the mount itself or asks a version of an engine that
    /// has none, Vault's refusals (see `error`), transport failures, an answer without data.
    pub(crate) async fn read(
        self: &Arc<Self>,
        key: &ReadKey,
        mount: Arc<Mount>,
    ) -> Result<Arc<Secret>, ProviderError> {
        let this = Arc::clone(self);
        let read_key = key.clone();
        self.memo
            .get_leased(key.clone(), move || {
                async move {
                    let secret = Arc::new(this.read_now(&read_key, &mount).await?);
                    if let Some(lease) = &secret.lease {
                        this.note_lease(&read_key.0, &lease.id);
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

    fn note_lease(&self, namespace: &Option<String>, id: &str) {
        if self.note_leases {
            self.leases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((namespace.clone(), Zeroizing::new(id.to_owned())));
        }
    }

    async fn read_now(&self, key: &ReadKey, mount: &Mount) -> Result<Secret, ProviderError> {
        let (namespace, path, version) = key;
        let api_path = api_path(mount, path, *version)?;
        let mut call = Call::get(&api_path, namespace.as_deref());
        call.version = *version;
        let reply = self
            .client
            .authorized(&call, &format!("reading `{path}`"))
            .await?;
        let kv2 = mount.engine == Engine::KvV2;
        if !reply.is_success() {
            let described = mount.describe();
            let asked = Asked {
                path,
                version: *version,
                mount: &described,
                kv2,
            };
            return Err(read_failure(&reply, &asked));
        }
        let secret = secret_of(&reply, path, *version, kv2)?;
        tracing::debug!(
            path = path.as_str(),
            leased = secret.lease.is_some(),
            "read a Vault secret"
        );
        Ok(secret)
    }
}

/// Where `path` is read under `mount`: `MOUNT/data/REST` for KV v2, the path itself
/// otherwise.
fn api_path(mount: &Mount, path: &str, version: Option<u64>) -> Result<String, ProviderError> {
    match mount.engine {
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
            Ok(format!("{}data/{rest}", mount.path))
        }
        _ if version.is_some() => Err(error(
            ProviderErrorKind::Unsupported,
            format!(
                "`version` applies to KV version 2 secrets, and `{path}` is under {}",
                mount.describe()
            ),
        )),
        _ => Ok(path.to_owned()),
    }
}

/// The fields and lease of a successful read.
fn secret_of(
    reply: &Reply,
    path: &str,
    version: Option<u64>,
    kv2: bool,
) -> Result<Secret, ProviderError> {
    let parsed: ReadReply = reply.json(PROVIDER_ID, "the secret")?;
    let mut data = parsed.data.unwrap_or(Value::Null);
    let fields = if kv2 {
        match data.get_mut("data").map(Value::take) {
            Some(fields @ Value::Object(_)) => fields,
            _ => {
                let e = kv2_gone(reply, &data, path, version);
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
    let lease = (!parsed.lease_id.is_empty() && parsed.lease_duration > 0).then(|| Lease {
        id: parsed.lease_id,
        expires: deadline::from_now(lease::usable(Duration::from_secs(parsed.lease_duration))),
    });
    Ok(Secret { fields, lease })
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
    fn paths_under_each_engine() {
        let kv2 = Mount::declared("secret", super::super::mounts::KvVersion::V2);
        let kv1 = Mount::declared("kv", super::super::mounts::KvVersion::V1);
        assert_eq!(
            api_path(&kv2, "secret/a/b", Some(2)).unwrap(),
            "secret/data/a/b"
        );
        assert_eq!(api_path(&kv1, "kv/a", None).unwrap(), "kv/a");
        assert_eq!(
            api_path(&kv1, "kv/a", Some(1)).unwrap_err().kind(),
            ProviderErrorKind::Unsupported
        );
        assert_eq!(
            api_path(&kv2, "secret", None).unwrap_err().kind(),
            ProviderErrorKind::NotFound
        );
    }

    #[test]
    fn leases_of_any_length_and_null_kv2_data() {
        let answer = |body: Value| Reply::fake(200, &body.to_string());
        let forever = answer(
            json!({"lease_id": "db/creds/app/1", "lease_duration": u64::MAX, "data": {"u": "v"}}),
        );
        let read = secret_of(&forever, "db/creds/app", None, false).unwrap();
        assert!(read.max_age().unwrap() > Duration::from_secs(50 * 365 * 24 * 60 * 60));
        let hint = answer(json!({"lease_id": "", "lease_duration": 2764800, "data": {"u": "v"}}));
        assert!(
            secret_of(&hint, "kv/app", None, false)
                .unwrap()
                .max_age()
                .is_none()
        );
        let deleted = answer(
            json!({"data": {"data": null, "metadata": {"deletion_time": "t", "version": 3}}}),
        );
        let e = secret_of(&deleted, "secret/app", None, true).err().unwrap();
        assert!(
            e.message()
                .contains("version 3 of `secret/app` was deleted at t"),
            "{e}"
        );
    }
}
