//! Cache control through the public API: `refresh`, `invalidate` and `clear_cache` as
//! barriers, refresh-ahead on tokio's paused clock, and `resolve_reference`.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::scripted::{Scripted, value};
use futures_util::FutureExt;
use futures_util::future::join_all;
use request_vault::{
    ErrorKind, ExposeSecret, ExternalProvider, ProviderErrorKind, SecretString, Vault,
};

const TTL: Duration = Duration::from_secs(1);
const LATENCY: Duration = Duration::from_millis(20);

fn text(secret: &SecretString) -> &str {
    secret.expose_secret()
}

/// A vault with `provider` added and `db` linked to `s://db`.
fn vault_with(vault: Vault, provider: &Scripted) -> Vault {
    vault.add_provider(provider.clone());
    vault.link("db", "s://db").unwrap();
    vault
}

/// A warm resolve: it must complete without waiting for anything.
fn resolve_now(vault: &Vault, name: &str) -> String {
    let value = vault
        .resolve(name)
        .now_or_never()
        .expect("served without waiting")
        .expect("a value");
    text(&value).to_owned()
}

#[tokio::test(start_paused = true)]
async fn refresh_fetches_now_and_later_resolves_get_the_new_value() {
    let provider = Scripted::new("s", "s");
    let vault = vault_with(Vault::new(), &provider);
    assert_eq!(
        text(&vault.resolve("db").await.unwrap()),
        value("s", "db", 1)
    );
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 1), "cached");
    vault.refresh("db").await.unwrap();
    assert_eq!(provider.calls(), 2);
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 2));
    // A refresh of a secret never fetched fetches it.
    vault.link("other", "s://other").unwrap();
    vault.refresh("other").await.unwrap();
    assert_eq!(resolve_now(&vault, "other"), value("s", "other", 3));
}

#[tokio::test(start_paused = true)]
async fn concurrent_resolves_share_a_refresh() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = vault_with(Vault::new(), &provider);
    vault.resolve("db").await.unwrap();
    let refresh = tokio::spawn({
        let vault = vault.clone();
        async move { vault.refresh("db").await }
    });
    tokio::task::yield_now().await;
    assert_eq!(provider.calls(), 2, "the refresh is under way");
    let joined = join_all((0..10).map(|_| vault.resolve("db"))).await;
    for outcome in joined {
        assert_eq!(text(&outcome.unwrap()), value("s", "db", 2));
    }
    refresh.await.unwrap().unwrap();
    assert_eq!(
        provider.calls(),
        2,
        "one fetch for the refresh and the resolves"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_old_value_and_returns_the_error() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = vault_with(Vault::new(), &provider);
    vault.resolve("db").await.unwrap();
    provider.fail_with(Some(ProviderErrorKind::NotFound));
    let refresh = tokio::spawn({
        let vault = vault.clone();
        async move { vault.refresh("db").await }
    });
    tokio::task::yield_now().await;
    // A resolve that joins the failing refresh is served the value it leaves in place.
    assert_eq!(
        text(&vault.resolve("db").await.unwrap()),
        value("s", "db", 1)
    );
    let err = refresh.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider);
    assert_eq!(err.provider_kind(), Some(ProviderErrorKind::NotFound));
    assert_eq!(err.secret_name(), Some("db"));
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 1));
    assert_eq!(provider.calls(), 2);
    assert!(vault.describe("db").unwrap().cached_until.is_some());
}

#[tokio::test]
async fn refresh_refuses_local_unknown_and_disabled_secrets_by_name() {
    let vault = Vault::new();
    vault.set("local", "v").unwrap();
    let err = vault.refresh("local").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLinked);
    assert_eq!(err.secret_name(), Some("local"));
    assert!(err.to_string().contains("`local`"), "{err}");
    let err = vault.refresh("missing").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.secret_name(), Some("missing"));
    let provider = Scripted::new("s", "s");
    let vault = vault_with(vault, &provider);
    vault.set_enabled("db", false).unwrap();
    assert_eq!(
        vault.refresh("db").await.unwrap_err().kind(),
        ErrorKind::Disabled
    );
    assert_eq!(provider.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn invalidate_forgets_one_value() {
    let provider = Scripted::new("s", "s");
    let vault = vault_with(Vault::new(), &provider);
    vault.link("other", "s://other").unwrap();
    vault.set("local", "v").unwrap();
    vault.resolve_all(["db", "other"]).await.unwrap();
    assert!(vault.invalidate("db"));
    assert!(!vault.invalidate("db"), "nothing cached any more");
    assert!(!vault.invalidate("local"));
    assert!(!vault.invalidate("missing"));
    assert!(!vault.invalidate("not a name"));
    assert!(vault.describe("db").unwrap().last_fetched.is_none());
    assert_eq!(resolve_now(&vault, "other"), value("s", "other", 1), "kept");
    assert_eq!(
        text(&vault.resolve("db").await.unwrap()),
        value("s", "db", 2)
    );
}

/// Starts a resolve of `db` in a task and lets it reach the provider.
async fn resolve_under_way(vault: &Vault) -> tokio::task::JoinHandle<String> {
    let task = tokio::spawn({
        let vault = vault.clone();
        async move { text(&vault.resolve("db").await.unwrap()).to_owned() }
    });
    tokio::task::yield_now().await;
    task
}

#[tokio::test(start_paused = true)]
async fn invalidate_is_a_barrier_for_a_fetch_under_way() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = vault_with(Vault::new(), &provider);
    let before = resolve_under_way(&vault).await;
    assert_eq!(provider.calls(), 1);
    assert!(!vault.invalidate("db"), "no value was cached yet");
    // A resolve that starts now does not join the fetch begun before.
    assert_eq!(
        text(&vault.resolve("db").await.unwrap()),
        value("s", "db", 2)
    );
    assert_eq!(provider.calls(), 2);
    // That fetch finishes for its own caller, and is not cached.
    assert_eq!(before.await.unwrap(), value("s", "db", 1));
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 2));
}

#[tokio::test(start_paused = true)]
async fn clear_cache_is_a_barrier_for_a_fetch_under_way() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = vault_with(Vault::new(), &provider);
    let before = resolve_under_way(&vault).await;
    vault.clear_cache();
    assert_eq!(
        text(&vault.resolve("db").await.unwrap()),
        value("s", "db", 2)
    );
    assert_eq!(before.await.unwrap(), value("s", "db", 1));
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 2));
    assert_eq!(provider.calls(), 2);
}

fn refreshing(provider: &Scripted) -> Vault {
    vault_with(
        Vault::builder().cache_ttl(TTL).refresh_ahead(0.8).build(),
        provider,
    )
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_serves_at_once_and_fetches_once_in_the_background() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = refreshing(&provider);
    assert_eq!(
        text(&vault.resolve("db").await.unwrap()),
        value("s", "db", 1)
    );

    tokio::time::advance(TTL.mul_f64(0.5)).await;
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 1));
    tokio::time::sleep(LATENCY * 2).await;
    assert_eq!(provider.calls(), 1, "not due before 0.8 x TTL");

    tokio::time::advance(TTL.mul_f64(0.35)).await;
    for _ in 0..100 {
        assert_eq!(resolve_now(&vault, "db"), value("s", "db", 1));
    }
    tokio::time::sleep(LATENCY * 2).await;
    assert_eq!(provider.calls(), 2, "exactly one background fetch");
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 2));
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_keeps_every_resolve_off_the_provider_across_ttls() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = refreshing(&provider);
    vault.resolve("db").await.unwrap();
    let started = tokio::time::Instant::now();
    while started.elapsed() < TTL * 5 {
        resolve_now(&vault, "db");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let calls = provider.calls();
    assert!(
        (5..=8).contains(&calls),
        "one refetch per 0.8 TTL or so: {calls}"
    );
}

#[tokio::test(start_paused = true)]
async fn values_of_one_batch_refresh_ahead_as_one_batch() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = refreshing(&provider);
    vault.link("a", "s://a").unwrap();
    vault.link("b", "s://b").unwrap();
    vault.resolve_all(["db", "a", "b"]).await.unwrap();
    assert_eq!((provider.calls(), provider.references()), (1, 3));
    tokio::time::advance(TTL.mul_f64(0.85)).await;
    assert_eq!(resolve_now(&vault, "a"), value("s", "a", 1));
    let all = vault.resolve_all(["db", "a", "b"]).now_or_never();
    assert!(all.is_some(), "a batch is served at once too");
    tokio::time::sleep(LATENCY * 2).await;
    assert_eq!(
        (provider.calls(), provider.references()),
        (2, 6),
        "the three values were refetched by one call"
    );
    for name in ["db", "a", "b"] {
        assert_eq!(resolve_now(&vault, name), value("s", name, 2));
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_background_refresh_keeps_the_value_until_its_ttl() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = refreshing(&provider);
    vault.resolve("db").await.unwrap();
    tokio::time::advance(TTL.mul_f64(0.85)).await;
    provider.fail_with(Some(ProviderErrorKind::Unavailable));
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 1));
    tokio::time::sleep(LATENCY * 2).await;
    assert_eq!(provider.calls(), 2, "the background refetch failed");
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 1), "kept");
    tokio::time::sleep(LATENCY * 2).await;
    assert_eq!(provider.calls(), 2, "not retried ahead of time");

    // Past the TTL, the usual path: the resolve waits, and fails.
    tokio::time::advance(TTL.mul_f64(0.2)).await;
    let err = vault.resolve("db").await.unwrap_err();
    assert_eq!(err.provider_kind(), Some(ProviderErrorKind::Unavailable));
    assert_eq!(provider.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn after_a_failed_background_refresh_stale_if_error_applies_at_the_ttl() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = vault_with(
        Vault::builder()
            .cache_ttl(TTL)
            .refresh_ahead(0.8)
            .stale_if_error(Duration::from_secs(60))
            .build(),
        &provider,
    );
    vault.resolve("db").await.unwrap();
    tokio::time::advance(TTL.mul_f64(0.85)).await;
    provider.fail_with(Some(ProviderErrorKind::Timeout));
    resolve_now(&vault, "db");
    tokio::time::sleep(LATENCY * 2).await;
    assert!(
        vault.describe("db").unwrap().stale.is_none(),
        "not stale yet"
    );
    tokio::time::advance(TTL.mul_f64(0.2)).await;
    assert_eq!(
        text(&vault.resolve("db").await.unwrap()),
        value("s", "db", 1)
    );
    let stale = vault.describe("db").unwrap().stale.expect("served stale");
    assert_eq!(stale.kind, ProviderErrorKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn a_lease_shorter_than_the_ttl_refreshes_ahead_from_the_lease() {
    let lease = Duration::from_millis(100);
    let provider = Scripted::new("s", "s").with_lease(lease);
    let vault = vault_with(
        Vault::builder()
            .cache_ttl(Duration::from_secs(3600))
            .refresh_ahead(0.5)
            .build(),
        &provider,
    );
    vault.resolve("db").await.unwrap();
    let info = vault.describe("db").unwrap();
    let ahead = info
        .refreshes_at
        .unwrap()
        .duration_since(info.last_fetched.unwrap())
        .unwrap();
    assert!(
        ahead > Duration::from_millis(40) && ahead < Duration::from_millis(60),
        "half the lease, not half the TTL: {ahead:?}"
    );
    tokio::time::advance(Duration::from_millis(60)).await;
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 1));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 2));
}

#[tokio::test(start_paused = true)]
async fn the_background_refresh_holds_no_vault_and_ends_with_it() {
    let provider = Scripted::new("s", "s").with_delay(Duration::from_secs(3600));
    let shared: Arc<dyn ExternalProvider> = Arc::new(provider.clone());
    let vault = Vault::builder().cache_ttl(TTL).refresh_ahead(0.5).build();
    vault.add_shared_provider(Arc::clone(&shared));
    vault.link("db", "s://db").unwrap();
    vault.resolve("db").await.unwrap(); // an hour on the paused clock
    tokio::time::advance(TTL.mul_f64(0.6)).await;
    resolve_now(&vault, "db");
    tokio::task::yield_now().await;
    assert_eq!(provider.calls(), 2, "the background refetch is under way");
    assert_eq!(
        Arc::strong_count(&shared),
        3,
        "the vault's and the refetch's"
    );
    drop(vault);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        Arc::strong_count(&shared),
        1,
        "the refetch ended with the vault"
    );
}

#[tokio::test(start_paused = true)]
async fn invalidate_keeps_a_background_refresh_out_of_the_cache() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = refreshing(&provider);
    vault.resolve("db").await.unwrap();
    tokio::time::advance(TTL.mul_f64(0.85)).await;
    resolve_now(&vault, "db");
    tokio::task::yield_now().await;
    assert!(
        vault.invalidate("db"),
        "the value being refreshed was cached"
    );
    tokio::time::sleep(LATENCY * 2).await;
    assert!(vault.describe("db").unwrap().cached_until.is_none());
    assert_eq!(
        text(&vault.resolve("db").await.unwrap()),
        value("s", "db", 3)
    );
}

#[tokio::test(start_paused = true)]
async fn describe_tells_when_a_value_refreshes() {
    let provider = Scripted::new("s", "s");
    let vault = refreshing(&provider);
    vault.resolve("db").await.unwrap();
    let info = vault.describe("db").unwrap();
    let fetched = info.last_fetched.unwrap();
    let refreshes = info.refreshes_at.expect("refresh-ahead is on");
    let ahead = refreshes.duration_since(fetched).unwrap();
    assert!(ahead > Duration::from_millis(790) && ahead < Duration::from_millis(810));
    assert!(refreshes < info.cached_until.unwrap());
    assert!(info.to_string().contains("refreshed ahead in"), "{info}");

    let plain = vault_with(Vault::builder().cache_ttl(TTL).build(), &provider);
    plain.resolve("db").await.unwrap();
    let info = plain.describe("db").unwrap();
    assert!(info.refreshes_at.is_none() && info.last_fetched.is_some());
    assert!(info.last_fetched.unwrap() <= SystemTime::now());
}

#[test]
fn refresh_ahead_outside_zero_to_one_panics() {
    for fraction in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let built = std::panic::catch_unwind(|| Vault::builder().refresh_ahead(fraction));
        assert!(built.is_err(), "{fraction} was accepted");
    }
    let _ = Vault::builder()
        .refresh_ahead(0.5)
        .refresh_ahead(f64::EPSILON);
}

#[tokio::test(start_paused = true)]
async fn resolve_reference_shares_the_cache_and_the_fetch() {
    let provider = Scripted::new("s", "s").with_delay(LATENCY);
    let vault = vault_with(Vault::new(), &provider);
    let many = join_all((0..10).map(|_| vault.resolve_reference("s://db"))).await;
    for outcome in many {
        assert_eq!(text(&outcome.unwrap()), value("s", "db", 1));
    }
    assert_eq!(provider.calls(), 1, "one fetch for ten callers");
    // The secret linked to the same reference shares the cached value.
    assert_eq!(resolve_now(&vault, "db"), value("s", "db", 1));

    let err = vault.resolve_reference("s://").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    let err = vault.resolve_reference("no scheme").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    let err = vault.resolve_reference("other://x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoProvider);
    provider.fail_with(Some(ProviderErrorKind::Forbidden));
    let err = vault.resolve_reference("s://denied").await.unwrap_err();
    assert_eq!(err.provider_kind(), Some(ProviderErrorKind::Forbidden));
    assert_eq!(err.secret_name(), None);
}
