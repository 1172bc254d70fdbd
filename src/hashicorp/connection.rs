//! One provider's connection to Vault: the API, the sign-in, the mount table and leased
//! reads; requests with a token (one re-login and retry on 403), batches, `check`, and lease
//! revocation on `clear_cache`.
//!
//! A batch is resolved in two phases so that each request is made once: mount look-ups for
//! the distinct first segments (then any path they do not cover), concurrently; then each
//! distinct namespace + path + version is read once, concurrently, and every reference
//! picks its field out of its read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use zeroize::Zeroizing;

use super::api::{Api, Call, failure};
use super::auth::Auth;
use super::mounts::Mounts;
use super::read::{ReadKey, Secret};
use super::reference::VaultReference;
use super::{PROVIDER_ID, error};
use crate::provider::batch::{Slots, distinct};
use crate::provider::http::Reply;
use crate::provider::memo::Memo;
use crate::provider::{ProviderError, ProviderErrorKind, Resolved};

pub(crate) struct Connection {
    pub(crate) api: Api,
    pub(crate) auth: Auth,
    pub(crate) mounts: Mounts,
    pub(crate) reads: Arc<Memo<ReadKey, Arc<Secret>>>,
    /// Leases obtained, for revocation on `clear_cache` when asked for.
    leases: Mutex<Vec<(Option<String>, Zeroizing<String>)>>,
    revoke_on_clear: bool,
    /// Whether the cache TTL was set on the builder (then the vault's does not replace it).
    ttl_explicit: bool,
}

impl Connection {
    pub(crate) fn new(
        api: Api,
        auth: Auth,
        cache_ttl: Duration,
        ttl_explicit: bool,
        revoke_on_clear: bool,
    ) -> Self {
        Connection {
            api,
            auth,
            mounts: Mounts::new(cache_ttl),
            reads: Memo::new(cache_ttl),
            leases: Mutex::new(Vec::new()),
            revoke_on_clear,
            ttl_explicit,
        }
    }

    /// Follows the vault's TTL unless the builder set one.
    pub(crate) fn attach(&self, ttl: Duration) {
        if !self.ttl_explicit {
            self.mounts.set_ttl(ttl);
            self.reads.set_ttl(ttl);
        }
    }

    /// Sends `call` with the current token. A 403 on a login's token logs in again and
    /// retries once; a 403 that remains is returned as Unauthorized or Forbidden (see
    /// `auth`). Any other status is the caller's to read.
    pub(crate) async fn authorized(
        self: &Arc<Self>,
        call: &Call<'_>,
        what: &str,
    ) -> Result<Reply, ProviderError> {
        let mut session = self.session().await?;
        let mut reply = self.api.send(call, Some(&session.token)).await?;
        if reply.status.as_u16() == 403 && self.auth.logs_in() {
            tracing::debug!(
                path = call.path,
                "Vault refused the login's token; logging in again"
            );
            self.invalidate(session.generation);
            session = self.session().await?;
            reply = self.api.send(call, Some(&session.token)).await?;
        }
        if reply.status.as_u16() == 403 {
            return Err(self.refused(&reply, &session, what).await);
        }
        Ok(reply)
    }

    /// `auth/token/lookup-self`: address, token and namespace in one request.
    pub(crate) async fn check(self: &Arc<Self>) -> Result<(), ProviderError> {
        let session = self.session().await?;
        let call = Call::get("auth/token/lookup-self", self.api.namespace());
        let reply = self.api.send(&call, Some(&session.token)).await?;
        if reply.is_success() {
            return Ok(());
        }
        let e = match reply.status.as_u16() {
            401 | 403 => super::api::failure_of_kind(
                &reply,
                ProviderErrorKind::Unauthorized,
                "the token look-up (the token is invalid, expired, or not of this namespace)",
                &[],
            ),
            _ => failure(&reply, "the token look-up", &[]),
        };
        Err(e)
    }

    /// Resolves a batch, one result per reference, in order.
    pub(crate) async fn resolve_all(
        self: &Arc<Self>,
        references: &[&str],
    ) -> Vec<Result<Resolved, ProviderError>> {
        let parsed: Vec<Result<VaultReference, ProviderError>> = references
            .iter()
            .map(|r| VaultReference::parse(r))
            .collect();
        let key_of = |r: &VaultReference| -> ReadKey {
            let namespace = r
                .namespace
                .clone()
                .or_else(|| self.api.namespace().map(str::to_owned));
            (namespace, r.path.clone(), r.version)
        };
        let (keys, positions) = distinct(parsed.iter().flatten().map(key_of));

        // Phase 1: one mount look-up per distinct first segment, then the paths left over.
        let (firsts, _) = distinct(keys.iter().map(|(ns, path, _)| {
            (
                ns.clone(),
                path.split('/').next().unwrap_or(path).to_owned(),
            )
        }));
        let leaders: Vec<&ReadKey> = firsts
            .iter()
            .filter_map(|(ns, first)| {
                keys.iter()
                    .find(|(n, p, _)| n == ns && p.split('/').next() == Some(first.as_str()))
            })
            .collect();
        join_all(leaders.iter().map(|(ns, path, _)| self.mount_for(ns, path))).await;

        // Phase 2: each distinct read once.
        let reads: Vec<Result<Arc<Secret>, ProviderError>> =
            join_all(keys.iter().map(|key| self.read(key.clone()))).await;

        let mut results = Slots::new(references.len());
        let mut position = positions.into_iter();
        for (index, reference) in parsed.iter().enumerate() {
            let outcome = match reference {
                Err(e) => Err(e.duplicate()),
                Ok(reference) => {
                    let at = position.next().unwrap_or(usize::MAX);
                    match reads.get(at) {
                        Some(Ok(secret)) => secret.pick(reference.key.as_ref()).map(|value| {
                            match secret.max_age() {
                                Some(age) => Resolved::new(value).with_max_age(age),
                                None => Resolved::new(value),
                            }
                        }),
                        Some(Err(e)) => Err(e.duplicate()),
                        None => Err(error(ProviderErrorKind::Protocol, "no result".to_owned())),
                    }
                }
            };
            results.set(
                index,
                outcome.map_err(|e| e.with_reference(references[index])),
            );
        }
        results.finish_or_missing(super::PROVIDER_ID, references)
    }

    pub(crate) fn note_lease(&self, namespace: &Option<String>, id: &str) {
        if self.revoke_on_clear {
            self.leases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((namespace.clone(), Zeroizing::new(id.to_owned())));
        }
    }

    /// Forgets mounts and leased reads (the token is kept: it is no fetched value); revokes
    /// the leases obtained when the builder asked for it (in the background, on the current
    /// tokio runtime).
    pub(crate) fn clear_cache(self: &Arc<Self>) {
        self.mounts.clear();
        self.reads.clear();
        let leases = std::mem::take(&mut *self.leases.lock().unwrap_or_else(|p| p.into_inner()));
        if !leases.is_empty() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let this = Arc::clone(self);
                    runtime.spawn(async move { this.revoke(leases).await });
                }
                Err(_) => tracing::warn!(
                    count = leases.len(),
                    "cannot revoke Vault leases outside a tokio runtime; they expire on their own"
                ),
            }
        }
    }

    async fn revoke(self: Arc<Self>, leases: Vec<(Option<String>, Zeroizing<String>)>) {
        let mut revoked = 0usize;
        for (namespace, id) in &leases {
            let body = Zeroizing::new(
                serde_json::json!({"lease_id": id.as_str()})
                    .to_string()
                    .into_bytes(),
            );
            let mut call = Call::post("sys/leases/revoke", namespace.as_deref(), body);
            call.method = reqwest::Method::PUT;
            match self.authorized(&call, "revoking a lease").await {
                Ok(reply) if reply.is_success() => revoked += 1,
                Ok(reply) => {
                    let e = failure(&reply, "revoking a lease", &[id.as_str()]);
                    tracing::warn!(error = %e, "could not revoke a Vault lease");
                }
                Err(e) => tracing::warn!(error = %e, "could not revoke a Vault lease"),
            }
        }
        tracing::debug!(revoked, of = leases.len(), "revoked Vault leases");
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("provider", &PROVIDER_ID)
            .field("addr", &self.api.addr())
            .finish_non_exhaustive()
    }
}
