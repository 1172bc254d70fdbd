//! The Google Cloud Secret Manager provider against the HTTPS stand-in
//! (`tests/common/gcp/`), reached under Google's real host names: every credential kind,
//! versions, aliases and regional endpoints, JSON keys, request counts, each error, CRC32C
//! mismatches, token renewal, offline reference checks, leak checks and the conformance
//! suite (contract, transient faults, hostile server).

use crate::common;

use common::gcp::{
    Fault, GcloudStandIn, GcpServer, IMPERSONATED, REFRESH_TOKEN, SERVICE_ACCOUNT, State,
    TOKEN_PREFIX, USER_CLIENT_SECRET, authorized_user_json, private_key, service_account_json,
};
use request_vault::{
    Error, ExposeSecret, ExternalProvider, GcpSecretManager, ProviderErrorKind, Vault,
};

fn kind(error: &Error) -> ProviderErrorKind {
    error
        .provider_error()
        .unwrap_or_else(|| panic!("not a provider error: {error}"))
        .kind()
}

fn service_account(server: &GcpServer) -> GcpSecretManager {
    server
        .builder()
        .service_account_key(&service_account_json())
        .unwrap()
}

async fn value(provider: &GcpSecretManager, reference: &str) -> String {
    provider
        .resolve(reference)
        .await
        .unwrap_or_else(|e| panic!("{reference}: {e}"))
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn a_service_account_reads_latest_pinned_and_aliased_versions() {
    let server = GcpServer::start().await;
    server.put("db-password", "first-value");
    let second = server.put("db-password", "second-value");
    server.alias("db-password", "stable", 1);
    let provider = service_account(&server);

    assert_eq!(
        value(&provider, "gcpsecrets://test-project/db-password").await,
        "second-value"
    );
    assert_eq!(
        value(
            &provider,
            &format!("ref+gcpsecrets://test-project/db-password?version={second}")
        )
        .await,
        "second-value"
    );
    assert_eq!(
        value(&provider, "gcpsecrets://123456789012/db-password?version=1").await,
        "first-value"
    );
    assert_eq!(
        value(
            &provider,
            "gcpsecrets://test-project/db-password?version=stable"
        )
        .await,
        "first-value"
    );

    // One token (a signed JWT exchanged at the key's token_uri), one access each.
    assert_eq!(GcpServer::count(&server.counters().oauth), 1);
    assert_eq!(server.accesses(), 4);
    let log = server.log();
    let token_request = log.iter().find(|l| l.contains("/token")).unwrap();
    assert!(token_request.starts_with("POST oauth2.googleapis.com /token grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ"), "{token_request}");
    assert!(log.iter().any(|l| l.starts_with(
        "GET secretmanager.googleapis.com /v1/projects/test-project/secrets/db-password/versions/latest:access"
    )), "{log:#?}");
}

#[tokio::test]
async fn json_keys_share_one_access() {
    let server = GcpServer::start().await;
    server.put(
        "db",
        r#"{"user":"admin","password":"p4ss","nested":{"port":5432}}"#,
    );
    let provider = service_account(&server);
    let results = provider
        .resolve_all(&[
            "gcpsecrets://test-project/db#user",
            "gcpsecrets://test-project/db#password",
            "gcpsecrets://test-project/db?version=latest#/nested/port",
            "gcpsecrets://test-project/db#missing",
        ])
        .await;
    assert_eq!(results[0].as_ref().unwrap().expose_secret(), "admin");
    assert_eq!(results[1].as_ref().unwrap().expose_secret(), "p4ss");
    assert_eq!(results[2].as_ref().unwrap().expose_secret(), "5432");
    let missing = results[3].as_ref().unwrap_err();
    assert_eq!(missing.kind(), ProviderErrorKind::NotFound);
    assert!(
        missing.message().contains("nested, password, user"),
        "{missing}"
    );
    assert!(!missing.to_string().contains("p4ss"));
    assert_eq!(
        missing.reference(),
        Some("gcpsecrets://test-project/db#missing")
    );
    assert_eq!(
        server.accesses(),
        1,
        "one access for every #KEY of one version"
    );
}

#[tokio::test]
async fn a_hundred_keys_of_forty_secrets_cost_one_token_and_forty_accesses() {
    let server = GcpServer::start().await;
    let mut references = Vec::new();
    for i in 0..40 {
        server.put(
            &format!("s{i}"),
            &format!(r#"{{"a":"a{i}","b":"b{i}","c":"c{i}"}}"#),
        );
        let keys: &[&str] = if i < 20 {
            &["a", "b", "c"]
        } else {
            &["a", "b"]
        };
        for key in keys {
            references.push((
                format!("n{i}{key}"),
                format!("gcpsecrets://test-project/s{i}#{key}"),
            ));
        }
    }
    assert_eq!(references.len(), 100);
    let vault = Vault::new();
    vault.add_provider(service_account(&server));
    for (name, reference) in &references {
        vault.link(name, reference).unwrap();
    }
    let names: Vec<&str> = references.iter().map(|(n, _)| n.as_str()).collect();
    let values = vault.resolve_all(names.iter().copied()).await.unwrap();
    assert_eq!(values.len(), 100);
    assert_eq!(values["n0a"].expose_secret(), "a0");
    assert_eq!(values["n39b"].expose_secret(), "b39");
    assert_eq!(server.token_requests(), 1);
    assert_eq!(server.accesses(), 40);
    vault.resolve_all(names.iter().copied()).await.unwrap();
    assert_eq!(
        (server.token_requests(), server.accesses()),
        (1, 40),
        "warm: nothing"
    );
}

#[tokio::test]
async fn regional_secrets_are_read_at_their_regional_endpoint() {
    let server = GcpServer::start().await;
    server.put_in(Some("europe-west1"), "eu-key", b"eu-value", State::Enabled);
    server.put("eu-key", "global-value");
    let provider = service_account(&server);
    assert_eq!(
        value(
            &provider,
            "gcpsecrets://test-project/eu-key?location=europe-west1"
        )
        .await,
        "eu-value"
    );
    assert_eq!(
        value(&provider, "gcpsecrets://test-project/eu-key").await,
        "global-value"
    );
    let elsewhere = provider
        .resolve("gcpsecrets://test-project/eu-key?location=us-central1")
        .await
        .unwrap_err();
    assert_eq!(elsewhere.kind(), ProviderErrorKind::NotFound);
    assert!(server.log().iter().any(|l| l.starts_with(
        "GET secretmanager.europe-west1.rep.googleapis.com /v1/projects/test-project/locations/europe-west1/secrets/eu-key/versions/latest:access"
    )));
}

#[tokio::test]
async fn each_error_has_its_kind_and_says_what_happened() {
    let server = GcpServer::start().await;
    server.put_in(None, "disabled", b"x", State::Disabled);
    server.put_in(None, "destroyed", b"x", State::Destroyed);
    server.put("denied", "x");
    server.deny("denied");
    let provider = service_account(&server);
    let cases = [
        (
            "gcpsecrets://test-project/missing",
            ProviderErrorKind::NotFound,
            "not found",
        ),
        (
            "gcpsecrets://test-project/disabled?version=1",
            ProviderErrorKind::Forbidden,
            "is disabled",
        ),
        (
            "gcpsecrets://test-project/destroyed",
            ProviderErrorKind::NotFound,
            "is destroyed",
        ),
        (
            "gcpsecrets://test-project/denied",
            ProviderErrorKind::Forbidden,
            "secretmanager.versions.access",
        ),
        (
            "gcpsecrets://other-project/anything",
            ProviderErrorKind::Forbidden,
            "PERMISSION_DENIED",
        ),
        (
            "gcpsecrets://test-project/disabled?version=7",
            ProviderErrorKind::NotFound,
            "NOT_FOUND",
        ),
        (
            "gcpsecrets://test-project/disabled?version=no-such-alias",
            ProviderErrorKind::NotFound,
            "Alias",
        ),
    ];
    for (reference, expected, says) in cases {
        let error = provider.resolve(reference).await.unwrap_err();
        assert_eq!(error.kind(), expected, "{reference}: {error}");
        assert!(error.message().contains(says), "{reference}: {error}");
        assert_eq!(error.reference(), Some(reference));
    }
}

#[tokio::test]
async fn a_refused_token_is_renewed_once() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let provider = service_account(&server);
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    server.revoke_tokens();
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(GcpServer::count(&server.counters().oauth), 2);
    assert_eq!(GcpServer::count(&server.counters().unauthenticated), 1);

    // A server that refuses every token: one renewal, then Unauthorized.
    server.fail(Fault::Status(401, None));
    server.fail(Fault::Status(401, None));
    server.fail(Fault::Status(401, None));
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unauthorized, "{error}");
    assert_eq!(GcpServer::count(&server.counters().oauth), 3);
}

#[tokio::test]
async fn exhausted_quota_and_unavailability_are_retried() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let provider = service_account(&server);
    server.fail(Fault::Status(429, Some(0)));
    server.fail(Fault::Status(503, None));
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(server.accesses(), 3);
    for _ in 0..5 {
        server.fail(Fault::Status(429, Some(0)));
    }
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::RateLimited);
    assert!(error.message().contains("RESOURCE_EXHAUSTED"), "{error}");
    server.clear_faults();
    for _ in 0..5 {
        server.fail(Fault::Status(503, None));
    }
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unavailable);
}

#[tokio::test]
async fn corrupt_answers_and_answers_for_another_secret_are_refused() {
    let server = GcpServer::start().await;
    server.put("s", "the-value");
    let provider = service_account(&server);
    server.fail(Fault::Corrupt);
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Protocol);
    assert!(error.message().contains("CRC32C"), "{error}");
    assert!(!format!("{error} {error:?}").contains("the-value"));
    server.fail(Fault::OtherSecret);
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Protocol);
    assert!(error.message().contains("another-secret"), "{error}");
    assert_eq!(
        value(&provider, "gcpsecrets://test-project/s").await,
        "the-value"
    );
}

#[tokio::test]
async fn payloads_that_are_not_text_are_refused_without_showing_them() {
    let server = GcpServer::start().await;
    server.put_in(None, "binary", &[0xff, 0xfe, 0x00, 0x41], State::Enabled);
    let provider = service_account(&server);
    let error = provider
        .resolve("gcpsecrets://test-project/binary")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unsupported);
    assert!(error.message().contains("not UTF-8"), "{error}");
}

#[tokio::test]
async fn user_credentials_sign_in_with_their_refresh_token() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let provider = server
        .builder()
        .authorized_user(&authorized_user_json())
        .unwrap();
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    let log = server.log();
    assert!(log.iter().any(|l| {
        l.starts_with("POST oauth2.googleapis.com /token grant_type=refresh_token&client_id=")
    }));
    let debug = format!("{provider:?}");
    assert!(debug.contains("quota-project"), "{debug}");
    for secret in [REFRESH_TOKEN, USER_CLIENT_SECRET] {
        assert!(!debug.contains(secret), "{debug}");
    }

    let revoked = authorized_user_json().replace(REFRESH_TOKEN, "1//0revoked-refresh-token");
    let provider = server.builder().authorized_user(&revoked).unwrap();
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unauthorized);
    assert!(
        error
            .message()
            .contains("invalid_grant: Token has been expired or revoked."),
        "{error}"
    );
}

#[tokio::test]
async fn a_key_the_token_endpoint_refuses_is_unauthorized() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let other = service_account_json().replace(
        SERVICE_ACCOUNT,
        "someone-else@test-project.iam.gserviceaccount.com",
    );
    let provider = server.builder().service_account_key(&other).unwrap();
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unauthorized);
    assert!(
        error
            .message()
            .contains("someone-else@test-project.iam.gserviceaccount.com"),
        "{error}"
    );
    assert!(!format!("{error:?}").contains("BEGIN PRIVATE KEY"));
    // The builder asked for a service account key and refuses other files.
    let error = server
        .builder()
        .service_account_key(&authorized_user_json())
        .unwrap_err();
    assert_eq!(kind(&error), ProviderErrorKind::Configuration);
    assert!(!error.to_string().contains(REFRESH_TOKEN), "{error}");
}

#[tokio::test]
async fn workload_identity_federation_from_a_file_with_impersonation() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", common::gcp::SUBJECT_TOKEN)).unwrap();
    let direct = server
        .builder()
        .external_account(&server.external_account_file(&token_file, false))
        .unwrap();
    assert_eq!(value(&direct, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(GcpServer::count(&server.counters().sts), 1);
    assert_eq!(GcpServer::count(&server.counters().iam), 0);

    let impersonating = server
        .builder()
        .external_account(&server.external_account_file(&token_file, true))
        .unwrap();
    assert_eq!(
        value(&impersonating, "gcpsecrets://test-project/s").await,
        "v"
    );
    assert_eq!(GcpServer::count(&server.counters().sts), 2);
    assert_eq!(GcpServer::count(&server.counters().iam), 1);
    assert!(format!("{impersonating:?}").contains(IMPERSONATED));

    std::fs::write(&token_file, "a-token-sts-refuses").unwrap();
    impersonating.clear_cache();
    let error = impersonating
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unauthorized, "{error}");
    assert!(
        error.message().contains("Security Token Service"),
        "{error}"
    );
}

#[tokio::test]
async fn impersonated_credentials_act_as_their_service_account() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let source: serde_json::Value = serde_json::from_str(&authorized_user_json()).unwrap();
    let file = serde_json::json!({
        "type": "impersonated_service_account",
        "service_account_impersonation_url": format!(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{IMPERSONATED}:generateAccessToken"
        ),
        "source_credentials": source,
        "delegates": [],
    });
    let provider = server
        .builder()
        .credentials_json(&file.to_string())
        .unwrap();
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(GcpServer::count(&server.counters().oauth), 1);
    assert_eq!(GcpServer::count(&server.counters().iam), 1);
    let debug = format!("{provider:?}");
    assert!(debug.contains(IMPERSONATED), "{debug}");
    assert!(!debug.contains(REFRESH_TOKEN), "{debug}");
}

#[tokio::test]
async fn workload_identity_federation_from_a_url() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let provider = server
        .builder()
        .external_account(&server.external_account_url())
        .unwrap();
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(GcpServer::count(&server.counters().subject), 1);
    assert_eq!(GcpServer::count(&server.counters().sts), 1);
}

#[tokio::test]
async fn the_metadata_server_gives_the_hosts_token() {
    if std::env::var_os("GCE_METADATA_HOST").is_some() {
        eprintln!("skipped: GCE_METADATA_HOST is set in this environment");
        return;
    }
    let server = GcpServer::start().await;
    server.put("s", "v");
    let provider = server.builder().metadata_server().unwrap();
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(GcpServer::count(&server.counters().metadata), 1);
    assert!(server.log().iter().any(|l| l.starts_with(
        "GET metadata.google.internal /computeMetadata/v1/instance/service-accounts/default/token"
    )));
}

#[tokio::test]
async fn gcloud_prints_the_token_and_says_when_signed_out() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let gcloud = GcloudStandIn::new(&common::gcp::issue_for(&server, "user@example.com"));
    let provider = server
        .builder()
        .gcloud_path(gcloud.program())
        .gcloud()
        .unwrap();
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(gcloud.calls(), 1, "the printed token is kept");

    server.revoke_tokens();
    gcloud.set_token(&common::gcp::issue_for(&server, "user@example.com"));
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(gcloud.calls(), 2, "a refused token is renewed");

    gcloud.sign_out();
    provider.clear_cache();
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unauthorized);
    assert!(error.message().contains("gcloud auth login"), "{error}");

    let missing = server
        .builder()
        .gcloud_path("/nonexistent/gcloud")
        .gcloud()
        .unwrap();
    let error = missing
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Configuration);
}

#[tokio::test]
async fn huge_token_lifetimes_saturate() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    server.set_token_lifetime(u64::MAX);
    let provider = service_account(&server);
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(value(&provider, "gcpsecrets://test-project/s").await, "v");
    assert_eq!(GcpServer::count(&server.counters().oauth), 1);
}

#[tokio::test]
async fn references_are_checked_offline_when_linked() {
    let server = GcpServer::start().await;
    let vault = Vault::new();
    vault.add_provider(service_account(&server));
    vault
        .link(
            "ok",
            "ref+gcpsecrets://test-project/db?version=3&location=europe-west1#/a/b",
        )
        .unwrap();
    for (reference, offset) in [
        ("gcpsecrets://Test-Project/db", 13),
        ("gcpsecrets://test-project/db.x", 28),
        ("gcpsecrets://test-project/db?version=0", 37),
        ("gcpsecrets://test-project/db?region=eu", 29),
    ] {
        let error = vault.link("bad", reference).unwrap_err();
        assert_eq!(
            error.kind(),
            request_vault::ErrorKind::InvalidReference,
            "{error}"
        );
        assert_eq!(error.offset(), Some(offset), "{reference}: {error}");
    }
    assert_eq!(
        server.token_requests() + server.accesses(),
        0,
        "nothing was sent"
    );
}

#[tokio::test]
async fn nothing_shows_a_credential() {
    let server = GcpServer::start().await;
    server.put("s", "v");
    let provider = service_account(&server);
    provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap();
    server.fail(Fault::Echo(400));
    let error = provider
        .resolve("gcpsecrets://test-project/s")
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?} {provider:?}");
    assert!(
        shown.contains("[credential]"),
        "the echoed token was masked: {shown}"
    );
    for secret in [
        TOKEN_PREFIX,
        "BEGIN PRIVATE KEY",
        private_key().lines().nth(1).unwrap(),
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

/// A caller's client built from reqwest's defaults follows redirects. A read redirected to
/// another origin carries no token there (the token goes in `Authorization`, which reqwest
/// drops on a hop to another origin; the door's bodies cannot be sent twice), and the
/// provider refuses the redirect or the other origin's answer.
#[tokio::test]
async fn a_read_redirected_by_a_following_client_carries_no_token() {
    let elsewhere = common::http::HttpServer::start().await;
    let server = GcpServer::start().await;
    server.put("redirected", "redirected-value");
    let provider = GcpSecretManager::builder()
        .client(server.following_client())
        .retry(common::gcp::quick_retries())
        .service_account_key(&service_account_json())
        .unwrap();
    for status in [301, 302, 303, 307, 308] {
        server.fail(Fault::Redirect(
            status,
            format!("{}/v1/elsewhere", elsewhere.url()),
        ));
        let error = provider
            .resolve("gcpsecrets://test-project/redirected")
            .await
            .unwrap_err();
        assert_eq!(
            error.kind(),
            ProviderErrorKind::Protocol,
            "{status}: {error}"
        );
        assert!(error.message().contains("redirect"), "{status}: {error}");
    }
    // reqwest follows a 303 (or a 301/302 of a request it may resend) as a bare GET: it
    // reaches the other origin without the token, without a body, and its answer is refused.
    let received = elsewhere.received();
    for request in &received {
        let text = format!(
            "{}\n{}",
            request.head,
            String::from_utf8_lossy(&request.body)
        );
        assert!(!text.contains(TOKEN_PREFIX), "{text}");
        assert!(request.header("authorization").is_none(), "{text}");
        assert!(request.body.is_empty(), "{text}");
    }
}

#[cfg(feature = "conformance")]
mod conformance {
    use super::*;
    use common::gcp::{PROJECT, quick_retries};
    use request_vault::provider::conformance::{
        Case, FaultProxy, Options, Sink, check_faults, check_hostile, check_with,
    };
    use std::sync::Arc;

    fn options() -> Options {
        Options::new()
            .credential(private_key())
            .credential(TOKEN_PREFIX)
            .credential(REFRESH_TOKEN)
    }

    #[tokio::test]
    async fn the_provider_keeps_the_contract() {
        let server = GcpServer::start().await;
        server.put("conformance", "conformance-value");
        let provider: Arc<dyn ExternalProvider> = Arc::new(service_account(&server));
        let cases = [
            Case::value(
                format!("gcpsecrets://{PROJECT}/conformance"),
                "conformance-value",
            ),
            Case::error(
                format!("gcpsecrets://{PROJECT}/absent"),
                ProviderErrorKind::NotFound,
            ),
            Case::invalid("gcpsecrets://test-project/not/a/secret"),
            Case::invalid("gcpsecrets://x"),
        ];
        let failures = check_with(provider, &cases, &options()).await;
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[tokio::test]
    async fn transient_faults_are_retried() {
        let server = GcpServer::start().await;
        server.put("faults", "faults-value");
        let proxy = FaultProxy::start(server.plain).await.unwrap();
        let provider = server
            .builder()
            .endpoint(proxy.url())
            .retry(quick_retries().max_attempts(4))
            .service_account_key(&service_account_json())
            .unwrap();
        let case = Case::value(format!("gcpsecrets://{PROJECT}/faults"), "faults-value");
        let failures = check_faults(Arc::new(provider), &proxy, &case).await;
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[tokio::test]
    async fn the_provider_survives_a_hostile_server() {
        let server = GcpServer::start().await;
        server.put("hostile", "hostile-value");
        let sink = Sink::start().await.unwrap();
        let provider = server
            .builder()
            .retry(quick_retries().max_attempts(2))
            .service_account_key(&service_account_json())
            .unwrap();
        let case = Case::value(format!("gcpsecrets://{PROJECT}/hostile"), "hostile-value");
        let failures = check_hostile(Arc::new(provider), &server, &sink, &case, &options()).await;
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
