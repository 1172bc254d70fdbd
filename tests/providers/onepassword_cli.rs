//! Service accounts through `op`, against the stand-in `tests/fixtures/op` (see its header
//! for the CLI behaviour it reproduces), and token parsing with generated tokens.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::op::{StandIn, token};
use request_vault::onepassword::ServiceAccountToken;
use request_vault::{
    ErrorKind, ExposeSecret, ExternalProvider, OnePassword, ProviderErrorKind, Vault,
};

fn data() -> Vec<(&'static str, &'static str)> {
    vec![
        ("op://Prod/Postgres/password", "pg-pa55word"),
        ("op://Prod/Postgres/username", "admin"),
        ("op://dev/stripe/api keys/secret?attribute=otp", "654321"),
        (
            "op://Prod/Tricky/value",
            "}} {{ op://Prod/Postgres/password }} <<rv-",
        ),
        ("op://Prod/Dupe/password", "!ambiguous"),
        ("op://Prod/Limited/password", "!ratelimit"),
    ]
}

#[tokio::test]
async fn a_batch_is_one_op_inject_call() {
    let op = StandIn::new(&data());
    let provider = op.provider();
    let references = [
        "op://Prod/Postgres/password",
        "op://prod/postgres/USERNAME",
        "op://dev/stripe/api keys/secret?attribute=otp",
        "op://Prod/Tricky/value",
    ];
    let results = provider.resolve_all(&references).await;
    let values: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap().expose_secret().to_owned())
        .collect();
    assert_eq!(
        values,
        [
            "pg-pa55word",
            "admin",
            "654321",
            "}} {{ op://Prod/Postgres/password }} <<rv-"
        ]
    );
    let calls = op.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("inject"), "{calls:?}");
    assert!(
        !calls[0].contains(&op.token),
        "the token is never an argument"
    );
}

#[tokio::test]
async fn failures_are_attributed_per_reference() {
    let op = StandIn::new(&data());
    let provider = op.provider();
    let references = [
        "op://Prod/Postgres/password",
        "op://Prod/Missing/password",
        "op://Prod/Dupe/password",
    ];
    let results = provider.resolve_all(&references).await;
    assert_eq!(results[0].as_ref().unwrap().expose_secret(), "pg-pa55word");
    let missing = results[1].as_ref().unwrap_err();
    assert_eq!(missing.kind(), ProviderErrorKind::NotFound, "{missing}");
    assert!(missing.to_string().contains("isn't an item"), "{missing}");
    assert_eq!(missing.reference(), Some("op://Prod/Missing/password"));
    let dupe = results[2].as_ref().unwrap_err();
    assert_eq!(dupe.kind(), ProviderErrorKind::Ambiguous, "{dupe}");
    assert_eq!(
        dupe.candidates(),
        ["aaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbb"]
    );
    // One inject, then one read each.
    assert_eq!(op.calls().len(), 4, "{:?}", op.calls());
}

#[tokio::test]
async fn rate_limits_and_auth_fail_the_batch_without_more_calls() {
    let op = StandIn::new(&data());
    let provider = op.provider();
    let results = provider
        .resolve_all(&["op://Prod/Postgres/password", "op://Prod/Limited/password"])
        .await;
    for result in &results {
        assert_eq!(
            result.as_ref().unwrap_err().kind(),
            ProviderErrorKind::RateLimited
        );
    }
    assert_eq!(op.calls().len(), 1);

    let wrong = OnePassword::builder()
        .op_path(op.program())
        .service_account(token("example.1password.com", "other@example.com"))
        .unwrap();
    let err = wrong
        .resolve("op://Prod/Postgres/password")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized, "{err}");
    assert!(wrong.check().await.is_err());
    wrong.reauthenticate(op.token.clone()).unwrap();
    wrong.check().await.unwrap();
    assert_eq!(
        wrong
            .resolve("op://Prod/Postgres/password")
            .await
            .unwrap()
            .expose_secret(),
        "pg-pa55word"
    );
}

#[tokio::test]
async fn the_vault_uses_service_accounts_too() {
    let op = StandIn::new(&data());
    let vault = Vault::new();
    vault.add_provider(op.provider());
    vault.link("db", "op://Prod/Postgres/password").unwrap();
    vault.link("user", "op://Prod/Postgres/username").unwrap();
    let values = vault.resolve_all(["db", "user"]).await.unwrap();
    assert_eq!(values["db"].expose_secret(), "pg-pa55word");
    assert_eq!(op.calls().len(), 1);
    vault.resolve("db").await.unwrap();
    assert_eq!(op.calls().len(), 1, "cached");
}

#[tokio::test]
async fn a_missing_op_says_how_to_install_it() {
    let provider = OnePassword::builder()
        .op_path("/nonexistent/bin/op")
        .service_account(token("example.1password.com", "a@example.com"))
        .unwrap();
    let err = provider
        .resolve("op://Prod/Postgres/password")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Configuration);
    assert!(
        err.to_string().contains("install the 1Password CLI"),
        "{err}"
    );
}

#[tokio::test]
async fn a_hung_op_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("op");
    std::fs::write(&script, "#!/usr/bin/env bash\nexec sleep 30\n").unwrap();
    make_executable(&script);
    let provider = OnePassword::builder()
        .op_path(&script)
        .timeout(Duration::from_millis(300))
        .service_account(token("example.1password.com", "a@example.com"))
        .unwrap();
    let err = provider
        .resolve("op://Prod/Postgres/password")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Timeout, "{err}");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn tokens_parse_and_show_nothing_secret() {
    let raw = token("my.1password.eu", "ci@corp.example");
    let parsed = ServiceAccountToken::parse(raw.clone().into()).unwrap();
    assert_eq!(parsed.sign_in_address(), "my.1password.eu");
    assert_eq!(parsed.email_domain(), "corp.example");
    let debug = format!("{parsed:?}");
    for secret in [
        "A3-TESTKEY",
        "muk-secret",
        "5eb1f0aa00ff",
        "throttle-secret",
        &raw[4..30],
    ] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[test]
fn malformed_tokens_are_clear_errors() {
    let cases = [
        ("eyJhbGciOiJFUzI1NiJ9", "does not start with `ops_`"),
        ("ops_***not base64***", "not base64url"),
        (
            &*format!("ops_{}", URL_SAFE_NO_PAD.encode("{\"email\":\"a@b\"}")),
            "does not hold the JSON",
        ),
        (
            &*format!("ops_{}", URL_SAFE_NO_PAD.encode("not json")),
            "does not hold the JSON",
        ),
    ];
    for (raw, text) in cases {
        let err = ServiceAccountToken::parse(raw.to_owned().into()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Provider);
        assert_eq!(
            err.provider_error().unwrap().kind(),
            ProviderErrorKind::Configuration
        );
        assert!(err.to_string().contains(text), "{raw}: {err}");
        assert!(!err.to_string().contains(raw), "{err}");
    }
}

/// `from_env` reads the process environment, so each case runs in a child process: this
/// test binary itself, running the ignored `from_env_child` with the case's variables.
#[test]
fn from_env_prefers_connect_like_the_op_cli() {
    let service = token("example.1password.com", "a@example.com");
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[
                ("OP_CONNECT_HOST", "http://127.0.0.1:9"),
                ("OP_CONNECT_TOKEN", "t"),
                ("OP_SERVICE_ACCOUNT_TOKEN", &service),
            ],
            "connect",
        ),
        (&[("OP_SERVICE_ACCOUNT_TOKEN", &service)], "op"),
        (
            &[
                ("OP_CONNECT_HOST", "http://127.0.0.1:9"),
                ("OP_SERVICE_ACCOUNT_TOKEN", &service),
            ],
            "op",
        ),
        (&[("OP_CONNECT_HOST", "http://127.0.0.1:9")], "error"),
        (&[], "error"),
    ];
    for (vars, expected) in cases {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "onepassword_cli::from_env_child",
                "--ignored",
                "--nocapture",
            ])
            .env_remove("OP_CONNECT_HOST")
            .env_remove("OP_CONNECT_TOKEN")
            .env_remove("OP_SERVICE_ACCOUNT_TOKEN")
            .env("REQUEST_VAULT_EXPECT", expected);
        for (key, value) in vars {
            child.env(key, value);
        }
        let output = child.output().unwrap();
        assert!(
            output.status.success(),
            "{vars:?}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "the child ran"
        );
    }
}

#[test]
#[ignore = "run by from_env_prefers_connect_like_the_op_cli in a child process"]
fn from_env_child() {
    // Run on its own (`--include-ignored`), it has nothing to do.
    let Ok(expected) = std::env::var("REQUEST_VAULT_EXPECT") else {
        return;
    };
    match (OnePassword::from_env(), expected.as_str()) {
        (Ok(provider), kind) => {
            let debug = format!("{provider:?}");
            assert!(debug.contains(&format!("transport: \"{kind}\"")), "{debug}");
        }
        (Err(err), "error") => assert!(err.to_string().contains("OP_CONNECT"), "{err}"),
        (Err(err), _) => panic!("{err}"),
    }
}

#[tokio::test]
async fn cli_sign_in_resolves_without_a_token() {
    let op = StandIn::new(&data());
    op.sign_in(Some("signed-in"));
    let provider = op.cli_provider();
    provider.check().await.unwrap();
    let results = provider
        .resolve_all(&["op://Prod/Postgres/password", "op://prod/postgres/USERNAME"])
        .await;
    let values: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap().expose_secret().to_owned())
        .collect();
    assert_eq!(values, ["pg-pa55word", "admin"]);
    let calls = op.calls();
    assert_eq!(calls.len(), 2, "whoami, then one inject: {calls:?}");
    for call in &calls {
        assert!(
            call.ends_with("connect_host=unset sa_token=unset"),
            "{calls:?}"
        );
    }
    let debug = format!("{provider:?}");
    assert!(debug.contains("sign_in: \"op\""), "{debug}");

    // Through a vault, as a developer would use it.
    let vault = Vault::new();
    vault.add_provider(provider.clone());
    vault.link("db", "op://Prod/Postgres/password").unwrap();
    assert_eq!(
        vault.resolve("db").await.unwrap().expose_secret(),
        "pg-pa55word"
    );

    // It has no token to swap.
    let err = provider.reauthenticate(op.token.clone()).unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().kind(),
        ProviderErrorKind::Configuration,
        "{err}"
    );
    assert!(err.to_string().contains("op signin"), "{err}");
    assert!(!err.to_string().contains(&op.token), "{err}");
}

#[tokio::test]
async fn cli_check_says_when_op_is_not_signed_in() {
    let op = StandIn::new(&data());
    let provider = op.cli_provider();
    for (state, said) in [
        (None, "You are not currently signed in"),
        (Some("locked"), "account is not signed in"),
    ] {
        op.sign_in(state);
        let err = provider.check().await.unwrap_err();
        let failure = err.provider_error().unwrap();
        assert_eq!(failure.kind(), ProviderErrorKind::Unauthorized, "{err}");
        let text = err.to_string();
        assert!(text.contains(said), "{text}");
        assert!(text.contains("sign in with `op signin`"), "{text}");
        assert!(text.contains("1Password app"), "{text}");

        // Resolving says the same, for the whole batch, in one call.
        let before = op.calls().len();
        let results = provider
            .resolve_all(&["op://Prod/Postgres/password", "op://Prod/Missing/password"])
            .await;
        for result in results {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::Unauthorized, "{err}");
            assert!(err.to_string().contains("op signin"), "{err}");
        }
        assert_eq!(op.calls().len(), before + 1);
    }
    op.sign_in(Some("signed-in"));
    provider.check().await.unwrap();
}

#[test]
fn cli_needs_op_to_be_found() {
    let err = OnePassword::builder()
        .op_path("/nonexistent/bin/op")
        .cli()
        .unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().kind(),
        ProviderErrorKind::Configuration
    );
    assert!(
        err.to_string().contains("install the 1Password CLI"),
        "{err}"
    );
}

/// The `op` child of a provider using the CLI's own sign-in never receives a service-account
/// token or Connect variables, even when the caller's environment holds them: this test binary
/// runs the ignored `cli_child_environment` with such variables planted.
#[test]
fn cli_keeps_service_credentials_from_op() {
    let planted = token("example.1password.com", "planted@example.com");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "onepassword_cli::cli_child_environment",
            "--ignored",
            "--nocapture",
        ])
        .env("REQUEST_VAULT_CLI_CHILD", "1")
        .env("OP_SERVICE_ACCOUNT_TOKEN", &planted)
        .env("OP_CONNECT_HOST", "http://127.0.0.1:9")
        .env("OP_CONNECT_TOKEN", "planted-connect-token")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "the child ran: {stdout}");
}

#[tokio::test]
#[ignore = "run by cli_keeps_service_credentials_from_op in a child process"]
async fn cli_child_environment() {
    // Run on its own (`--include-ignored`), it has nothing to do.
    if std::env::var_os("REQUEST_VAULT_CLI_CHILD").is_none() {
        return;
    }
    assert!(std::env::var_os("OP_SERVICE_ACCOUNT_TOKEN").is_some());
    let op = StandIn::new(&data());
    op.sign_in(Some("signed-in"));
    let provider = op.cli_provider();
    provider.check().await.unwrap();
    assert_eq!(
        provider
            .resolve("op://Prod/Postgres/password")
            .await
            .unwrap()
            .expose_secret(),
        "pg-pa55word"
    );
    let calls = op.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        assert!(
            call.ends_with("connect_host=unset sa_token=unset"),
            "{calls:?}"
        );
    }
}

/// Issue 20: `op` under the hostile conformance check, built as users build the provider.
/// An endless output (standard output, then standard error) is read up to the cap and
/// `op` is stopped; an error that echoes `op`'s environment shows no service-account token.
#[cfg(feature = "conformance")]
#[tokio::test]
async fn op_survives_a_hostile_cli() {
    use std::sync::Arc;

    use request_vault::provider::conformance::{Case, Options, Sink, check_hostile};

    let op = StandIn::new(&data());
    let sink = Sink::start().await.unwrap();
    let case = Case::value("op://Prod/Postgres/password", "pg-pa55word");
    let options = Options::new().credential(op.token.clone());
    let provider: Arc<dyn ExternalProvider> = Arc::new(op.provider());
    let failures = check_hostile(provider, &op, &sink, &case, &options).await;
    assert!(failures.is_empty(), "{failures:#?}");
    let hostile: Vec<String> = op
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("inject"))
        .collect();
    assert_eq!(
        hostile.len(),
        4,
        "two endless outputs, two echoes: {hostile:?}"
    );

    // With the CLI's own sign-in, and a smaller cap.
    op.sign_in(Some("signed-in"));
    let provider = OnePassword::builder()
        .op_path(op.program())
        .max_response_bytes(64 * 1024)
        .cli()
        .unwrap();
    let options = Options::new()
        .credential(op.token.clone())
        .max_response_bytes(64 * 1024);
    let failures = check_hostile(Arc::new(provider), &op, &sink, &case, &options).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The output cap's error says where the cap is set, and `op` is not left running. (The
/// flood is 256 MiB rather than endless, so that a regression costs memory, not the machine.)
#[tokio::test]
async fn a_flooding_op_is_stopped_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("op");
    let pid = dir.path().join("pid");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env bash\necho $$ > '{}'\nexec head -c 268435456 /dev/zero\n",
            pid.display()
        ),
    )
    .unwrap();
    make_executable(&script);
    let provider = OnePassword::builder()
        .op_path(&script)
        .max_response_bytes(1024 * 1024)
        .service_account(token("example.1password.com", "a@example.com"))
        .unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        provider.resolve("op://Prod/Postgres/password"),
    )
    .await
    .expect("the resolve stops at the cap")
    .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("cap of 1048576 bytes"), "{err}");
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
    let pid = std::fs::read_to_string(&pid).unwrap();
    let alive = Path::new("/proc").join(pid.trim());
    // Killed and reaped: no process, not even a zombie, is left.
    assert!(!alive.exists(), "`op` (pid {}) still runs", pid.trim());
}
