//! The 1Password provider over Connect, against a stand-in server on 127.0.0.1.

use crate::common;

use std::time::{Duration, Instant};

use common::connect::{ConnectServer, Data, Fault, FileDef, field, id, item, vault};
use request_vault::onepassword::SecretReference;
use request_vault::provider::RetryPolicy;
use request_vault::{
    Error, ErrorKind, ExposeSecret, ExternalProvider, OnePassword, ProviderErrorKind, Vault,
};

const TOKEN: &str = "connect-token-for-tests";
const ED25519_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n";

fn fixture() -> Data {
    let mut postgres = item(
        "Postgres",
        vec![
            field("username", "STRING", "admin"),
            field("password", "CONCEALED", "pg-pa55word"),
            field("one-time password", "OTP", "otpauth://totp/x?secret=AAAA"),
            field("email", "EMAIL", "dba@example.com"),
            field("note", "STRING", "first extra"),
            field("other", "STRING", "second extra"),
            field("token", "CONCEALED", "token one"),
            field("Token", "CONCEALED", "token two"),
        ],
    );
    postgres.fields[0].purpose = "USERNAME";
    postgres.fields[1].purpose = "PASSWORD";
    postgres.fields[2].totp = Some("123456".into());
    postgres.sections = vec![
        (id("admin"), "Admin".into()),
        (id("extra-1"), "Extra".into()),
        (id("extra-2"), "Extra".into()),
    ];
    postgres.fields[3].section = Some(id("admin"));
    postgres.fields[4].section = Some(id("extra-1"));
    postgres.fields[5].section = Some(id("extra-2"));
    postgres.files.push(FileDef {
        id: id("file config"),
        name: "config.txt".into(),
        content: b"host=db\nport=5432\n".to_vec(),
        section: None,
    });
    let mut old = item(
        "Legacy",
        vec![field("password", "CONCEALED", "archived value")],
    );
    old.archived = true;
    let current = item(
        "Legacy",
        vec![
            field("password", "CONCEALED", "current value"),
            field("x", "STRING", ""),
        ],
    );
    let dupe_a = item("Dupe", vec![field("password", "CONCEALED", "a")]);
    let dupe_b = item(
        "Dupe",
        vec![
            field("password", "CONCEALED", "b"),
            field("x", "STRING", ""),
        ],
    );
    let ssh = item(
        "ssh keys",
        vec![field("private key", "SSHKEY", ED25519_PKCS8)],
    );
    let mut secret_vault = vault(
        "Secret",
        vec![item("Hidden", vec![field("password", "CONCEALED", "h")])],
    );
    secret_vault.in_scope = false;
    Data {
        vaults: vec![
            vault("Prod", vec![postgres, old, current, dupe_a, dupe_b, ssh]),
            vault(
                "Dev",
                vec![item(
                    "Stripe",
                    vec![field("publishable-key", "STRING", "pk_test")],
                )],
            ),
            secret_vault,
        ],
    }
}

async fn server() -> ConnectServer {
    ConnectServer::start(fixture(), TOKEN, Duration::ZERO).await
}

fn provider(server: &ConnectServer) -> OnePassword {
    OnePassword::builder()
        .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(10)))
        .connect(&server.url(), TOKEN)
        .unwrap()
}

async fn value(provider: &OnePassword, reference: &str) -> String {
    match provider.resolve(reference).await {
        Ok(v) => v.expose_secret().to_owned(),
        Err(e) => panic!("{reference}: {e}"),
    }
}

async fn failure(provider: &OnePassword, reference: &str) -> request_vault::ProviderError {
    match provider.resolve(reference).await {
        Ok(_) => panic!("{reference} resolved"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn every_reference_form_resolves() {
    let server = server().await;
    let op = provider(&server);
    let prod = id("vault Prod");
    let data = fixture();
    let pg = &data.vaults[0].items[0];
    let cases = [
        ("op://Prod/Postgres/password".to_owned(), "pg-pa55word"),
        ("op://prod/POSTGRES/Password".to_owned(), "pg-pa55word"),
        (format!("op://{prod}/Postgres/password"), "pg-pa55word"),
        (format!("op://{prod}/{}/password", pg.id), "pg-pa55word"),
        (
            format!("op://Prod/Postgres/{}", pg.fields[1].id),
            "pg-pa55word",
        ),
        (
            "op://Prod/Postgres/Admin/email".to_owned(),
            "dba@example.com",
        ),
        (
            format!("op://Prod/Postgres/{}/email", id("admin")),
            "dba@example.com",
        ),
        ("op://Prod/Postgres/email".to_owned(), "dba@example.com"),
        ("op://Prod/Postgres/Extra/note".to_owned(), "first extra"),
        ("op://Prod/Postgres/Extra/other".to_owned(), "second extra"),
        (
            "op://Prod/Postgres/username?attribute=purpose".to_owned(),
            "USERNAME",
        ),
        (
            "op://Prod/Postgres/password?attribute=type".to_owned(),
            "CONCEALED",
        ),
        (
            "op://Prod/Postgres/password?attribute=id".to_owned(),
            pg.fields[1].id.as_str(),
        ),
        (
            "op://Prod/Postgres/password?attribute=value".to_owned(),
            "pg-pa55word",
        ),
        ("op://Prod/Postgres/email?attribute=purpose".to_owned(), ""),
        (
            "op://Prod/Postgres/one-time password?attribute=otp".to_owned(),
            "123456",
        ),
        (
            "op://Prod/Postgres/one-time password?attr=totp".to_owned(),
            "123456",
        ),
        (
            "op://Prod/Postgres/config.txt".to_owned(),
            "host=db\nport=5432\n",
        ),
        (
            "op://Prod/Postgres/config.txt?attribute=content".to_owned(),
            "host=db\nport=5432\n",
        ),
        (
            "op://Prod/Postgres/config.txt?attribute=size".to_owned(),
            "18",
        ),
        (
            "op://Prod/Postgres/CONFIG.TXT?attribute=name".to_owned(),
            "config.txt",
        ),
        (
            "op://Prod/Postgres/config.txt?attribute=id".to_owned(),
            pg.files[0].id.as_str(),
        ),
        ("op://Prod/Legacy/password".to_owned(), "current value"),
        ("op://Dev/Stripe/publishable-key".to_owned(), "pk_test"),
    ];
    for (reference, expected) in &cases {
        assert_eq!(value(&op, reference).await, *expected, "{reference}");
    }
    #[cfg(feature = "ssh")]
    {
        let openssh = value(&op, "op://Prod/ssh keys/private key?ssh-format=openssh").await;
        assert!(
            openssh.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"),
            "{openssh}"
        );
    }
}

#[tokio::test]
async fn every_error_kind_is_produced() {
    let server = server().await;
    let op = provider(&server);
    let cases = [
        (
            "op://Nope/Postgres/password",
            ProviderErrorKind::NotFound,
            "no vault named `Nope`",
        ),
        (
            "op://Prod/Nope/password",
            ProviderErrorKind::NotFound,
            "no item named `Nope`",
        ),
        (
            "op://Prod/Postgres/nope",
            ProviderErrorKind::NotFound,
            "no field or file `nope`",
        ),
        (
            "op://Prod/Postgres/Nope/email",
            ProviderErrorKind::NotFound,
            "no section `Nope`",
        ),
        (
            "op://Prod/Dupe/password",
            ProviderErrorKind::Ambiguous,
            "several items are named `Dupe`",
        ),
        (
            "op://Prod/Postgres/token",
            ProviderErrorKind::Ambiguous,
            "2 fields named `token`",
        ),
        (
            "op://Prod/Postgres/password?attribute=otp",
            ProviderErrorKind::Unsupported,
            "not a one-time password field",
        ),
        (
            "op://Prod/Postgres/password?attribute=size",
            ProviderErrorKind::Unsupported,
            "applies to files",
        ),
        (
            "op://Prod/Postgres/config.txt?attribute=otp",
            ProviderErrorKind::Unsupported,
            "applies to fields",
        ),
        (
            "op://Prod/Postgres/password?ssh-format=openssh",
            ProviderErrorKind::Unsupported,
            "OpenSSH",
        ),
    ];
    for (reference, kind, text) in cases {
        let err = failure(&op, reference).await;
        assert_eq!(err.kind(), kind, "{reference}: {err}");
        assert!(err.to_string().contains(text), "{reference}: {err}");
        assert_eq!(err.reference(), Some(reference));
        assert!(!err.to_string().contains(TOKEN));
    }
    let dupe = failure(&op, "op://Prod/Dupe/password").await;
    let data = fixture();
    let mut expected = vec![
        data.vaults[0].items[3].id.clone(),
        data.vaults[0].items[4].id.clone(),
    ];
    let mut candidates = dupe.candidates().to_vec();
    candidates.sort();
    expected.sort();
    assert_eq!(candidates, expected);

    let secret = id("vault Secret");
    let err = failure(&op, &format!("op://{secret}/Hidden/password")).await;
    assert_eq!(err.kind(), ProviderErrorKind::Forbidden, "{err}");
    assert!(err.to_string().contains("not in scope"), "{err}");
    let err = failure(
        &op,
        &format!("op://{}/Hidden/password", id("no such vault")),
    )
    .await;
    assert_eq!(err.kind(), ProviderErrorKind::NotFound, "{err}");

    let wrong = OnePassword::connect(&server.url(), "wrong-token").unwrap();
    let err = failure(&wrong, "op://Prod/Postgres/password").await;
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized, "{err}");
    assert!(!err.to_string().contains("wrong-token"));
}

#[tokio::test]
async fn reauthenticate_swaps_the_token_in_place() {
    let server = server().await;
    let op = OnePassword::connect(&server.url(), "expired").unwrap();
    assert_eq!(
        op.check()
            .await
            .unwrap_err()
            .provider_error()
            .unwrap()
            .kind(),
        ProviderErrorKind::Unauthorized
    );
    op.reauthenticate(TOKEN).unwrap();
    op.check().await.unwrap();
    assert_eq!(
        value(&op, "op://Prod/Postgres/password").await,
        "pg-pa55word"
    );
    assert!(op.reauthenticate("bad token with spaces").is_err());
    assert_eq!(
        value(&op, "op://Prod/Postgres/password").await,
        "pg-pa55word"
    );
}

#[tokio::test]
async fn the_vault_links_and_resolves_through_the_provider() {
    let server = server().await;
    let vault = Vault::new();
    vault.add_provider(provider(&server));
    let err = vault.link("db", "op://Prod/Postgres").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    assert!(
        matches!(
            err,
            Error::InvalidReference {
                offset: Some(18),
                ..
            }
        ),
        "{err}"
    );
    vault.link("db", "op://Prod/Postgres/password").unwrap();
    vault.link("user", "op://Prod/Postgres/username").unwrap();
    let values = vault.resolve_all(["db", "user"]).await.unwrap();
    assert_eq!(values["db"].expose_secret(), "pg-pa55word");
    assert_eq!(values["user"].expose_secret(), "admin");
    let info = vault.describe("db").unwrap();
    assert_eq!(info.provider.as_deref(), Some("1password"));
    vault.link("gone", "op://Prod/Nope/password").unwrap();
    let err = vault.resolve("gone").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider);
    assert!(
        err.to_string()
            .starts_with("secret `gone`: provider `1password` failed: not found: "),
        "{err}"
    );
}

/// 100 secrets over 20 items in 2 vaults: cold at most 23 requests, warm none.
#[tokio::test]
async fn a_cold_batch_costs_one_request_per_listing_and_item() {
    let mut data = Data::default();
    for v in 0..2 {
        let items = (0..10)
            .map(|i| {
                item(
                    &format!("item-{v}-{i}"),
                    (0..5)
                        .map(|f| field(&format!("f{f}"), "STRING", &format!("{v}-{i}-{f}")))
                        .collect(),
                )
            })
            .collect();
        data.vaults.push(vault(&format!("vault-{v}"), items));
    }
    let server = ConnectServer::start(data, TOKEN, Duration::ZERO).await;
    let vault_ = Vault::new();
    vault_.add_provider(provider(&server));
    let mut names = Vec::new();
    for v in 0..2 {
        for i in 0..10 {
            for f in 0..5 {
                let name = format!("s-{v}-{i}-{f}");
                vault_
                    .link(&name, &format!("op://vault-{v}/item-{v}-{i}/f{f}"))
                    .unwrap();
                names.push(name);
            }
        }
    }
    let values = vault_.resolve_all(&names).await.unwrap();
    assert_eq!(values.len(), 100);
    assert_eq!(values["s-1-7-3"].expose_secret(), "1-7-3");
    assert!(
        server.requests() <= 23,
        "{} requests: {:?}",
        server.requests(),
        server.paths()
    );
    assert_eq!(server.requests(), 23);
    server.reset_counts();
    vault_.resolve_all(&names).await.unwrap();
    assert_eq!(server.requests(), 0);

    // The provider keeps its listings: asked directly, it fetches only the 20 items.
    server.reset_counts();
    let op = vault_.provider("1password").unwrap();
    let references: Vec<String> = (0..100)
        .map(|n| {
            format!(
                "op://vault-{}/item-{}-{}/f{}",
                n / 50,
                n / 50,
                (n / 5) % 10,
                n % 5
            )
        })
        .collect();
    let references: Vec<&str> = references.iter().map(String::as_str).collect();
    let results = op.resolve_all(&references).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.requests(), 20, "{:?}", server.paths());
}

#[tokio::test]
async fn concurrent_callers_share_item_fetches() {
    let server = ConnectServer::start(fixture(), TOKEN, Duration::from_millis(30)).await;
    let op = provider(&server);
    let (a, b) = tokio::join!(
        op.resolve("op://Prod/Postgres/password"),
        op.resolve("op://Prod/Postgres/username"),
    );
    assert_eq!(a.unwrap().expose_secret(), "pg-pa55word");
    assert_eq!(b.unwrap().expose_secret(), "admin");
    let item_gets = server
        .paths()
        .iter()
        .filter(|p| p.matches('/').count() == 5)
        .count();
    assert_eq!(item_gets, 1, "{:?}", server.paths());
}

#[tokio::test]
async fn transient_faults_are_retried() {
    let server = server().await;
    let op = provider(&server);
    server.fail_next(Fault::Status(500, None));
    server.fail_next(Fault::Drop);
    assert_eq!(
        value(&op, "op://Prod/Postgres/password").await,
        "pg-pa55word"
    );
    assert_eq!(server.requests(), 5, "{:?}", server.paths());

    server.reset_counts();
    server.fail_next(Fault::Status(429, Some(1)));
    let start = Instant::now();
    assert_eq!(
        value(&op, "op://Dev/Stripe/publishable-key").await,
        "pk_test"
    );
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );

    server.fail_next(Fault::Status(503, None));
    server.fail_next(Fault::Status(503, None));
    server.fail_next(Fault::Status(503, None));
    server.fail_next(Fault::Status(503, None));
    let err = failure(
        &op,
        format!("op://{}/Postgres/email", id("vault Prod")).as_str(),
    )
    .await;
    assert_eq!(err.kind(), ProviderErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn exhausted_rate_limits_and_unreadable_answers_have_their_kinds() {
    let server = server().await;
    let op = OnePassword::builder()
        .retry(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1)),
        )
        .connect(&server.url(), TOKEN)
        .unwrap();
    server.fail_next(Fault::Status(429, Some(0)));
    server.fail_next(Fault::Status(429, Some(0)));
    let err = failure(&op, "op://Prod/Postgres/password").await;
    assert_eq!(err.kind(), ProviderErrorKind::RateLimited, "{err}");
    assert_eq!(server.requests(), 2);

    server.fail_next(Fault::Garbage);
    let err = failure(&op, "op://Prod/Postgres/password").await;
    assert_eq!(err.kind(), ProviderErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("cannot read"), "{err}");
    assert!(!err.to_string().contains("proxy login"), "{err}");
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let server = server().await;
    let op = provider(&server);
    let _ = failure(&op, "op://Prod/Nope/password").await;
    let before = server.requests();
    let _ = failure(&op, "op://Prod/Nope/password").await;
    assert_eq!(
        server.requests(),
        before,
        "listings are cached; the miss costs nothing more"
    );
    let wrong = OnePassword::builder()
        .connect(&server.url(), "nope")
        .unwrap();
    server.reset_counts();
    let _ = failure(&wrong, "op://Prod/Postgres/password").await;
    assert_eq!(server.requests(), 1, "401 is not retried");
}

#[tokio::test]
async fn slow_servers_time_out() {
    let server = server().await;
    let op = OnePassword::builder()
        .timeout(Duration::from_millis(200))
        .retry(RetryPolicy::never())
        .connect(&server.url(), TOKEN)
        .unwrap();
    server.fail_next(Fault::Slow(Duration::from_secs(2)));
    let err = failure(&op, "op://Prod/Postgres/password").await;
    assert_eq!(err.kind(), ProviderErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn check_reports_unreachable_servers() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = unused.local_addr().unwrap();
    drop(unused);
    let op = OnePassword::builder()
        .retry(RetryPolicy::never())
        .connect(&format!("http://{addr}"), TOKEN)
        .unwrap();
    let err = op.check().await.unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().kind(),
        ProviderErrorKind::Unavailable,
        "{err}"
    );
}

#[test]
fn construction_errors_are_clear() {
    let err = OnePassword::connect("not a url", TOKEN).unwrap_err();
    assert!(err.to_string().contains("is not an http(s) URL"), "{err}");
    let err = OnePassword::connect("http://127.0.0.1:8080", "").unwrap_err();
    assert!(err.to_string().contains("token is empty"), "{err}");
    // A password in the host is refused, and shown nowhere.
    for host in [
        "http://user:Hunter2Pass@127.0.0.1:8080",
        "https://Hunter2Pass@connect.example.com/v1/",
        "http://user:Hunter2Pass@bad host",
        "user:Hunter2Pass@127.0.0.1:8080",
    ] {
        let err = OnePassword::connect(host, TOKEN).unwrap_err();
        assert_eq!(
            err.provider_error().map(|e| e.kind()),
            Some(ProviderErrorKind::Configuration),
            "{err}"
        );
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("Hunter2Pass"), "{shown}");
        }
    }
    let err = OnePassword::connect("http://user:Hunter2Pass@127.0.0.1:8080", TOKEN).unwrap_err();
    assert!(err.to_string().contains("user name or password"), "{err}");
    let op = OnePassword::connect("http://127.0.0.1:8080/v1/", TOKEN).unwrap();
    let debug = format!("{op:?}");
    assert!(
        debug.contains("127.0.0.1:8080") && !debug.contains(TOKEN),
        "{debug}"
    );
    assert_eq!(op.id(), "1password");
    assert_eq!(op.scheme(), "op");
    assert!(op.check_reference("op://a/b/c").is_ok());
    let _: SecretReference = "op://a/b/c".parse().unwrap();
}

/// Issue 20: Connect under the hostile conformance check, through the crate's fault proxy:
/// redirects to another origin, endless answers, echoed credentials, absurd numbers.
#[cfg(feature = "conformance")]
#[tokio::test]
async fn connect_survives_a_hostile_server() {
    use std::sync::Arc;

    use request_vault::provider::conformance::{Case, FaultProxy, Options, Sink, check_hostile};

    let server = server().await;
    let proxy = FaultProxy::start(server.addr).await.unwrap();
    let sink = Sink::start().await.unwrap();
    let provider = OnePassword::builder()
        .retry(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1)),
        )
        .connect(&proxy.url(), TOKEN)
        .unwrap();
    let provider: Arc<dyn ExternalProvider> = Arc::new(provider);
    let case = Case::value("op://Prod/Postgres/password", "pg-pa55word");
    let options = Options::new().credential(TOKEN);
    let failures = check_hostile(provider, &proxy, &sink, &case, &options).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Issue 20, item 8: `clear_cache()` is a barrier. The stand-in's value is rotated at each
/// clear; a resolve started after `clear_cache()` returned must never get the value from
/// before it, although an item fetch begun before the clear is still in flight (the
/// stand-in answers what it held when the request arrived, 5 ms later). Through a vault
/// and through the provider alone, by IDs (the item fetch is the first request) and by
/// names (listings first); 1,280 resolves after a clear in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_resolve_started_after_clear_cache_gets_a_value_from_before_it() {
    const ROUNDS: usize = 20;
    const CALLERS: usize = 16;
    let data = Data {
        vaults: vec![vault(
            "Prod",
            vec![item(
                "Rotating",
                vec![field("password", "CONCEALED", "generation 0")],
            )],
        )],
    };
    let server = ConnectServer::start(data, TOKEN, Duration::from_millis(5)).await;
    let by_id = format!(
        "op://{}/{}/password",
        id("vault Prod"),
        id("item Rotating 1")
    );
    let stale = tokio::time::timeout(Duration::from_secs(60), async {
        let mut stale = Vec::new();
        for through_vault in [true, false] {
            for reference in [by_id.as_str(), "op://Prod/Rotating/password"] {
                let provider = provider(&server);
                let vault = Vault::new();
                vault.add_provider(provider.clone());
                vault.link("db", reference).unwrap();
                let resolve = || {
                    let (vault, provider) = (vault.clone(), provider.clone());
                    tokio::spawn(generation_of(vault, provider, reference.to_owned(), through_vault))
                };
                let clear = || {
                    if through_vault {
                        vault.clear_cache();
                    } else {
                        provider.clear_cache();
                    }
                };
                for round in 1..=ROUNDS {
                    // Callers that start before the clear, with their fetch in flight.
                    clear();
                    let requests = server.requests();
                    let before: Vec<_> = (0..CALLERS)
                        .map(|_| resolve())
                        .collect();
                    while server.requests() == requests {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                    server.set_value("Rotating", "password", &format!("generation {round}"));
                    clear();
                    let after: Vec<_> = (0..CALLERS)
                        .map(|_| resolve())
                        .collect();
                    for caller in before {
                        caller.await.unwrap();
                    }
                    for caller in after {
                        let generation = caller.await.unwrap();
                        if generation < round {
                            stale.push(format!(
                                "{reference} (vault: {through_vault}), round {round}: got generation {generation}"
                            ));
                        }
                    }
                }
            }
        }
        stale
    })
    .await
    .expect("the stress test ends within a minute");
    assert!(stale.is_empty(), "{} stale: {stale:#?}", stale.len());
}

/// The generation a resolve got, through `vault` (linked as `db`) or `provider` alone.
async fn generation_of(
    vault: Vault,
    provider: OnePassword,
    reference: String,
    through_vault: bool,
) -> usize {
    let value = if through_vault {
        vault.resolve("db").await.map_err(|e| e.to_string())
    } else {
        provider
            .resolve(&reference)
            .await
            .map_err(|e| e.to_string())
    };
    let value = value.unwrap_or_else(|e| panic!("{reference}: {e}"));
    let generation = value.expose_secret().trim_start_matches("generation ");
    generation.parse().unwrap()
}
