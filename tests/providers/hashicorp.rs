//! The HashiCorp Vault provider against a stand-in server on 127.0.0.1: KV v1/v2 and
//! versions, mounts, namespaces, leases, faults, request counts, and the conformance suite
//! with its hostile-server check. Sign-in and leaks: `hashicorp_auth.rs`; the provider edge:
//! `hashicorp/edge.rs`; declared mounts and round trips: `hashicorp/round_trips.rs`.

use crate::common;

use std::time::Duration;

use common::hashicorp::{Fault, TOKEN, VaultServer, builder, kind, provider, state};
use request_vault::provider::RetryPolicy;
use request_vault::{ExposeSecret, ExternalProvider, ProviderErrorKind, Vault};
use serde_json::json;

#[tokio::test]
async fn kv_v2_and_v1_reads_fields_and_versions() {
    let (server, provider) = provider().await;
    let get = |r: &'static str| {
        let provider = provider.clone();
        async move {
            provider
                .resolve(r)
                .await
                .map(|v| v.expose_secret().to_owned())
        }
    };
    assert_eq!(
        get("vault://secret/myapp/db#password").await.unwrap(),
        "v2-pa55"
    );
    assert_eq!(
        get("vault://secret/myapp/db?version=1#password")
            .await
            .unwrap(),
        "v1-pa55"
    );
    assert_eq!(
        get("ref+vault://secret/myapp/db#/nested/port")
            .await
            .unwrap(),
        "5432"
    );
    assert_eq!(
        get("vault://secret/myapp/db#nested").await.unwrap(),
        r#"{"host":"db","port":5432}"#
    );
    assert_eq!(get("vault://secret/single").await.unwrap(), "only-value");
    assert_eq!(
        get("vault://kv1/legacy/app#token").await.unwrap(),
        "legacy-token-value"
    );
    assert_eq!(
        get("vault://kv1/legacy/app").await.unwrap(),
        "legacy-token-value"
    );

    let several = provider
        .resolve("vault://secret/myapp/db")
        .await
        .unwrap_err();
    assert_eq!(several.kind(), ProviderErrorKind::Ambiguous);
    assert!(
        several.message().contains("nested, password, username"),
        "{several}"
    );
    assert!(!several.to_string().contains("pa55"));

    let missing = provider
        .resolve("vault://secret/myapp/db#nope")
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ProviderErrorKind::NotFound);
    assert_eq!(
        kind(provider.resolve("vault://secret/nothing/here").await),
        ProviderErrorKind::NotFound
    );
    assert_eq!(
        kind(
            provider
                .resolve("vault://secret/myapp/db?version=9#password")
                .await
        ),
        ProviderErrorKind::NotFound
    );
    assert_eq!(
        kind(provider.resolve("vault://kv1/legacy/app?version=1").await),
        ProviderErrorKind::Unsupported
    );

    // KV v2 reads go to MOUNT/data/REST, with ?version=N; each mount is looked up once.
    let log = server.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /v1/secret/data/myapp/db?version=1 ")),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.starts_with("GET /v1/kv1/legacy/app ")),
        "{log:#?}"
    );
    assert_eq!(server.count("sys/internal/ui/mounts/secret"), 1, "{log:#?}");
    assert_eq!(server.count("sys/internal/ui/mounts/kv1"), 1, "{log:#?}");
}

#[tokio::test]
async fn deleted_and_destroyed_versions_say_so() {
    let server = VaultServer::start(state()).await;
    {
        let mut s = server.state.lock().unwrap();
        let versions =
            s.kv.get_mut(&("".into(), "secret/myapp/db".into()))
                .unwrap();
        versions[0].destroyed = true;
        versions[1].deleted = true;
    }
    let provider = builder(&server).token(TOKEN).unwrap();
    let deleted = provider
        .resolve("vault://secret/myapp/db#password")
        .await
        .unwrap_err();
    assert_eq!(deleted.kind(), ProviderErrorKind::NotFound);
    assert!(
        deleted
            .message()
            .contains("version 2 of `secret/myapp/db` was deleted"),
        "{deleted}"
    );
    let destroyed = provider
        .resolve("vault://secret/myapp/db?version=1#password")
        .await
        .unwrap_err();
    assert!(destroyed.message().contains("was destroyed"), "{destroyed}");
}

#[tokio::test]
async fn namespaces_from_the_builder_and_the_reference() {
    let mut s = state();
    s.mount("team-a", "secret", "kv", Some("2"));
    s.mount("team-b", "kv", "kv", Some("2"));
    s.put("team-a", "secret/app", json!({"k": "from team a"}));
    s.put("team-b", "kv/app", json!({"k": "from team b"}));
    let server = VaultServer::start(s).await;
    let provider = builder(&server).namespace("/team-a/").token(TOKEN).unwrap();
    assert_eq!(
        provider
            .resolve("vault://secret/app#k")
            .await
            .unwrap()
            .expose_secret(),
        "from team a"
    );
    assert_eq!(
        provider
            .resolve("vault://kv/app?namespace=team-b#k")
            .await
            .unwrap()
            .expose_secret(),
        "from team b"
    );
    let log = server.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /v1/secret/data/app ns=team-a")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /v1/kv/data/app ns=team-b")),
        "{log:#?}"
    );
    // The same path in another namespace is another mount and another secret.
    assert_eq!(
        kind(
            provider
                .resolve("vault://secret/app?namespace=team-b#k")
                .await
        ),
        ProviderErrorKind::Forbidden
    );
}

#[tokio::test]
async fn fields_of_one_dynamic_read_share_its_lease() {
    let (server, provider) = provider().await;
    let vault = Vault::new();
    vault.add_provider(provider.clone());
    vault
        .link("db-user", "vault://database/creds/app#username")
        .unwrap();
    vault
        .link("db-pass", "vault://database/creds/app#password")
        .unwrap();
    let all = vault.resolve_all(["db-user", "db-pass"]).await.unwrap();
    let user = all["db-user"].expose_secret().to_owned();
    let pass = all["db-pass"].expose_secret().to_owned();
    let n = user.rsplit('-').next().unwrap().to_owned();
    assert_eq!(pass, format!("pw-app-{n}-secret"));
    assert_eq!(server.count("GET /v1/database/creds/app"), 1);

    // One at a time, within the lease: still the same pair, no new read.
    let vault2 = Vault::new();
    vault2.add_provider(provider.clone());
    vault2
        .link("db-pass", "vault://database/creds/app#password")
        .unwrap();
    assert_eq!(
        vault2.resolve("db-pass").await.unwrap().expose_secret(),
        pass
    );
    assert_eq!(server.count("GET /v1/database/creds/app"), 1);

    // The value carries the lease's remaining time less the margin (1 h lease: 59 min).
    let leased = provider
        .resolve_leased("vault://database/creds/app#username")
        .await
        .unwrap();
    let max_age = leased.max_age().unwrap();
    assert!(
        max_age <= Duration::from_secs(3540) && max_age > Duration::from_secs(3000),
        "{max_age:?}"
    );
    let static_value = provider
        .resolve_leased("vault://secret/single")
        .await
        .unwrap();
    assert_eq!(static_value.max_age(), None);
}

#[tokio::test]
async fn a_short_lease_caps_the_vaults_cache() {
    let mut s = state();
    s.roles
        .insert(("".into(), "database/creds/short".into()), 1);
    let server = VaultServer::start(s).await;
    let vault = Vault::new();
    vault.add_provider(builder(&server).token(TOKEN).unwrap());
    vault
        .link("user", "vault://database/creds/short#username")
        .unwrap();
    let first = vault
        .resolve("user")
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = vault
        .resolve("user")
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    assert_ne!(first, second, "a value outlived its lease");
    assert_eq!(server.count("GET /v1/database/creds/short"), 2);
}

#[tokio::test]
async fn leases_are_revoked_on_clear_when_asked() {
    let server = VaultServer::start(state()).await;
    let provider = builder(&server)
        .revoke_leases_on_clear(true)
        .token(TOKEN)
        .unwrap();
    provider
        .resolve("vault://database/creds/app#username")
        .await
        .unwrap();
    provider.clear_cache();
    for _ in 0..200 {
        if !server.revoked().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.revoked(), ["database/creds/app/lease1"]);
    // Cleared: the next read takes a new lease.
    provider
        .resolve("vault://database/creds/app#username")
        .await
        .unwrap();
    assert_eq!(server.count("GET /v1/database/creds/app"), 2);

    let (server, default) = self::provider().await;
    default
        .resolve("vault://database/creds/app#username")
        .await
        .unwrap();
    default.clear_cache();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(server.revoked().is_empty(), "revocation is off by default");
}

#[tokio::test]
async fn a_batch_reads_each_path_once_and_each_mount_is_looked_up_once() {
    let mut s = state();
    s.mount("", "team", "kv", Some("1"));
    let mut references = Vec::new();
    for path in 0..20 {
        let (mount, full) = if path < 10 {
            ("secret", format!("secret/app{path}/config"))
        } else {
            ("team", format!("team/app{path}/config"))
        };
        let _ = mount;
        let fields: serde_json::Map<String, serde_json::Value> = (0..5)
            .map(|f| (format!("f{f}"), json!(format!("value-{path}-{f}"))))
            .collect();
        s.put("", &full, serde_json::Value::Object(fields));
        for f in 0..5 {
            references.push(format!("vault://{full}#f{f}"));
        }
    }
    let server = VaultServer::start(s).await;
    let vault = Vault::new();
    vault.add_provider(builder(&server).token(TOKEN).unwrap());
    let mut names = Vec::new();
    for (i, reference) in references.iter().enumerate() {
        let name = format!("s{i}");
        vault.link(&name, reference).unwrap();
        names.push(name);
    }
    let values = vault.resolve_all(&names).await.unwrap();
    assert_eq!(values.len(), 100);
    assert_eq!(values["s57"].expose_secret(), "value-11-2");
    assert_eq!(
        server.count("sys/internal/ui/mounts"),
        2,
        "{:#?}",
        server.log()
    );
    assert_eq!(server.requests(), 22, "cold: 20 reads + 2 mount look-ups");
    server.reset_counts();
    vault.resolve_all(&names).await.unwrap();
    assert_eq!(server.requests(), 0, "warm");
}

#[tokio::test]
async fn transient_faults_are_retried_and_the_rest_fail_fast() {
    let (server, provider) = provider().await;
    provider.resolve("vault://secret/single").await.unwrap();
    for fault in [
        Fault::Sealed,
        Fault::Status(500, None),
        Fault::Status(429, Some(0)),
        Fault::Status(412, None),
        Fault::Drop,
    ] {
        server.fail_next(fault.clone());
        let value = provider.resolve("vault://secret/single").await;
        assert_eq!(value.unwrap().expose_secret(), "only-value", "{fault:?}");
    }
    // Out of retries: the kind of the last failure, with Retry-After.
    let once = builder(&server)
        .retry(RetryPolicy::never())
        .token(TOKEN)
        .unwrap();
    once.resolve("vault://secret/single").await.unwrap();
    server.fail_next(Fault::Sealed);
    let sealed = once.resolve("vault://secret/single").await.unwrap_err();
    assert_eq!(sealed.kind(), ProviderErrorKind::Unavailable);
    assert!(sealed.message().contains("sealed"), "{sealed}");
    server.fail_next(Fault::Status(429, Some(7)));
    let limited = once.resolve("vault://secret/single").await.unwrap_err();
    assert_eq!(limited.kind(), ProviderErrorKind::RateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));

    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let impatient = builder(&server)
        .client(client)
        .retry(RetryPolicy::never())
        .token(TOKEN)
        .unwrap();
    impatient.resolve("vault://secret/single").await.unwrap();
    server.fail_next(Fault::Slow(Duration::from_secs(2)));
    assert_eq!(
        kind(impatient.resolve("vault://secret/single").await),
        ProviderErrorKind::Timeout
    );

    assert_eq!(
        kind(
            provider
                .resolve("vault://database/creds/nope#username")
                .await
        ),
        ProviderErrorKind::NotFound
    );
    // Vault answers a missing mount as it answers one out of the token's policies.
    let nomount = provider.resolve("vault://nomount/app#k").await.unwrap_err();
    assert_eq!(nomount.kind(), ProviderErrorKind::Forbidden);
    assert!(
        nomount.message().contains("`nomount/app`")
            && nomount
                .message()
                .contains("grant access to path \"nomount/app/\""),
        "{}",
        nomount.message()
    );
}

#[tokio::test]
async fn servers_without_mount_look_ups_are_read_as_kv_v1() {
    let mut s = state();
    s.no_mount_lookup = true;
    let server = VaultServer::start(s).await;
    let provider = builder(&server).token(TOKEN).unwrap();
    let value = provider
        .resolve("vault://kv1/legacy/app#token")
        .await
        .unwrap();
    assert_eq!(value.expose_secret(), "legacy-token-value");
}

#[tokio::test]
async fn offline_checks_point_at_the_byte() {
    let (_server, provider) = provider().await;
    let vault = Vault::new();
    vault.add_provider(provider);
    let e = vault
        .link("x", "vault://secret/app?version=zero#k")
        .unwrap_err();
    assert_eq!(e.offset(), Some(27), "{e}");
    vault
        .link("y", "ref+vault://secret/app?namespace=team#/a/b")
        .unwrap();
}

#[cfg(feature = "conformance")]
#[tokio::test]
async fn hashicorp_conforms() {
    use request_vault::provider::conformance::{Case, check};
    use std::sync::Arc;

    let (_server, provider) = provider().await;
    let provider: Arc<dyn ExternalProvider> = Arc::new(provider);
    let cases = [
        Case::value("vault://secret/myapp/db#password", "v2-pa55"),
        Case::value("vault://secret/myapp/db?version=1#password", "v1-pa55"),
        Case::value("ref+vault://kv1/legacy/app#token", "legacy-token-value"),
        Case::value("vault://secret/single", "only-value"),
        Case::error("vault://secret/nothing/here#k", ProviderErrorKind::NotFound),
        Case::error("vault://secret/myapp/db", ProviderErrorKind::Ambiguous),
        Case::invalid("vault://secret"),
        Case::invalid("op://secret/app#k"),
        Case::invalid("vault://secret/app?version=0"),
        Case::invalid("vault://secret/app#"),
    ];
    let failures = check(provider, &cases).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[cfg(feature = "conformance")]
#[tokio::test]
async fn hashicorp_survives_a_hostile_server() {
    use request_vault::provider::conformance::{Case, FaultProxy, Options, Sink, check_hostile};
    use std::sync::Arc;

    let server = VaultServer::start(state()).await;
    let proxy = FaultProxy::start(server.addr).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let quick = RetryPolicy::default()
        .max_attempts(2)
        .initial_backoff(Duration::from_millis(1));
    let looked_up = request_vault::HashiCorpVault::builder(&proxy.url())
        .retry(quick)
        .token(TOKEN)
        .unwrap();
    let declared = request_vault::HashiCorpVault::builder(&proxy.url())
        .retry(quick)
        .mount("secret", request_vault::hashicorp::KvVersion::V2)
        .token(TOKEN)
        .unwrap();
    let options = Options::new().credential(TOKEN);
    // A KV v2 secret (the look-up meets the faults first) and a dynamic one (with a lease).
    for (provider, reference, value) in [
        (&looked_up, "vault://secret/single", "only-value"),
        (&declared, "vault://secret/single", "only-value"),
    ] {
        let provider: Arc<dyn ExternalProvider> = Arc::new(provider.clone());
        let case = Case::value(reference, value);
        let failures = check_hostile(provider, &proxy, &sink, &case, &options).await;
        assert!(failures.is_empty(), "{reference}: {failures:#?}");
    }
    assert_eq!(sink.requests(), 0);
}

#[path = "hashicorp/edge.rs"]
mod edge;
#[path = "hashicorp/round_trips.rs"]
mod round_trips;
