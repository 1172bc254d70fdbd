//! The vault when fetching goes wrong: huge TTLs, panicking and failing fetches, abandoned
//! resolves, and serving stale values on transient errors.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::MapProvider;
use request_vault::{ErrorKind, ExposeSecret, ProviderErrorKind, Vault};

fn value(secret: &request_vault::SecretString) -> &str {
    secret.expose_secret()
}

/// A provider whose answer the test sets: a value, an error kind, or a panic.
#[derive(Debug, Clone, Default)]
struct Scripted {
    answer: Arc<std::sync::Mutex<Answer>>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Debug, Clone, Default)]
enum Answer {
    #[default]
    Panic,
    Value(&'static str),
    Fail(ProviderErrorKind),
}

impl Scripted {
    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[request_vault::async_trait]
impl request_vault::ExternalProvider for Scripted {
    fn id(&self) -> &str {
        "scripted"
    }

    fn scheme(&self) -> &str {
        "scripted"
    }

    fn check_reference(&self, _: &str) -> Result<(), request_vault::ProviderError> {
        Ok(())
    }

    async fn resolve(
        &self,
        reference: &str,
    ) -> Result<request_vault::SecretString, request_vault::ProviderError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let answer = self.answer.lock().unwrap().clone();
        match answer {
            Answer::Panic => panic!("the scripted provider panics, as asked"),
            Answer::Value(value) => Ok(value.into()),
            Answer::Fail(kind) => {
                Err(
                    request_vault::ProviderError::new("scripted", kind, "scripted failure")
                        .with_reference(reference),
                )
            }
        }
    }
}

fn scripted_vault(builder: request_vault::VaultBuilder) -> (Vault, Scripted) {
    let vault = builder.build();
    let provider = Scripted::default();
    vault.add_provider(provider.clone());
    vault.link("db", "scripted://db").unwrap();
    (vault, provider)
}

#[tokio::test]
async fn a_maximal_ttl_neither_panics_nor_poisons_the_secret() {
    let (vault, provider) = scripted_vault(Vault::builder().cache_ttl(Duration::MAX));
    provider.answer(Answer::Value("v"));
    for _ in 0..3 {
        assert_eq!(value(&vault.resolve("db").await.unwrap()), "v");
    }
    assert_eq!(provider.calls(), 1, "kept until cleared");
    assert!(vault.describe("db").unwrap().cached_until.is_some());
    let all = vault.resolve_all(["db"]).await.unwrap();
    assert_eq!(value(&all["db"]), "v");
}

#[tokio::test]
async fn a_panicking_fetch_leaves_no_broken_slot() {
    let (vault, provider) = scripted_vault(Vault::builder());
    let err = vault.resolve("db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider);
    assert_eq!(
        err.provider_error().map(|e| e.kind()),
        Some(ProviderErrorKind::Protocol)
    );
    provider.answer(Answer::Value("v"));
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "v");
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn a_failed_fetch_leaves_no_broken_slot() {
    let (vault, provider) = scripted_vault(Vault::builder());
    provider.answer(Answer::Fail(ProviderErrorKind::Unavailable));
    assert!(vault.resolve_all(["db"]).await.is_err());
    provider.answer(Answer::Value("v"));
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "v");
}

/// Callers that give up on slow secrets free their provider permits: after dropping twice
/// the concurrency limit of resolves, an unrelated secret completes within its own latency.
#[tokio::test(start_paused = true)]
async fn abandoned_resolves_never_hold_a_provider_permit() {
    const CONCURRENCY: usize = 8;
    let vault = Vault::builder().provider_concurrency(CONCURRENCY).build();
    let slow = MapProvider::new("slow", "slow").with_delay(Duration::from_secs(3600));
    let fast_latency = Duration::from_millis(20);
    let fast = MapProvider::new("fast", "fast").with_delay(fast_latency);
    vault.add_provider(slow.clone());
    vault.add_provider(fast.clone());
    for i in 0..2 * CONCURRENCY {
        let name = format!("slow-{i}");
        vault.link(&name, &slow.insert(&name, "s")).unwrap();
    }
    vault.link("fast", &fast.insert("fast", "f")).unwrap();

    for i in 0..2 * CONCURRENCY {
        let name = format!("slow-{i}");
        let abandoned = tokio::time::timeout(Duration::from_millis(5), vault.resolve(&name));
        assert!(
            abandoned.await.is_err(),
            "the slow secret is still fetching"
        );
    }
    assert_eq!(
        slow.resolves(),
        2 * CONCURRENCY,
        "each abandoned fetch gave its permit to the next"
    );

    let started = tokio::time::Instant::now();
    let resolved = tokio::time::timeout(Duration::from_secs(60), vault.resolve("fast")).await;
    assert_eq!(value(&resolved.expect("not blocked").unwrap()), "f");
    assert_eq!(started.elapsed(), fast_latency, "no wait for a permit");

    let again = tokio::time::timeout(Duration::from_secs(7200), vault.resolve("slow-0")).await;
    assert_eq!(value(&again.expect("a new fetch").unwrap()), "s");
}

#[tokio::test(start_paused = true)]
async fn stale_values_are_off_by_default() {
    let (vault, provider) = scripted_vault(Vault::builder().cache_ttl(Duration::from_secs(60)));
    provider.answer(Answer::Value("v"));
    vault.resolve("db").await.unwrap();
    tokio::time::advance(Duration::from_secs(61)).await;
    provider.answer(Answer::Fail(ProviderErrorKind::Timeout));
    let err = vault.resolve("db").await.unwrap_err();
    assert_eq!(
        err.provider_error().map(|e| e.kind()),
        Some(ProviderErrorKind::Timeout)
    );
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_serves_the_last_value_on_transient_failures() {
    let builder = Vault::builder()
        .cache_ttl(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(600));
    let (vault, provider) = scripted_vault(builder);
    provider.answer(Answer::Value("v1"));
    vault.resolve("db").await.unwrap();
    assert!(vault.describe("db").unwrap().stale.is_none());

    tokio::time::advance(Duration::from_secs(61)).await;
    for kind in [
        ProviderErrorKind::Timeout,
        ProviderErrorKind::Unavailable,
        ProviderErrorKind::RateLimited,
    ] {
        provider.answer(Answer::Fail(kind));
        assert_eq!(value(&vault.resolve("db").await.unwrap()), "v1");
        let info = vault.describe("db").unwrap();
        let stale = info.stale.clone().expect("described as stale");
        assert_eq!(stale.kind, kind);
        assert!(
            stale.reason.contains("scripted failure"),
            "{}",
            stale.reason
        );
        assert!(info.to_string().contains("stale"), "{info}");
    }
    let values = vault.resolve_all(["db"]).await.unwrap();
    assert_eq!(value(&values["db"]), "v1", "batches serve it too");

    provider.answer(Answer::Value("v2"));
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "v2");
    assert!(vault.describe("db").unwrap().stale.is_none(), "fresh again");
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_never_hides_refusals_or_missing_secrets() {
    for kind in [
        ProviderErrorKind::Unauthorized,
        ProviderErrorKind::Forbidden,
        ProviderErrorKind::NotFound,
    ] {
        let builder = Vault::builder()
            .cache_ttl(Duration::from_secs(60))
            .stale_if_error(Duration::from_secs(600));
        let (vault, provider) = scripted_vault(builder);
        provider.answer(Answer::Value("v"));
        vault.resolve("db").await.unwrap();
        tokio::time::advance(Duration::from_secs(61)).await;
        provider.answer(Answer::Fail(kind));
        let err = vault.resolve("db").await.unwrap_err();
        assert_eq!(err.provider_error().map(|e| e.kind()), Some(kind));
        provider.answer(Answer::Fail(ProviderErrorKind::Timeout));
        let err = vault.resolve("db").await.unwrap_err();
        assert_eq!(
            err.provider_error().map(|e| e.kind()),
            Some(ProviderErrorKind::Timeout),
            "the value was dropped after {kind:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_stops_at_the_maximum_staleness() {
    let builder = Vault::builder()
        .cache_ttl(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(120));
    let (vault, provider) = scripted_vault(builder);
    provider.answer(Answer::Value("v"));
    vault.resolve("db").await.unwrap();
    provider.answer(Answer::Fail(ProviderErrorKind::Timeout));
    tokio::time::advance(Duration::from_secs(150)).await;
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "v");
    tokio::time::advance(Duration::from_secs(31)).await;
    let err = vault.resolve("db").await.unwrap_err();
    assert_eq!(
        err.provider_error().map(|e| e.kind()),
        Some(ProviderErrorKind::Timeout)
    );
    assert!(vault.describe("db").unwrap().stale.is_none());
}
