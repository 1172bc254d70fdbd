//! The vault through its public API: local secrets, links, providers and the cache.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::MapProvider;
use futures_util::future::join_all;
use request_vault::{Error, ErrorKind, ExposeSecret, ProviderErrorKind, SecretKind, Vault};

fn value(secret: &request_vault::SecretString) -> &str {
    secret.expose_secret()
}

#[tokio::test]
async fn set_resolve_unset() {
    let vault = Vault::new();
    vault.set("api-key", "one").unwrap();
    assert_eq!(value(&vault.resolve("api-key").await.unwrap()), "one");
    vault.set("api-key", "two").unwrap();
    assert_eq!(value(&vault.resolve("api-key").await.unwrap()), "two");
    assert!(vault.unset("api-key").unwrap());
    assert!(!vault.unset("api-key").unwrap());
    let err = vault.resolve("api-key").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.kind().is_missing());
}

#[tokio::test]
async fn bad_names_are_refused_everywhere() {
    let vault = Vault::new();
    let bad = "no spaces";
    assert_eq!(
        vault.set(bad, "x").unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    assert_eq!(vault.unset(bad).unwrap_err().kind(), ErrorKind::InvalidName);
    assert_eq!(
        vault.resolve(bad).await.unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    assert_eq!(
        vault.describe(bad).unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    let err = vault.rename("ok", bad).unwrap_err();
    assert!(err.to_string().contains("\"no spaces\""), "{err}");
}

#[tokio::test]
async fn rename_keeps_value_and_settings() {
    let vault = Vault::new();
    vault.set("old", "v").unwrap();
    vault
        .set_allowed_domains("old", ["api.example.com"])
        .unwrap();
    vault.set("taken", "t").unwrap();
    assert_eq!(
        vault.rename("old", "taken").unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        vault.rename("missing", "x").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    vault.rename("old", "new").unwrap();
    assert_eq!(value(&vault.resolve("new").await.unwrap()), "v");
    assert_eq!(
        vault.resolve("old").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let info = vault.describe("new").unwrap();
    assert_eq!(info.allowed_domains[0].to_string(), "api.example.com");
}

#[tokio::test]
async fn disabled_secrets_are_kept_but_unresolved() {
    let vault = Vault::new();
    vault.set("k", "v").unwrap();
    vault.set_enabled("k", false).unwrap();
    let err = vault.resolve("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled);
    assert!(err.kind().is_unresolved());
    assert!(!vault.describe("k").unwrap().enabled);
    vault.set_enabled("k", true).unwrap();
    assert_eq!(value(&vault.resolve("k").await.unwrap()), "v");
    assert_eq!(
        vault.set_enabled("nope", true).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn bad_domain_patterns_change_nothing() {
    let vault = Vault::new();
    vault.set("k", "v").unwrap();
    vault.set_allowed_domains("k", ["a.example.com"]).unwrap();
    let err = vault
        .set_allowed_domains("k", ["b.example.com", "bad host"])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDomain);
    assert_eq!(vault.describe("k").unwrap().allowed_domains.len(), 1);
    vault
        .set_allowed_domains("k", Vec::<String>::new())
        .unwrap();
    assert!(vault.describe("k").unwrap().allowed_domains.is_empty());
}

#[tokio::test]
async fn linked_secrets_resolve_and_are_read_only() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    let reference = provider.insert("db", "pa55");
    vault.add_provider(provider.clone());
    vault.link("db", &reference).unwrap();
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "pa55");

    let err = vault.set("db", "local").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
    assert_eq!(err.secret_name(), Some("db"));

    let info = vault.describe("db").unwrap();
    assert_eq!(info.kind, SecretKind::Linked);
    assert_eq!(info.provider.as_deref(), Some("test"));
    assert_eq!(info.reference.as_deref(), Some("test://db"));
    assert!(info.last_fetched.is_some() && info.cached_until.is_some());

    assert!(vault.unset("db").unwrap());
    vault.set("db", "local now").unwrap();
}

#[tokio::test]
async fn link_checks_the_reference_offline() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    vault.add_provider(provider.clone());
    let err = vault.link("x", "test://").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    let err = vault.link("x", "no-scheme").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    let err = vault.link("x", "other://thing").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoProvider);
    assert!(err.to_string().contains("other://"), "{err}");
    assert!(vault.secrets().is_empty());
    assert_eq!(provider.resolves() + provider.batches(), 0);
}

#[tokio::test]
async fn removed_provider_means_integration_removed() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    let reference = provider.insert("db", "pa55");
    vault.add_provider(provider.clone());
    vault.link("db", &reference).unwrap();
    // Cached first: removing the provider must take its cached values with it.
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "pa55");
    assert!(vault.remove_provider("test"));
    assert!(!vault.remove_provider("test"));
    assert!(vault.describe("db").unwrap().cached_until.is_none());
    let err = vault.resolve("db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IntegrationRemoved);
    assert!(err.kind().is_unresolved());
    assert!(err.to_string().contains("integration `test`"), "{err}");
    vault.add_provider(provider);
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "pa55");
}

#[tokio::test]
async fn provider_errors_name_the_secret_and_keep_their_kind() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    vault.add_provider(provider);
    vault.link("gone", "test://nothing-here").unwrap();
    let err = vault.resolve("gone").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider);
    assert_eq!(
        err.provider_error().unwrap().kind(),
        ProviderErrorKind::NotFound
    );
    assert_eq!(
        err.to_string(),
        "secret `gone`: provider `test` failed: not found: no value under `nothing-here` (reference `test://nothing-here`)"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test(start_paused = true)]
async fn hundred_concurrent_resolves_share_one_fetch() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test").with_delay(Duration::from_millis(50));
    let reference = provider.insert("db", "pa55");
    vault.add_provider(provider.clone());
    vault.link("db", &reference).unwrap();
    let tasks = (0..100).map(|_| {
        let vault = vault.clone();
        tokio::spawn(async move { vault.resolve("db").await })
    });
    for outcome in join_all(tasks).await {
        assert_eq!(value(&outcome.unwrap().unwrap()), "pa55");
    }
    assert_eq!(provider.resolves(), 1);
    assert_eq!(provider.fetched(), 1);
}

#[tokio::test(start_paused = true)]
async fn values_expire_after_the_ttl() {
    let vault = Vault::builder().cache_ttl(Duration::from_secs(60)).build();
    let provider = MapProvider::new("test", "test");
    let reference = provider.insert("db", "v1");
    vault.add_provider(provider.clone());
    vault.link("db", &reference).unwrap();

    assert_eq!(value(&vault.resolve("db").await.unwrap()), "v1");
    provider.insert("db", "v2");
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "v1");
    assert_eq!(provider.fetched(), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(vault.describe("db").unwrap().cached_until.is_none());
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "v2");
    assert_eq!(provider.fetched(), 2);
}

#[tokio::test(start_paused = true)]
async fn default_ttl_is_one_hour() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    let reference = provider.insert("db", "v");
    vault.add_provider(provider.clone());
    vault.link("db", &reference).unwrap();
    vault.resolve("db").await.unwrap();
    tokio::time::advance(Duration::from_secs(3599)).await;
    vault.resolve("db").await.unwrap();
    assert_eq!(provider.fetched(), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    vault.resolve("db").await.unwrap();
    assert_eq!(provider.fetched(), 2);
}

#[tokio::test(start_paused = true)]
async fn clear_cache_forgets_values_now() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test");
    let reference = provider.insert("db", "v1");
    vault.add_provider(provider.clone());
    vault.link("db", &reference).unwrap();
    vault.resolve("db").await.unwrap();
    provider.insert("db", "v2");
    vault.clear_cache();
    assert!(vault.describe("db").unwrap().last_fetched.is_none());
    assert_eq!(value(&vault.resolve("db").await.unwrap()), "v2");
    assert_eq!(provider.fetched(), 2);
}

#[tokio::test]
async fn zero_ttl_fetches_every_time() {
    let vault = Vault::builder().cache_ttl(Duration::ZERO).build();
    let provider = MapProvider::new("test", "test");
    let reference = provider.insert("db", "v");
    vault.add_provider(provider.clone());
    vault.link("db", &reference).unwrap();
    vault.resolve("db").await.unwrap();
    vault.resolve("db").await.unwrap();
    assert_eq!(provider.fetched(), 2);
}

#[tokio::test]
async fn resolve_all_batches_per_provider_and_reports_every_failure() {
    let vault = Vault::new();
    let one = MapProvider::new("one", "one");
    let two = MapProvider::new("two", "two");
    vault.add_provider(one.clone());
    vault.add_provider(two.clone());
    for i in 0..5 {
        let reference = one.insert(&format!("k{i}"), &format!("one-{i}"));
        vault.link(&format!("one-{i}"), &reference).unwrap();
        let reference = two.insert(&format!("k{i}"), &format!("two-{i}"));
        vault.link(&format!("two-{i}"), &reference).unwrap();
    }
    vault.set("local", "l").unwrap();

    let mut names: Vec<String> = (0..5)
        .flat_map(|i| [format!("one-{i}"), format!("two-{i}")])
        .collect();
    names.push("local".into());
    names.push("one-0".into()); // repeated: resolved once
    let values = vault.resolve_all(&names).await.unwrap();
    assert_eq!(values.len(), 11);
    assert_eq!(value(&values["two-3"]), "two-3");
    assert_eq!(value(&values["local"]), "l");
    assert_eq!((one.batches(), one.resolves(), one.fetched()), (1, 0, 5));
    assert_eq!((two.batches(), two.resolves(), two.fetched()), (1, 0, 5));

    // Warm: nothing fetched.
    vault.resolve_all(&names).await.unwrap();
    assert_eq!(one.batches() + two.batches(), 2);

    vault.link("broken", "one://missing").unwrap();
    vault.set("off", "x").unwrap();
    vault.set_enabled("off", false).unwrap();
    let err = vault
        .resolve_all(["one-1", "nope", "broken", "off", "two-2"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Multiple);
    let kinds: Vec<(Option<&str>, ErrorKind)> = err
        .errors()
        .iter()
        .map(|e| (e.secret_name(), e.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("nope"), ErrorKind::NotFound),
            (Some("broken"), ErrorKind::Provider),
            (Some("off"), ErrorKind::Disabled),
        ]
    );
    assert!(
        err.to_string()
            .starts_with("3 secrets could not be resolved: "),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_batches_share_fetches_with_single_resolves() {
    let vault = Vault::new();
    let provider = MapProvider::new("test", "test").with_delay(Duration::from_millis(20));
    vault.add_provider(provider.clone());
    for i in 0..10 {
        let reference = provider.insert(&format!("k{i}"), "v");
        vault.link(&format!("s{i}"), &reference).unwrap();
    }
    let names: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    let batch = vault.resolve_all(&names);
    let singles = join_all(names.iter().map(|n| vault.resolve(n)));
    let (batch, singles) = tokio::join!(batch, singles);
    batch.unwrap();
    assert!(singles.iter().all(Result::is_ok));
    assert_eq!(provider.fetched(), 10);
}

#[tokio::test]
async fn provider_concurrency_bounds_provider_calls() {
    let vault = Vault::builder().provider_concurrency(1).build();
    let slow = MapProvider::new("slow", "slow").with_delay(Duration::from_millis(30));
    let fast = MapProvider::new("fast", "fast");
    vault.add_provider(slow.clone());
    vault.add_provider(fast.clone());
    vault.link("a", &slow.insert("a", "1")).unwrap();
    vault.link("b", &fast.insert("b", "2")).unwrap();
    let values = vault.resolve_all(["a", "b"]).await.unwrap();
    assert_eq!(values.len(), 2);
}

#[tokio::test]
async fn vault_is_a_cheap_shared_handle() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<Vault>();
    let vault = Vault::new();
    let other = vault.clone();
    other.set("shared", "yes").unwrap();
    assert_eq!(value(&vault.resolve("shared").await.unwrap()), "yes");
    let provider: Arc<dyn request_vault::ExternalProvider> =
        Arc::new(MapProvider::new("dyn", "dyn"));
    vault.add_shared_provider(provider);
    assert!(vault.provider("dyn").is_some());
}

#[test]
fn errors_display_what_and_where() {
    let err = Error::DomainNotAllowed {
        name: "api-key".into(),
        host: "evil.example".into(),
    };
    assert_eq!(
        err.to_string(),
        "secret `api-key` is not allowed for host `evil.example`"
    );
}

/// Every public future is `Send`, so that it can run on a multi-threaded runtime.
#[test]
fn public_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let vault = Vault::new();
    let client = reqwest::Client::new();
    let template = request_vault::RequestTemplate::new(reqwest::Method::GET, "https://a.example/");
    let parsed = request_vault::Template::parse("x").unwrap();
    assert_send(&vault.resolve("a"));
    assert_send(&vault.resolve_all(["a"]));
    assert_send(&vault.render("x"));
    assert_send(&vault.render_template(&parsed));
    assert_send(&vault.render_request(&client, &template));
    assert_send(&vault.send(&template));
    #[cfg(feature = "onepassword")]
    {
        let op = request_vault::OnePassword::connect("http://127.0.0.1:1", "t").unwrap();
        assert_send(&op.check());
        assert_send(&request_vault::ExternalProvider::resolve(&op, "op://a/b/c"));
    }
}

#[test]
fn a_left_out_provider_names_its_feature_unless_one_is_registered() {
    let built = |feature: &str| match feature {
        "onepassword" => cfg!(feature = "onepassword"),
        "aws" => cfg!(feature = "aws"),
        "hashicorp" => cfg!(feature = "hashicorp"),
        "azure" => cfg!(feature = "azure"),
        "gcp" => cfg!(feature = "gcp"),
        "keychain" => cfg!(feature = "keychain"),
        other => panic!("unknown feature {other}"),
    };
    for (scheme, feature) in request_vault::provider::KNOWN_SCHEMES {
        let vault = Vault::new();
        let reference = format!("{scheme}://some/where#key");
        let err = vault.link("s", &reference).unwrap_err();
        if built(feature) {
            assert_eq!(err.kind(), ErrorKind::NoProvider, "{err}");
        } else {
            assert!(
                matches!(&err, Error::FeatureDisabled { feature: f, .. } if f == feature),
                "{err:?}"
            );
            assert!(err.to_string().contains(&format!("`{feature}`")), "{err}");
        }
        // A provider the caller registers for the scheme is used, whatever the features.
        let provider = MapProvider::new("custom", scheme);
        vault.add_provider(provider);
        vault.link("s", &reference).unwrap();
        assert_eq!(
            vault.describe("s").unwrap().provider.as_deref(),
            Some("custom")
        );
    }
}

#[tokio::test]
async fn templates_render_from_small_and_large_vaults_alike() {
    // A vault not much larger than the template is walked in key order; a larger one is
    // searched name by name. Both give the same text, and a linked, disabled or missing
    // name takes the general path with its usual outcome.
    let template = request_vault::Template::parse("<<vault:b>>-<<vault:a>>-<<vault:b>>").unwrap();
    for extra in [0, 50] {
        let vault = Vault::new();
        for i in 0..extra {
            vault.set(&format!("other-{i:02}"), "o").unwrap();
        }
        vault.set("a", "A").unwrap();
        vault.set("b", "B").unwrap();
        let text = vault.render_template(&template).await.unwrap();
        assert_eq!(value(&text), "B-A-B", "{extra} other secrets");

        let provider = MapProvider::new("map", "map");
        vault.add_provider(provider.clone());
        vault.link("b", &provider.insert("b", "linked")).unwrap();
        let text = vault.render_template(&template).await.unwrap();
        assert_eq!(value(&text), "linked-A-linked", "{extra} other secrets");

        assert!(vault.unset("b").unwrap());
        vault.set("b", "B").unwrap();
        vault.set_enabled("a", false).unwrap();
        let err = vault.render_template(&template).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Disabled, "{extra} other secrets");

        vault.set_enabled("a", true).unwrap();
        assert!(vault.unset("a").unwrap());
        let err = vault.render_template(&template).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{extra} other secrets");
        assert_eq!(err.secret_name(), Some("a"));
    }
}
