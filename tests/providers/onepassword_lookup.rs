//! How 1Password names are looked up, counted in requests: segments shaped like IDs that are
//! titles, the listing cache following the vault's TTL, and `ref+op://` references, over
//! Connect (stand-in server on 127.0.0.1) and `op` (stand-in CLI).

use crate::common;

use std::time::Duration;

use common::connect::{ConnectServer, Data, field, id, item, vault};
use common::op::StandIn;
use request_vault::provider::RetryPolicy;
use request_vault::{ExposeSecret, ExternalProvider, OnePassword, ProviderErrorKind, Vault};

const TOKEN: &str = "connect-token-for-tests";

/// A title and a vault name that have the shape of IDs, but are no item's or vault's ID.
const ID_SHAPED_TITLE: &str = "abcdefghijklmnopqrstuvwxyz";
const ID_SHAPED_VAULT: &str = "zyxwvutsrqponmlkjihgfedcba";

fn data() -> Data {
    Data {
        vaults: vec![
            vault(
                "Prod",
                vec![
                    item(
                        "Postgres",
                        vec![field("password", "CONCEALED", "pg-pa55word")],
                    ),
                    item(
                        ID_SHAPED_TITLE,
                        vec![field("password", "CONCEALED", "titled like an id")],
                    ),
                ],
            ),
            vault(
                ID_SHAPED_VAULT,
                vec![item(
                    "Stripe",
                    vec![field("secret", "CONCEALED", "sk_live")],
                )],
            ),
        ],
    }
}

fn provider(server: &ConnectServer) -> OnePassword {
    OnePassword::builder()
        .retry(RetryPolicy::never())
        .connect(&server.url(), TOKEN)
        .unwrap()
}

async fn value(provider: &OnePassword, reference: &str) -> String {
    match provider.resolve(reference).await {
        Ok(v) => v.expose_secret().to_owned(),
        Err(e) => panic!("{reference}: {e}"),
    }
}

/// Requests for `reference` from a cold provider.
async fn cold_requests(reference: &str, expected: &str) -> (usize, Vec<String>) {
    let server = ConnectServer::start(data(), TOKEN, Duration::ZERO).await;
    let op = provider(&server);
    assert_eq!(value(&op, reference).await, expected, "{reference}");
    (server.requests(), server.paths())
}

#[tokio::test]
async fn connect_finds_titles_shaped_like_ids_with_one_extra_lookup() {
    // By name: vault listing, item listing, item.
    let (by_name, _) = cold_requests("op://Prod/Postgres/password", "pg-pa55word").await;
    assert_eq!(by_name, 3);

    // An item title shaped like an ID: the item is first fetched by that ID (404), then
    // found in the listing by title: one request more than by name.
    let reference = format!("op://Prod/{ID_SHAPED_TITLE}/password");
    let (count, paths) = cold_requests(&reference, "titled like an id").await;
    assert_eq!(count, by_name + 1, "{paths:?}");

    // Also written in upper case (names are case-insensitive; then it is no ID shape).
    let upper = format!(
        "op://prod/{}/password",
        ID_SHAPED_TITLE.to_ascii_uppercase()
    );
    let (count, paths) = cold_requests(&upper, "titled like an id").await;
    assert_eq!(count, by_name, "{paths:?}");

    // A vault name shaped like an ID: its item listing answers 404, then the vault listing
    // finds it by name.
    let reference = format!("op://{ID_SHAPED_VAULT}/Stripe/secret");
    let (count, paths) = cold_requests(&reference, "sk_live").await;
    assert_eq!(count, by_name + 1, "{paths:?}");

    // Real IDs cost what they cost before: the item alone.
    let server = ConnectServer::start(data(), TOKEN, Duration::ZERO).await;
    let op = provider(&server);
    let prod = id("vault Prod");
    let postgres = &data().vaults[0].items[0].id.clone();
    assert_eq!(
        value(&op, &format!("op://{prod}/{postgres}/password")).await,
        "pg-pa55word"
    );
    assert_eq!(server.requests(), 1, "{:?}", server.paths());

    // Both segments of one batch: each title lookup is listed once and the listings are
    // kept, so asking again costs only the item fetches under their ID-shaped names.
    server.reset_counts();
    let references = [
        format!("op://{prod}/{ID_SHAPED_TITLE}/password"),
        format!("op://Prod/{ID_SHAPED_TITLE}/password"),
        format!("op://{ID_SHAPED_VAULT}/Stripe/secret"),
    ];
    let references: Vec<&str> = references.iter().map(String::as_str).collect();
    let values: Vec<String> = op
        .resolve_all(&references)
        .await
        .into_iter()
        .map(|r| r.unwrap().expose_secret().to_owned())
        .collect();
    assert_eq!(
        values,
        ["titled like an id", "titled like an id", "sk_live"]
    );
}

#[tokio::test]
async fn connect_id_shaped_segments_that_match_nothing_are_not_found() {
    let server = ConnectServer::start(data(), TOKEN, Duration::ZERO).await;
    let op = provider(&server);
    let missing = id("no such item");
    let err = op
        .resolve(&format!("op://Prod/{missing}/password"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    // Item fetch (404), vault listing, item listing: one lookup more than a name.
    assert_eq!(server.requests(), 3, "{:?}", server.paths());

    server.reset_counts();
    let missing = id("no such vault");
    let err = op
        .resolve(&format!("op://{missing}/Postgres/password"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    // Item listing (404); the vault listing is kept from before.
    assert_eq!(server.requests(), 1, "{:?}", server.paths());
}

#[tokio::test]
async fn op_receives_id_shaped_titles_unchanged_in_one_call() {
    let reference = format!("op://Prod/{ID_SHAPED_TITLE}/password");
    let op = StandIn::new(&[(reference.as_str(), "titled like an id")]);
    let provider = op.provider();
    assert_eq!(value(&provider, &reference).await, "titled like an id");
    let calls = op.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("inject"), "{calls:?}");
}

#[tokio::test]
async fn listings_follow_the_vault_ttl_unless_set() {
    let server = ConnectServer::start(data(), TOKEN, Duration::ZERO).await;
    let secrets = Vault::builder().cache_ttl(Duration::ZERO).build();
    secrets.add_provider(provider(&server));
    secrets.link("db", "op://Prod/Postgres/password").unwrap();
    assert_eq!(
        secrets.resolve("db").await.unwrap().expose_secret(),
        "pg-pa55word"
    );
    assert_eq!(
        secrets.resolve("db").await.unwrap().expose_secret(),
        "pg-pa55word"
    );
    // Nothing kept: both resolves list the vaults and the items again.
    assert_eq!(server.requests(), 6, "{:?}", server.paths());

    // A TTL set on the provider wins over the vault's.
    let server = ConnectServer::start(data(), TOKEN, Duration::ZERO).await;
    let secrets = Vault::builder().cache_ttl(Duration::ZERO).build();
    secrets.add_provider(
        OnePassword::builder()
            .cache_ttl(Duration::from_secs(3600))
            .connect(&server.url(), TOKEN)
            .unwrap(),
    );
    secrets.link("db", "op://Prod/Postgres/password").unwrap();
    secrets.resolve("db").await.unwrap();
    secrets.resolve("db").await.unwrap();
    assert_eq!(server.requests(), 4, "{:?}", server.paths());

    // A short vault TTL: listings expire with it.
    let server = ConnectServer::start(data(), TOKEN, Duration::ZERO).await;
    let secrets = Vault::builder()
        .cache_ttl(Duration::from_millis(20))
        .build();
    let op = provider(&server);
    secrets.add_provider(op.clone());
    op.resolve("op://Prod/Postgres/password").await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    op.resolve("op://Prod/Postgres/password").await.unwrap();
    assert_eq!(server.requests(), 6, "{:?}", server.paths());
}

#[tokio::test]
async fn ref_prefixed_references_check_and_resolve() {
    let server = ConnectServer::start(data(), TOKEN, Duration::ZERO).await;
    let op = provider(&server);
    op.check_reference("ref+op://Prod/Postgres/password")
        .unwrap();
    let err = op
        .check_reference("ref+op://Prod/Postgres/password?attribute=OTP")
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::InvalidReference, "{err}");
    let secrets = Vault::new();
    secrets.add_provider(op);
    secrets
        .link("db", "ref+op://Prod/Postgres/password")
        .unwrap();
    assert_eq!(
        secrets.resolve("db").await.unwrap().expose_secret(),
        "pg-pa55word"
    );

    let op = StandIn::new(&[("op://Prod/Postgres/password", "from op")]);
    let provider = op.provider();
    provider
        .check_reference("ref+op://Prod/Postgres/password")
        .unwrap();
    assert_eq!(
        value(&provider, "ref+op://Prod/Postgres/password").await,
        "from op"
    );
    let calls = op.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("ref+")), "{calls:?}");
}
