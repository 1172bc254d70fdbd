//! Test doubles shared by the integration tests: a provider that serves a map of values and
//! counts its calls, and a tracing capture for leak checks.

#![allow(dead_code)]

#[cfg(feature = "azure")]
pub mod azure;
pub mod connect;
#[cfg(feature = "gcp")]
pub mod gcp;
#[cfg(feature = "hashicorp")]
pub mod hashicorp;
pub mod http;
#[cfg(feature = "aws")]
pub mod moto;
#[cfg(feature = "onepassword")]
pub mod op;
pub mod scripted;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use request_vault::{
    ExposeSecret, ExternalProvider, ProviderError, ProviderErrorKind, SecretString, async_trait,
};

/// Serves `<scheme>://<key>` references from a map, counting calls.
#[derive(Clone)]
pub struct MapProvider {
    id: String,
    scheme: String,
    values: Arc<Mutex<HashMap<String, String>>>,
    delay: Duration,
    pub resolve_calls: Arc<AtomicUsize>,
    pub resolve_all_calls: Arc<AtomicUsize>,
    pub references_fetched: Arc<AtomicUsize>,
}

impl MapProvider {
    pub fn new(id: &str, scheme: &str) -> Self {
        MapProvider {
            id: id.into(),
            scheme: scheme.into(),
            values: Arc::default(),
            delay: Duration::ZERO,
            resolve_calls: Arc::default(),
            resolve_all_calls: Arc::default(),
            references_fetched: Arc::default(),
        }
    }

    /// Each fetch sleeps this long (on the tokio clock) before answering.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn insert(&self, key: &str, value: &str) -> String {
        self.values.lock().unwrap().insert(key.into(), value.into());
        format!("{}://{key}", self.scheme)
    }

    pub fn resolves(&self) -> usize {
        self.resolve_calls.load(Ordering::SeqCst)
    }

    pub fn batches(&self) -> usize {
        self.resolve_all_calls.load(Ordering::SeqCst)
    }

    pub fn fetched(&self) -> usize {
        self.references_fetched.load(Ordering::SeqCst)
    }

    fn lookup(&self, reference: &str) -> Result<SecretString, ProviderError> {
        self.references_fetched.fetch_add(1, Ordering::SeqCst);
        let key = reference
            .strip_prefix(&format!("{}://", self.scheme))
            .unwrap_or(reference);
        match self.values.lock().unwrap().get(key) {
            Some(value) => Ok(SecretString::from(value.as_str())),
            None => Err(ProviderError::new(
                self.id.clone(),
                ProviderErrorKind::NotFound,
                format!("no value under `{key}`"),
            )
            .with_reference(reference)),
        }
    }
}

// Hand-written: a provider's Debug must not show the values it holds.
impl std::fmt::Debug for MapProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapProvider")
            .field("id", &self.id)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ExternalProvider for MapProvider {
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
                self.id.clone(),
                reference,
                prefix.len().min(reference.len()),
                "expected <scheme>://<key>",
            )),
        }
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        self.resolve_calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.lookup(reference)
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        self.resolve_all_calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        references.iter().map(|r| self.lookup(r)).collect()
    }
}

/// A vault whose linked secret `token` is cached as `old-token` while its provider already
/// serves `new-token`: rotated upstream after the last fetch.
pub async fn vault_with_rotated_token() -> (request_vault::Vault, MapProvider) {
    let vault = request_vault::Vault::new();
    let provider = MapProvider::new("test", "test");
    vault.add_provider(provider.clone());
    vault
        .link("token", &provider.insert("token", "old-token"))
        .unwrap();
    vault.resolve("token").await.unwrap();
    provider.insert("token", "new-token");
    (vault, provider)
}

/// A `tracing` subscriber that writes every event, at every level, into a buffer.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Installs the capture as this thread's default subscriber until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Tests of one binary share the callsites' cached interest: one hit with no
        // subscriber about must not hide the next test's events from its capture.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `haystack` contains `needle`'s bytes anywhere.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A batch's results as values and error kinds, to compare with what a test expects.
pub fn outcomes(
    results: &[Result<SecretString, ProviderError>],
) -> Vec<Result<String, ProviderErrorKind>> {
    results
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|v| v.expose_secret().to_owned())
                .map_err(|e| e.kind())
        })
        .collect()
}
