//! A provider whose every fetch answers a new value (`v1`, `v2`, …), after a delay on the
//! tokio clock, optionally with a lease, or fails with a given kind: for the tests of the
//! cache's timing (refresh, invalidate, refresh-ahead) and of several accounts of one kind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use request_vault::{
    ExternalProvider, ProviderError, ProviderErrorKind, Resolved, SecretString, async_trait,
};

/// The id this provider writes into its own errors, whatever id it is registered under.
pub const ERROR_ID: &str = "scripted";

#[derive(Debug, Clone)]
pub struct Scripted {
    id: String,
    scheme: String,
    delay: Duration,
    lease: Option<Duration>,
    fail: Arc<Mutex<Option<ProviderErrorKind>>>,
    /// Provider calls started (one per batch).
    calls: Arc<AtomicUsize>,
    /// References asked for, over every call.
    references: Arc<AtomicUsize>,
}

impl Scripted {
    /// A provider registered as `id` for `scheme://` references.
    pub fn new(id: &str, scheme: &str) -> Self {
        Scripted {
            id: id.to_owned(),
            scheme: scheme.to_owned(),
            delay: Duration::ZERO,
            lease: None,
            fail: Arc::default(),
            calls: Arc::default(),
            references: Arc::default(),
        }
    }

    /// Each call sleeps this long on the tokio clock before answering.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Each value is leased for this long.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// From now on every reference fails with `kind` (`None`: answers again).
    pub fn fail_with(&self, kind: Option<ProviderErrorKind>) {
        *self.fail.lock().unwrap() = kind;
    }

    /// Provider calls started so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// References asked for so far.
    pub fn references(&self) -> usize {
        self.references.load(Ordering::SeqCst)
    }

    async fn answer(&self, references: &[&str]) -> Vec<Result<Resolved, ProviderError>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.references
            .fetch_add(references.len(), Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let fail = *self.fail.lock().unwrap();
        references
            .iter()
            .map(|reference| match fail {
                Some(kind) => Err(ProviderError::new(ERROR_ID, kind, "scripted failure")
                    .with_reference(*reference)),
                None => {
                    let key = reference.split_once("://").map_or(*reference, |(_, k)| k);
                    let value = Resolved::new(format!("{}/{key}/v{call}", self.id));
                    Ok(match self.lease {
                        Some(lease) => value.with_max_age(lease),
                        None => value,
                    })
                }
            })
            .collect()
    }
}

/// The value the `n`th call of provider `id` answers for `key`.
pub fn value(id: &str, key: &str, n: usize) -> String {
    format!("{id}/{key}/v{n}")
}

#[async_trait]
impl ExternalProvider for Scripted {
    fn id(&self) -> &str {
        &self.id
    }

    fn scheme(&self) -> &str {
        &self.scheme
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        let prefix = format!("{}://", self.scheme);
        match reference.strip_prefix(&prefix) {
            Some(rest) if !rest.is_empty() => Ok(()),
            _ => Err(ProviderError::invalid_reference(
                ERROR_ID,
                reference,
                0,
                "expected <scheme>://<key>",
            )),
        }
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        self.resolve_leased(reference)
            .await
            .map(Resolved::into_value)
    }

    async fn resolve_leased(&self, reference: &str) -> Result<Resolved, ProviderError> {
        let mut results = self.answer(&[reference]).await;
        results.pop().unwrap_or_else(|| {
            Err(ProviderError::new(
                ERROR_ID,
                ProviderErrorKind::Protocol,
                "no result",
            ))
        })
    }

    async fn resolve_all_leased(
        &self,
        references: &[&str],
    ) -> Vec<Result<Resolved, ProviderError>> {
        self.answer(references).await
    }
}
