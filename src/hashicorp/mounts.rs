//! Which secrets engine serves a path, found as the `vault` CLI finds it:
//! `GET /v1/sys/internal/ui/mounts/PATH` answers the mount's path and type, and for KV its
//! version (`options.version`). A server that does not know that endpoint (404, Vault before
//! 0.10) gets the CLI's answer: KV version 1, the path read as is.
//!
//! Mounts are kept per namespace for the provider's cache TTL, so that every path under a
//! known mount is read without asking again; concurrent look-ups of paths that share a first
//! segment share one request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::api::{Call, failure};
use super::connection::Connection;
use super::error;
use crate::provider::memo::{Memo, expiry};
use crate::provider::{ProviderError, ProviderErrorKind};

/// The engine behind a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Engine {
    KvV1,
    KvV2,
    /// Any other engine (database, aws, pki, …): read as a logical path.
    Other(String),
}

/// A mount: its path (with a trailing `/`, inside its namespace) and engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub(crate) path: String,
    pub(crate) engine: Engine,
}

impl Mount {
    /// The engine's name for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.engine {
            Engine::KvV1 => format!("`{}` (KV version 1)", self.path),
            Engine::KvV2 => format!("`{}` (KV version 2)", self.path),
            Engine::Other(kind) => format!("`{}` ({kind})", self.path),
        }
    }
}

type Namespace = Option<String>;

/// Mounts known in each namespace, with when each is forgotten.
type Known = HashMap<Namespace, Vec<(Arc<Mount>, Instant)>>;

/// The mount table: known mounts per namespace, and look-ups under way.
pub(crate) struct Mounts {
    known: Mutex<Known>,
    probes: Arc<Memo<(Namespace, String), Arc<Mount>>>,
    ttl: Mutex<Duration>,
}

impl Mounts {
    pub(crate) fn new(ttl: Duration) -> Self {
        Mounts {
            known: Mutex::new(HashMap::new()),
            probes: Memo::new(Duration::ZERO),
            ttl: Mutex::new(ttl),
        }
    }

    pub(crate) fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock().unwrap_or_else(|p| p.into_inner()) = ttl;
    }

    pub(crate) fn clear(&self) {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.probes.clear();
    }

    fn known(&self, namespace: &Namespace, path: &str) -> Option<Arc<Mount>> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let mounts = known.get_mut(namespace)?;
        let now = Instant::now();
        mounts.retain(|(_, expires)| *expires > now);
        mounts
            .iter()
            .filter(|(mount, _)| under(path, &mount.path))
            .max_by_key(|(mount, _)| mount.path.len())
            .map(|(mount, _)| Arc::clone(mount))
    }

    fn remember(&self, namespace: &Namespace, mount: &Arc<Mount>) {
        let ttl = *self.ttl.lock().unwrap_or_else(|p| p.into_inner());
        if ttl.is_zero() {
            return;
        }
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let mounts = known.entry(namespace.clone()).or_default();
        mounts.retain(|(m, _)| m.path != mount.path);
        mounts.push((Arc::clone(mount), expiry(ttl)));
    }
}

/// Whether `path` lies under the mount path `mount` (which ends with `/`).
fn under(path: &str, mount: &str) -> bool {
    path.starts_with(mount) || path == mount.trim_end_matches('/')
}

#[derive(Deserialize)]
struct MountReply {
    data: Option<MountData>,
}

#[derive(Deserialize)]
struct MountData {
    #[serde(default)]
    path: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    options: Option<Value>,
}

impl Connection {
    /// The mount serving `path` in `namespace`.
    pub(crate) async fn mount_for(
        self: &Arc<Self>,
        namespace: &Namespace,
        path: &str,
    ) -> Result<Arc<Mount>, ProviderError> {
        if let Some(mount) = self.mounts.known(namespace, path) {
            return Ok(mount);
        }
        // Paths sharing a first segment most often share a mount: one look-up for them all.
        let first = path.split('/').next().unwrap_or(path).to_owned();
        let mount = self.probe(namespace, first, path).await?;
        if under(path, &mount.path) {
            return Ok(mount);
        }
        let mount = self.probe(namespace, path.to_owned(), path).await?;
        if under(path, &mount.path) {
            Ok(mount)
        } else {
            Err(error(
                ProviderErrorKind::Protocol,
                format!(
                    "Vault answered mount `{}` for path `{path}`, which is not under it",
                    mount.path
                ),
            ))
        }
    }

    async fn probe(
        self: &Arc<Self>,
        namespace: &Namespace,
        key: String,
        path: &str,
    ) -> Result<Arc<Mount>, ProviderError> {
        let this = Arc::clone(self);
        let ns = namespace.clone();
        let path = path.to_owned();
        let mount = self
            .mounts
            .probes
            .get((namespace.clone(), key), move || {
                async move {
                    let mount = Arc::new(this.look_up(ns.as_deref(), &path).await?);
                    this.mounts.remember(&ns, &mount);
                    Ok(mount)
                }
                .boxed()
            })
            .await
            .map_err(|e| e.duplicate())?;
        Ok(mount)
    }

    async fn look_up(
        self: &Arc<Self>,
        namespace: Option<&str>,
        path: &str,
    ) -> Result<Mount, ProviderError> {
        let probe = format!("sys/internal/ui/mounts/{path}");
        let what = format!("the mount look-up for `{path}`");
        let reply = self
            .authorized(&Call::get(&probe, namespace), &what)
            .await?;
        if reply.status.as_u16() == 404 {
            let first = path.split('/').next().unwrap_or(path);
            tracing::debug!(
                path,
                "no mount look-up on this server; reading paths as KV v1"
            );
            return Ok(Mount {
                path: format!("{first}/"),
                engine: Engine::KvV1,
            });
        }
        if !reply.is_success() {
            return Err(failure(&reply, &what, &[]));
        }
        let parsed: MountReply = reply.json(super::PROVIDER_ID, "the mount description")?;
        let data = parsed.data.ok_or_else(|| {
            error(
                ProviderErrorKind::Protocol,
                format!("{what} answered no mount"),
            )
        })?;
        Ok(mount_of(data, path))
    }
}

fn mount_of(data: MountData, path: &str) -> Mount {
    let mut mount_path = data.path.trim_start_matches('/').to_owned();
    if !mount_path.ends_with('/') {
        mount_path.push('/');
    }
    // A namespace written in the path itself (`team/secret/app` without a namespace header)
    // comes back as the mount's path inside the namespace: put the prefix back.
    if !under(path, &mount_path) {
        let inner = format!("/{mount_path}");
        if let Some(at) = format!("/{path}").find(&inner) {
            mount_path = format!("{}{mount_path}", &path[..at]);
        }
    }
    let version = data
        .options
        .as_ref()
        .and_then(|o| o.get("version"))
        .and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    let engine = match data.kind.as_str() {
        "kv" | "generic" if version.as_deref() == Some("2") => Engine::KvV2,
        "kv" | "generic" | "" => Engine::KvV1,
        other => Engine::Other(other.to_owned()),
    };
    Mount {
        path: mount_path,
        engine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> MountData {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn engines_and_versions() {
        let m = mount_of(
            data(json!({"path": "secret/", "type": "kv", "options": {"version": "2"}})),
            "secret/app",
        );
        assert_eq!((m.path.as_str(), &m.engine), ("secret/", &Engine::KvV2));
        let m = mount_of(
            data(json!({"path": "kv1/", "type": "kv", "options": null})),
            "kv1/app",
        );
        assert_eq!(m.engine, Engine::KvV1);
        let m = mount_of(
            data(json!({"path": "database/", "type": "database"})),
            "database/creds/app",
        );
        assert_eq!(m.engine, Engine::Other("database".into()));
        let m = mount_of(
            data(json!({"path": "secret/", "type": "kv", "options": {"version": "2"}})),
            "team/secret/app",
        );
        assert_eq!(m.path, "team/secret/");
    }

    #[test]
    fn paths_under_mounts() {
        assert!(under("secret/app", "secret/"));
        assert!(!under("secrets/app", "secret/"));
        assert!(under("a/b/c", "a/b/"));
    }
}
