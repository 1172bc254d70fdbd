//! Round trips of a batch (issue 21): mounts declared on the builder are read without a
//! look-up, and a batch's reads go out together, after one shared look-up when the mount is
//! not known.

use crate::common::hashicorp::{TOKEN, VaultServer, builder, kind, provider, state};
use request_vault::hashicorp::KvVersion;
use request_vault::{ExposeSecret, ExternalProvider, ProviderErrorKind, Vault};
use serde_json::json;

#[tokio::test]
async fn declared_mounts_are_read_without_a_look_up() {
    let (server, _) = provider().await;
    let provider = builder(&server)
        .mount("secret", KvVersion::V2)
        .mount("/kv1/", KvVersion::V1)
        .token(TOKEN)
        .unwrap();
    let vault = Vault::new();
    vault.add_provider(provider.clone());
    vault
        .link("kv2", "vault://secret/myapp/db#password")
        .unwrap();
    vault
        .link("old", "vault://secret/myapp/db?version=1#password")
        .unwrap();
    vault.link("kv1", "vault://kv1/legacy/app#token").unwrap();
    vault
        .link("dynamic", "vault://database/creds/app#username")
        .unwrap();
    let values = vault
        .resolve_all(["kv2", "old", "kv1", "dynamic"])
        .await
        .unwrap();
    assert_eq!(values["kv2"].expose_secret(), "v2-pa55");
    assert_eq!(values["old"].expose_secret(), "v1-pa55");
    assert_eq!(values["kv1"].expose_secret(), "legacy-token-value");
    // Only the undeclared `database` mount is looked up.
    let log = server.log();
    assert_eq!(server.count("sys/internal/ui/mounts"), 1, "{log:#?}");
    assert_eq!(
        server.count("sys/internal/ui/mounts/database"),
        1,
        "{log:#?}"
    );
    // Declared mounts are configuration: clearing the cache keeps them.
    provider.clear_cache();
    server.reset_counts();
    provider.resolve("vault://secret/single").await.unwrap();
    assert_eq!(server.log(), ["GET /v1/secret/data/single ns="]);
    // A declaration is trusted as given: a wrong one reads the wrong place.
    let wrong = builder(&server)
        .mount("secret", KvVersion::V1)
        .token(TOKEN)
        .unwrap();
    assert_eq!(
        kind(wrong.resolve("vault://secret/single").await),
        ProviderErrorKind::NotFound
    );
    // In another namespace than the provider's, the mount is looked up as usual.
    server.reset_counts();
    let _ = provider
        .resolve("vault://secret/single?namespace=team-x")
        .await;
    assert_eq!(
        server.count("sys/internal/ui/mounts/secret"),
        1,
        "{:#?}",
        server.log()
    );
}

#[tokio::test]
async fn a_batch_sends_its_reads_at_once_after_one_look_up() {
    let mut s = state();
    for path in 0..100 {
        s.put(
            "",
            &format!("secret/many/{path}"),
            json!({"v": format!("value-{path}")}),
        );
    }
    s.gather = Some(100);
    let server = VaultServer::start(s).await;
    let references: Vec<String> = (0..100)
        .map(|p| format!("vault://secret/many/{p}#v"))
        .collect();
    let references: Vec<&str> = references.iter().map(String::as_str).collect();
    // Declared: the 100 reads are all in flight together (the stand-in holds each answer
    // until they are, or 10 s passed).
    let declared = builder(&server)
        .mount("secret", KvVersion::V2)
        .token(TOKEN)
        .unwrap();
    let values = declared.resolve_all(&references).await;
    assert_eq!(values[42].as_ref().unwrap().expose_secret(), "value-42");
    assert_eq!(
        server.most_in_flight(),
        100,
        "the reads went out in several rounds"
    );
    assert_eq!(server.requests(), 100);
    // Not declared: one look-up, then the 100 reads together.
    server.reset_counts();
    server.state.lock().unwrap().gather = Some(100);
    let looked_up = builder(&server).token(TOKEN).unwrap();
    let values = looked_up.resolve_all(&references).await;
    assert!(values.iter().all(Result::is_ok));
    assert_eq!(server.most_in_flight(), 100);
    assert_eq!(server.requests(), 101);
    assert_eq!(server.count("sys/internal/ui/mounts"), 1);
}
