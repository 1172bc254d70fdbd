//! The provider edge under a hostile server (issue 20) and the login sent once (issue 24):
//! redirects to another origin carry no token, secret ID or body there, with the crate's
//! client and with a caller's client that follows redirects; absurd lease numbers resolve;
//! an endless mount look-up is cut at the cap; an error body echoing the token and the
//! secret ID shows neither; a login whose reply is lost is not sent again.

use std::time::Duration;

use crate::common::hashicorp::{Fault, TOKEN, VaultServer, builder, state};
use crate::common::http::{HttpServer, Received};
use request_vault::{ExposeSecret, ExternalProvider, HashiCorpVault, ProviderErrorKind, Vault};

const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];
const ROLE_ID: &str = "role-id-edge";
const SECRET_ID: &str = "secret-id-edge-7f3a";

/// The fixture server with an AppRole login.
async fn approle_server() -> VaultServer {
    let mut s = state();
    s.login(
        "approle",
        "approle",
        ROLE_ID,
        SECRET_ID,
        Duration::from_secs(3600),
    );
    VaultServer::start(s).await
}

/// Every token the server handed out, the fixture's root token, and the AppRole's
/// credentials: what must never reach another origin or an error.
fn credentials(server: &VaultServer) -> Vec<String> {
    let mut all: Vec<String> = server
        .state
        .lock()
        .unwrap()
        .tokens
        .keys()
        .cloned()
        .collect();
    all.extend([TOKEN.to_owned(), ROLE_ID.to_owned(), SECRET_ID.to_owned()]);
    all
}

/// Asserts that no credential reached `elsewhere`, in a request's head or body.
fn no_credential_reached(server: &VaultServer, elsewhere: &HttpServer) {
    let received: String = elsewhere
        .received()
        .iter()
        .map(|r: &Received| format!("{}\n{}\n", r.head, String::from_utf8_lossy(&r.body)))
        .collect();
    for credential in credentials(server) {
        assert!(
            !received.contains(&credential),
            "`{credential}` reached another origin:\n{received}"
        );
    }
}

/// A caller's client with reqwest's defaults, which follow redirects.
fn following_client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn a_read_redirected_to_another_origin_sends_it_no_token() {
    let elsewhere = HttpServer::start().await;
    let server = VaultServer::start(state()).await;
    let providers = [
        ("the crate's client", builder(&server).token(TOKEN).unwrap()),
        (
            "a following client",
            builder(&server)
                .client(following_client())
                .token(TOKEN)
                .unwrap(),
        ),
    ];
    for (which, provider) in &providers {
        // The mount is known: the redirect meets the read itself.
        provider.resolve("vault://secret/single").await.unwrap();
        for status in REDIRECTS {
            let before = elsewhere.received().len();
            let location = format!("{}/v1/secret/data/single", elsewhere.url());
            server.fail_next(Fault::Redirect(status, location));
            let result = provider.resolve("vault://secret/single").await;
            no_credential_reached(&server, &elsewhere);
            if *which == "the crate's client" {
                assert_eq!(
                    elsewhere.received().len(),
                    before,
                    "{status}: sent elsewhere"
                );
            }
            let e = result.expect_err("a redirected read must fail");
            assert_eq!(
                e.kind(),
                ProviderErrorKind::Protocol,
                "{which} {status}: {e}"
            );
            assert!(e.message().contains("redirect"), "{which} {status}: {e}");
        }
    }
}

#[tokio::test]
async fn a_login_redirected_to_another_origin_sends_it_no_secret_id() {
    let elsewhere = HttpServer::start().await;
    let server = approle_server().await;
    for (which, follows) in [("the crate's client", false), ("a following client", true)] {
        for status in REDIRECTS {
            let before = elsewhere.received().len();
            let mut b = builder(&server);
            if follows {
                b = b.client(following_client());
            }
            let provider = b.approle(ROLE_ID, SECRET_ID).unwrap();
            let location = format!("{}/v1/auth/approle/login", elsewhere.url());
            server.fail_next(Fault::Redirect(status, location));
            let result = provider.resolve("vault://secret/single").await;
            no_credential_reached(&server, &elsewhere);
            let arrived = &elsewhere.received()[before..];
            if !follows {
                assert!(arrived.is_empty(), "{status}: sent elsewhere");
            }
            // A following client may ask the other origin with a bare GET, never with the body.
            assert!(
                arrived.iter().all(|r| r.body.is_empty()),
                "{which} {status}: a body went elsewhere"
            );
            let e = result.expect_err("a redirected login must fail");
            assert_eq!(
                e.kind(),
                ProviderErrorKind::Protocol,
                "{which} {status}: {e}"
            );
        }
    }
}

#[tokio::test]
async fn leases_of_absurd_length_resolve_every_time() {
    let mut s = state();
    s.roles
        .insert(("".into(), "database/creds/forever".into()), u64::MAX);
    s.roles
        .insert(("".into(), "database/creds/long".into()), i64::MAX as u64);
    let server = VaultServer::start(s).await;
    let provider = builder(&server).token(TOKEN).unwrap();
    let vault = Vault::new();
    vault.add_provider(provider.clone());
    for role in ["forever", "long"] {
        let reference = format!("vault://database/creds/{role}#username");
        vault.link(role, &reference).unwrap();
        for _ in 0..2 {
            let leased = provider.resolve_leased(&reference).await.unwrap();
            assert!(
                leased
                    .value()
                    .expose_secret()
                    .starts_with(&format!("v-{role}-"))
            );
            assert!(leased.max_age().is_some(), "{role}: a lease caps the cache");
            let value = vault.resolve(role).await.unwrap();
            assert!(value.expose_secret().starts_with(&format!("v-{role}-")));
        }
        // Kept for its (endless) lease: read once however often it is asked for.
        assert_eq!(server.count(&format!("GET /v1/database/creds/{role}")), 1);
    }
    vault.clear_cache();
    assert!(vault.resolve("forever").await.is_ok());
}

#[tokio::test]
async fn an_endless_mount_look_up_is_cut_at_the_cap() {
    let server = VaultServer::start(state()).await;
    for declared in [true, false] {
        server.reset_counts();
        let provider = builder(&server).token(TOKEN).unwrap();
        server.fail_next(Fault::Oversized { declared });
        let result = provider.resolve("vault://secret/single").await;
        // The stand-in stops once the provider stops reading: the cap (16 MiB) plus what
        // socket buffers hold, never the gigabyte.
        let mut sent = 0;
        for _ in 0..200 {
            sent = server.oversized_sent();
            if sent > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            sent < 24 << 20,
            "declared {declared}: {sent} bytes went out"
        );
        let e = result.expect_err("a 1 GiB look-up must fail");
        assert_eq!(e.kind(), ProviderErrorKind::Protocol, "{e}");
        assert!(e.message().contains("max_response_bytes"), "{e}");
        assert_eq!(
            server.count("sys/internal/ui/mounts/secret"),
            1,
            "tried again"
        );
    }
    // A smaller cap is a builder setting.
    let small = builder(&server)
        .max_response_bytes(64)
        .token(TOKEN)
        .unwrap();
    let e = small.resolve("vault://secret/single").await.unwrap_err();
    assert!(e.message().contains("64 bytes"), "{e}");
}

#[tokio::test]
async fn an_error_echoing_the_token_and_the_secret_id_shows_neither() {
    let server = approle_server().await;
    // The mount stays known, and the vault caches nothing: the echo answers the read.
    let provider = builder(&server)
        .cache_ttl(Duration::from_secs(3600))
        .approle(ROLE_ID, SECRET_ID)
        .unwrap();
    let vault = Vault::builder().cache_ttl(Duration::ZERO).build();
    vault.add_provider(provider.clone());
    vault.link("single", "vault://secret/single").unwrap();
    vault.resolve("single").await.unwrap();
    server.fail_next(Fault::Echo(400));
    let e = provider.resolve("vault://secret/single").await.unwrap_err();
    server.fail_next(Fault::Echo(400));
    let through_vault = vault.resolve("single").await.unwrap_err();
    let text = format!("{e} {e:?} {through_vault} {through_vault:?}");
    assert!(
        text.contains("[credential]"),
        "the echo was not read: {text}"
    );
    for credential in credentials(&server) {
        assert!(!text.contains(&credential), "`{credential}` shown: {text}");
    }
}

#[tokio::test]
async fn a_login_whose_reply_is_lost_is_sent_once() {
    let server = approle_server().await;
    let provider = builder(&server).approle(ROLE_ID, SECRET_ID).unwrap();
    server.fail_next(Fault::Drop);
    let result = provider.resolve("vault://secret/single").await;
    assert_eq!(
        server.count("POST /v1/auth/approle/login"),
        1,
        "{:#?}",
        server.log()
    );
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ProviderErrorKind::Unavailable, "{e}");
    // The next resolve logs in anew.
    provider.resolve("vault://secret/single").await.unwrap();
    assert_eq!(server.count("POST /v1/auth/approle/login"), 2);
}

#[tokio::test]
async fn a_renewal_whose_reply_is_lost_is_sent_again() {
    let mut s = state();
    s.login(
        "approle",
        "approle",
        ROLE_ID,
        SECRET_ID,
        Duration::from_secs(2),
    );
    let server = VaultServer::start(s).await;
    let provider: HashiCorpVault = builder(&server).approle(ROLE_ID, SECRET_ID).unwrap();
    provider.resolve("vault://secret/single").await.unwrap();
    // Past the token's margin (0.4 s of 2 s): the next resolve renews it first.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    server.fail_next(Fault::Drop);
    provider.resolve("vault://secret/single").await.unwrap();
    // Renewing twice only sets the token's TTL again: sent again rather than logging in.
    assert_eq!(
        server.count("POST /v1/auth/token/renew-self"),
        2,
        "{:#?}",
        server.log()
    );
    assert_eq!(server.count("/login"), 1, "{:#?}", server.log());
}

#[tokio::test]
async fn a_login_and_a_read_share_one_deadline() {
    let server = approle_server().await;
    let provider = builder(&server)
        .mount("secret", request_vault::hashicorp::KvVersion::V2)
        .retry(
            request_vault::provider::RetryPolicy::default()
                .initial_backoff(Duration::from_millis(1))
                .max_elapsed(Duration::from_millis(400)),
        )
        .approle(ROLE_ID, SECRET_ID)
        .unwrap();
    // The login and the read each take 300 ms: each within the policy's 400 ms, together
    // past it.
    server.fail_next(Fault::Slow(Duration::from_millis(300)));
    server.fail_next(Fault::Slow(Duration::from_millis(300)));
    let e = provider
        .resolve("vault://secret/single")
        .await
        .expect_err("the pair outlived the deadline");
    assert_eq!(e.kind(), ProviderErrorKind::Timeout, "{e}");
    assert_eq!(server.count("/login"), 1, "{:#?}", server.log());
}
