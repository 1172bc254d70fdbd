//! One provider's connection to Vault: batch planning over the mount table and the reads,
//! following the vault's TTL, and lease revocation on `clear_cache`.
//!
//! A batch reads each distinct namespace + path + version once, all at once (up to the
//! provider's concurrency): each read starts as soon as its mount is known, from the
//! builder's declarations, from an earlier look-up, or from a look-up shared by every path
//! of the batch with the same first segment. A cold batch in one mount is so two round
//! trips (the look-up, then the reads), and one when the mount is declared or known.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::api::Call;
use super::client::Client;
use super::error::{PROVIDER_ID, error, failure};
use super::mounts::{Mount, Mounts};
use super::read::{LeaseId, ReadKey, Reads, Secret};
use super::reference::VaultReference;
use super::wire::{Revoke, json_body};
use crate::provider::batch::{Slots, distinct};
use crate::provider::{ProviderError, ProviderErrorKind, Resolved};

/// What a connection is built with besides its client.
pub(crate) struct Settings {
    /// How long mounts and leased reads are kept.
    pub(crate) cache_ttl: Duration,
    /// Whether the cache TTL was set on the builder (then the vault's does not replace it).
    pub(crate) ttl_explicit: bool,
    pub(crate) revoke_on_clear: bool,
    /// Mounts declared on the builder, in the provider's namespace.
    pub(crate) declared: Vec<Mount>,
}

pub(crate) struct Connection {
    client: Arc<Client>,
    mounts: Arc<Mounts>,
    reads: Arc<Reads>,
    ttl_explicit: bool,
}

impl Connection {
    pub(crate) fn new(client: Client, settings: Settings) -> Self {
        let client = Arc::new(client);
        Connection {
            mounts: Arc::new(Mounts::new(
                Arc::clone(&client),
                settings.cache_ttl,
                settings.declared,
            )),
            reads: Arc::new(Reads::new(
                Arc::clone(&client),
                settings.cache_ttl,
                settings.revoke_on_clear,
            )),
            client,
            ttl_explicit: settings.ttl_explicit,
        }
    }

    /// The client, for what it says of itself.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Follows the vault's TTL unless the builder set one.
    pub(crate) fn attach(&self, ttl: Duration) {
        if !self.ttl_explicit {
            self.mounts.set_ttl(ttl);
            self.reads.set_ttl(ttl);
        }
    }

    /// Resolves a batch, one result per reference, in order.
    pub(crate) async fn resolve_all(
        &self,
        references: &[&str],
    ) -> Vec<Result<Resolved, ProviderError>> {
        let parsed: Vec<Result<VaultReference, ProviderError>> = references
            .iter()
            .map(|r| VaultReference::parse(r))
            .collect();
        let (keys, positions) = distinct(parsed.iter().flatten().map(|r| self.key_of(r)));
        let reads = join_all(keys.iter().map(|key| self.fetch(key))).await;

        let mut results = Slots::new(references.len());
        let mut position = positions.into_iter();
        for (index, reference) in parsed.iter().enumerate() {
            let outcome = match reference {
                Err(e) => Err(e.duplicate()),
                Ok(reference) => match position.next().and_then(|at| reads.get(at)) {
                    Some(Ok(secret)) => resolved(secret, reference),
                    Some(Err(e)) => Err(e.duplicate()),
                    None => Err(error(ProviderErrorKind::Protocol, "no result".to_owned())),
                },
            };
            results.set(
                index,
                outcome.map_err(|e| e.with_reference(references[index])),
            );
        }
        results.finish_or_missing(PROVIDER_ID, references)
    }

    /// What `reference` reads: its namespace (or the provider's), path and version.
    fn key_of(&self, reference: &VaultReference) -> ReadKey {
        let namespace = reference
            .namespace
            .clone()
            .or_else(|| self.client.api().namespace().map(str::to_owned));
        (namespace, reference.path.clone(), reference.version)
    }

    /// One read: its mount (known, or looked up with the batch's other paths that share a
    /// first segment), then the read, under one deadline of the retry policy.
    async fn fetch(&self, key: &ReadKey) -> Result<Arc<Secret>, ProviderError> {
        let work = async {
            let mount = self.mounts.mount_for(&key.0, &key.1).await?;
            self.reads.read(key, mount).await
        };
        self.client.api().bounded(work).await
    }

    /// Forgets mounts looked up and leased reads (the token is kept: it is no fetched
    /// value); revokes the leases obtained when the builder asked for it (in the background,
    /// on the current tokio runtime).
    pub(crate) fn clear_cache(&self) {
        self.mounts.clear();
        self.reads.clear();
        let leases = self.reads.take_leases();
        if leases.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let client = Arc::clone(&self.client);
                runtime.spawn(async move { revoke(&client, leases).await });
            }
            Err(_) => tracing::warn!(
                count = leases.len(),
                "cannot revoke Vault leases outside a tokio runtime; they expire on their own"
            ),
        }
    }
}

/// The value `reference` picks out of `secret`, cached no longer than its lease.
fn resolved(secret: &Secret, reference: &VaultReference) -> Result<Resolved, ProviderError> {
    secret
        .pick(reference.key.as_ref())
        .map(|value| match secret.max_age() {
            Some(age) => Resolved::new(value).with_max_age(age),
            None => Resolved::new(value),
        })
}

/// `PUT sys/leases/revoke` for each lease, one after the other.
async fn revoke(client: &Client, leases: Vec<LeaseId>) {
    let mut revoked = 0usize;
    for (namespace, id) in &leases {
        let body = json_body(&Revoke { lease_id: id }, id.len());
        let mut call = Call::post("sys/leases/revoke", namespace.as_deref(), body);
        call.method = reqwest::Method::PUT;
        match client.authorized(&call, "revoking a lease").await {
            Ok(reply) if reply.is_success() => revoked += 1,
            Ok(reply) => {
                // The lease id is no credential, but it is not Vault's to repeat either.
                let e = failure(&reply, "revoking a lease")
                    .map_message(|message| message.replace(id.as_str(), "[lease]"));
                tracing::warn!(error = %e, "could not revoke a Vault lease");
            }
            Err(e) => tracing::warn!(error = %e, "could not revoke a Vault lease"),
        }
    }
    tracing::debug!(revoked, of = leases.len(), "revoked Vault leases");
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("provider", &PROVIDER_ID)
            .field("addr", &self.client.api().addr())
            .finish_non_exhaustive()
    }
}
