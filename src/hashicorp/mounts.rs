//! Which secrets engine serves a path. Mounts declared on the builder
//! ([`KvVersion`], [`HashiCorpVaultBuilder::mount`](super::HashiCorpVaultBuilder::mount)) are
//! known from the start; any other is found as the `vault` CLI finds it:
//! `GET /v1/sys/internal/ui/mounts/PATH` answers the mount's path and type, and for KV its
//! version (`options.version`). A server that does not know that endpoint (404, Vault before
//! 0.10) gets the CLI's answer: KV version 1, the path read as is.
//!
//! Mounts looked up are kept per namespace for the provider's cache TTL, so that every path
//! under a known mount is read without asking again; concurrent look-ups of paths that
//! share a first segment share one request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::api::Call;
use super::client::Client;
use super::error::{PROVIDER_ID, error, failure};
use super::wire::{MountData, MountReply};
use crate::provider::memo::{Memo, expiry};
use crate::provider::{ProviderError, ProviderErrorKind};

/// The version of a KV secrets engine, for a mount declared on the builder.
///
/// ```
/// use request_vault::HashiCorpVault;
/// use request_vault::hashicorp::KvVersion;
///
/// let provider = HashiCorpVault::builder("https://vault.example.com:8200")
///     .mount("secret", KvVersion::V2)
///     .mount("legacy", KvVersion::V1)
///     .token("hvs.example")?;
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KvVersion {
    /// KV version 1: secrets read at `MOUNT/PATH`, no versions. Any other engine whose
    /// paths are read as they are (`database/creds/ROLE`) may be declared as this too.
    V1,
    /// KV version 2: secrets read at `MOUNT/data/PATH`, `?version=N` picks a version.
    V2,
}

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
    /// A declared mount at `path` (without leading or trailing `/`).
    pub(crate) fn declared(path: &str, version: KvVersion) -> Self {
        Mount {
            path: format!("{path}/"),
            engine: match version {
                KvVersion::V1 => Engine::KvV1,
                KvVersion::V2 => Engine::KvV2,
            },
        }
    }

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

/// Mounts found in each namespace, with when each is forgotten.
type Known = HashMap<Namespace, Vec<(Arc<Mount>, Instant)>>;

/// The mount table: mounts declared and found, and look-ups under way.
pub(crate) struct Mounts {
    client: Arc<Client>,
    /// The declared mounts, in the provider's namespace.
    declared: Vec<Arc<Mount>>,
    known: Mutex<Known>,
    probes: Arc<Memo<(Namespace, String), Arc<Mount>>>,
    ttl: Mutex<Duration>,
}

impl Mounts {
    /// A mount table for `client` that keeps mounts found for `ttl` and knows `declared`
    /// ones in the provider's namespace for good.
    pub(crate) fn new(client: Arc<Client>, ttl: Duration, declared: Vec<Mount>) -> Self {
        Mounts {
            client,
            declared: declared.into_iter().map(Arc::new).collect(),
            known: Mutex::new(HashMap::new()),
            probes: Memo::new(Duration::ZERO),
            ttl: Mutex::new(ttl),
        }
    }

    pub(crate) fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock().unwrap_or_else(|p| p.into_inner()) = ttl;
    }

    /// Forgets the mounts found (declared ones stay: they are configuration).
    pub(crate) fn clear(&self) {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.probes.clear();
    }

    /// The deepest mount known to serve `path` in `namespace`, if any.
    pub(crate) fn known(&self, namespace: &Namespace, path: &str) -> Option<Arc<Mount>> {
        let declared = (namespace.as_deref() == self.client.api().namespace())
            .then_some(self.declared.iter())
            .into_iter()
            .flatten();
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let found = known.get_mut(namespace).map(|mounts| {
            mounts.retain(|(_, expires)| *expires > now);
            mounts.iter().map(|(mount, _)| mount)
        });
        declared
            .chain(found.into_iter().flatten())
            .filter(|mount| under(path, &mount.path))
            .max_by_key(|mount| mount.path.len())
            .map(Arc::clone)
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

    /// The mount serving `path` in `namespace`: known, or looked up now.
    ///
    /// # Errors
    ///
    /// The look-up's: Vault refusing it (403 for a mount that does not exist or is out of
    /// the token's policies), transport failures, an answer that is not a mount over
    /// `path`.
    pub(crate) async fn mount_for(
        self: &Arc<Self>,
        namespace: &Namespace,
        path: &str,
    ) -> Result<Arc<Mount>, ProviderError> {
        if let Some(mount) = self.known(namespace, path) {
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
            return Ok(mount);
        }
        let answered = self.client.api().scrubber().scrub(&mount.path);
        Err(error(
            ProviderErrorKind::Protocol,
            format!("Vault answered mount `{answered}` for path `{path}`, which is not under it"),
        ))
    }

    /// The look-up of `path`, shared by every concurrent caller with the same `key`.
    async fn probe(
        self: &Arc<Self>,
        namespace: &Namespace,
        key: String,
        path: &str,
    ) -> Result<Arc<Mount>, ProviderError> {
        let this = Arc::clone(self);
        let ns = namespace.clone();
        let path = path.to_owned();
        self.probes
            .get((namespace.clone(), key), move || {
                async move {
                    let mount = Arc::new(this.look_up(ns.as_deref(), &path).await?);
                    this.remember(&ns, &mount);
                    Ok(mount)
                }
                .boxed()
            })
            .await
            .map_err(|e| e.duplicate())
    }

    async fn look_up(&self, namespace: Option<&str>, path: &str) -> Result<Mount, ProviderError> {
        let probe = format!("sys/internal/ui/mounts/{path}");
        let what = format!("the mount look-up for `{path}`");
        let reply = self
            .client
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
            return Err(failure(&reply, &what));
        }
        let parsed: MountReply = reply.json(PROVIDER_ID, "the mount description")?;
        let data = parsed.data.ok_or_else(|| {
            error(
                ProviderErrorKind::Protocol,
                format!("{what} answered no mount"),
            )
        })?;
        Ok(mount_of(&data, path))
    }
}

/// Whether `path` lies under the mount path `mount` (which ends with `/`).
fn under(path: &str, mount: &str) -> bool {
    path.starts_with(mount) || path == mount.trim_end_matches('/')
}

fn mount_of(data: &MountData, path: &str) -> Mount {
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
    let engine = match data.kind.as_str() {
        "kv" | "generic" if data.version().as_deref() == Some("2") => Engine::KvV2,
        "kv" | "generic" | "" => Engine::KvV1,
        other => Engine::Other(engine_name(other)),
    };
    Mount {
        path: mount_path,
        engine,
    }
}

/// An engine type as messages may show it: Vault's names are short and plain
/// (`database`, `aws`, `pki`); anything else is not repeated.
fn engine_name(kind: &str) -> String {
    let plain = kind.len() <= 40
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain {
        kind.to_owned()
    } else {
        "an engine of another type".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn data(value: Value) -> MountData {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn engines_and_versions() {
        let m = mount_of(
            &data(json!({"path": "secret/", "type": "kv", "options": {"version": "2"}})),
            "secret/app",
        );
        assert_eq!((m.path.as_str(), &m.engine), ("secret/", &Engine::KvV2));
        let m = mount_of(
            &data(json!({"path": "kv1/", "type": "kv", "options": null})),
            "kv1/app",
        );
        assert_eq!(m.engine, Engine::KvV1);
        let m = mount_of(
            &data(json!({"path": "database/", "type": "database"})),
            "database/creds/app",
        );
        assert_eq!(m.engine, Engine::Other("database".into()));
        let m = mount_of(
            &data(json!({"path": "secret/", "type": "kv", "options": {"version": "2"}})),
            "team/secret/app",
        );
        assert_eq!(m.path, "team/secret/");
        let m = mount_of(
            &data(json!({"path": "x/", "type": "Authorization: Bearer hvs.x"})),
            "x/app",
        );
        assert_eq!(m.engine, Engine::Other("an engine of another type".into()));
    }

    #[test]
    fn paths_under_mounts() {
        assert!(under("secret/app", "secret/"));
        assert!(!under("secrets/app", "secret/"));
        assert!(under("a/b/c", "a/b/"));
    }

    #[test]
    fn declared_mounts() {
        assert_eq!(
            Mount::declared("team/secret", KvVersion::V2),
            Mount {
                path: "team/secret/".into(),
                engine: Engine::KvV2
            }
        );
        assert_eq!(Mount::declared("kv", KvVersion::V1).engine, Engine::KvV1);
    }
}
