//! The provider edge for AWS (issue 20): an answer for another secret is refused, the
//! caller's client carries every request, answers are capped, and credentials echoed by a
//! server never show in an error.

use aws_sdk_ssm::types::ParameterType;
use request_vault::{AwsParameterStore, ExposeSecret, ExternalProvider, ProviderErrorKind, Vault};

use super::common::moto::{ACCESS_KEY_ID, Moto, Proxy, SECRET_ACCESS_KEY};
use super::parameter_store::put_parameter;
use super::{builder, configure, create, provider};

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn an_answer_for_another_secret_is_refused() {
    let moto = moto_or_skip!();
    create(moto, "t10/asked", "asked-value-10").await;
    create(moto, "t10/other", "other-value-10").await;
    let proxy = Proxy::start(moto.url()).await;
    proxy.answer_for_another("t10/asked", "t10/other");
    let (provider, _files) = provider(&proxy.url()).await;
    // A pinned version and a batch of one: both a single GetSecretValue.
    for reference in [
        "awssecrets://t10/asked?version_stage=AWSCURRENT",
        "awssecrets://t10/asked",
    ] {
        let err = provider.resolve(reference).await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Protocol, "{err}");
        assert!(err.to_string().contains("another secret"), "{err}");
        assert!(!format!("{err} {err:?}").contains("other-value-10"));
    }
    assert_eq!(proxy.count("GetSecretValue"), 2);
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn the_callers_client_carries_every_request() {
    let moto = moto_or_skip!();
    create(moto, "t12/s", "v12").await;
    let proxy = Proxy::start(moto.url()).await;
    let client = request_vault::provider::HttpOptions::new()
        .client_builder()
        .unwrap()
        .default_headers(
            [(
                reqwest::header::HeaderName::from_static("x-callers-client"),
                reqwest::header::HeaderValue::from_static("yes"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let secrets = builder(&proxy.url(), &files)
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let parameters = configure(AwsParameterStore::builder(), &proxy.url(), &files)
        .client(client)
        .build()
        .await
        .unwrap();
    assert_eq!(
        secrets
            .resolve("awssecrets://t12/s")
            .await
            .unwrap()
            .expose_secret(),
        "v12"
    );
    let missing = parameters.resolve("awsssm://t12/none").await.unwrap_err();
    assert_eq!(missing.kind(), ProviderErrorKind::NotFound, "{missing}");
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2, "{:?}", proxy.counts());
    for request in seen {
        assert!(
            request
                .headers
                .iter()
                .any(|(k, v)| k == "x-callers-client" && v == "yes"),
            "{} did not go through the caller's client",
            request.operation
        );
    }
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn an_answer_over_the_cap_fails_the_call() {
    let moto = moto_or_skip!();
    create(moto, "t13/big", &"x".repeat(64 * 1024)).await;
    let files = tempfile::tempdir().unwrap();
    let provider = builder(&moto.url(), &files)
        .max_response_bytes(16 * 1024)
        .build()
        .await
        .unwrap();
    let err = provider.resolve("awssecrets://t13/big").await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn echoed_credentials_never_show_in_errors() {
    let moto = moto_or_skip!();
    create(moto, "t16/s", "v16").await;
    put_parameter(moto, "/t16/p", "v16", ParameterType::String).await;
    let proxy = Proxy::start(moto.url()).await;
    let files = tempfile::tempdir().unwrap();
    let token = "echoed-session-token-2718";
    let secrets = builder(&proxy.url(), &files)
        .session_token(token)
        .build()
        .await
        .unwrap();
    let parameters = configure(AwsParameterStore::builder(), &proxy.url(), &files)
        .session_token(token)
        .build()
        .await
        .unwrap();
    let vault = Vault::new();
    vault.add_provider(secrets.clone());
    vault.add_provider(parameters.clone());
    vault.link("s", "awssecrets://t16/s").unwrap();
    vault.link("p", "awsssm://t16/p").unwrap();
    let mut shown = String::new();
    for (provider, reference) in [
        (&secrets as &dyn ExternalProvider, "awssecrets://t16/s"),
        (&parameters, "awsssm://t16/p"),
    ] {
        proxy.echo_next(1);
        let e = provider.resolve(reference).await.unwrap_err();
        assert_eq!(e.kind(), ProviderErrorKind::Unauthorized, "{e}");
        shown.push_str(&format!("{e}\n{e:?}\n"));
    }
    for name in ["s", "p"] {
        proxy.echo_next(1);
        let e = vault.resolve(name).await.unwrap_err();
        shown.push_str(&format!("{e}\n{e:?}\n"));
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            shown.push_str(&format!("{inner}\n{inner:?}\n"));
            source = inner.source();
        }
    }
    assert!(
        shown.contains("[credential]"),
        "the echo was not quoted: {shown}"
    );
    for planted in [ACCESS_KEY_ID, SECRET_ACCESS_KEY, token] {
        assert!(!shown.contains(planted), "`{planted}` leaked: {shown}");
    }
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn a_failing_sts_is_asked_at_most_max_attempts_times_per_resolve() {
    let moto = moto_or_skip!();
    create(moto, "t17/s", "v17").await;
    let proxy = Proxy::start(moto.url()).await;
    let files = tempfile::tempdir().unwrap();
    let provider = builder(&proxy.url(), &files)
        .sts_endpoint_url(proxy.url())
        .assume_role("arn:aws:iam::123456789012:role/vault-reader")
        .build()
        .await
        .unwrap();
    for (status, code, kind) in [
        (503, "ServiceUnavailable", ProviderErrorKind::Unavailable),
        (400, "Throttling", ProviderErrorKind::RateLimited),
    ] {
        proxy.reset();
        proxy.fail("AssumeRole", status, code);
        let err = provider.resolve("awssecrets://t17/s").await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(
            proxy.count("AssumeRole"),
            3,
            "the policy's 3 attempts, no retries of the SDK's own within them"
        );
        assert_eq!(proxy.count("GetSecretValue"), 0);
    }
    proxy.fail("none", 200, "none");
    proxy.reset();
    let value = provider.resolve("awssecrets://t17/s").await.unwrap();
    assert_eq!(value.expose_secret(), "v17");
    assert_eq!(proxy.count("AssumeRole"), 1);
}
