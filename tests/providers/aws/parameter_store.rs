//! The Parameter Store provider against moto: every parameter type, versions and labels,
//! failures that stay alone, request counts, error mapping and the conformance suite.

use aws_sdk_ssm::types::ParameterType;
use request_vault::{AwsParameterStore, ExposeSecret, ExternalProvider, ProviderErrorKind, Vault};

use super::common::moto::{self, Moto, Proxy};
use super::configure;

/// Creates or overwrites a parameter; returns its version.
pub(crate) async fn put_parameter(
    moto: &Moto,
    name: &str,
    value: &str,
    kind: ParameterType,
) -> i64 {
    moto::ssm_admin(&moto.url())
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .overwrite(true)
        .send()
        .await
        .unwrap()
        .version
}

async fn ssm_provider(endpoint: &str) -> (AwsParameterStore, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let provider = configure(AwsParameterStore::builder(), endpoint, &files)
        .build()
        .await
        .unwrap();
    (provider, files)
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn parameters_of_every_type_versions_and_labels() {
    let moto = moto_or_skip!();
    put_parameter(moto, "/t20/plain", "plain-20", ParameterType::String).await;
    let second = put_parameter(moto, "/t20/plain", "plain-20-v2", ParameterType::String).await;
    assert_eq!(second, 2);
    moto::ssm_admin(&moto.url())
        .label_parameter_version()
        .name("/t20/plain")
        .parameter_version(1)
        .labels("blue")
        .send()
        .await
        .unwrap();
    put_parameter(moto, "/t20/list", "a,b,c", ParameterType::StringList).await;
    put_parameter(
        moto,
        "/t20/secure",
        "secure-20",
        ParameterType::SecureString,
    )
    .await;
    put_parameter(
        moto,
        "/t20/json",
        r#"{"user":"u20","db":{"pass":"p20"}}"#,
        ParameterType::SecureString,
    )
    .await;
    let proxy = Proxy::start(moto.url()).await;
    let (provider, _files) = ssm_provider(&proxy.url()).await;
    let cases = [
        ("awsssm://t20/plain", "plain-20-v2"),
        ("awsssm:///t20/plain", "plain-20-v2"),
        ("awsssm://t20/plain:1", "plain-20"),
        ("awsssm://t20/plain:2", "plain-20-v2"),
        ("ref+awsssm://t20/plain:blue", "plain-20"),
        ("awsssm://t20/list", "a,b,c"),
        ("awsssm://t20/secure", "secure-20"),
        ("awsssm://t20/json#user", "u20"),
        ("awsssm:///t20/json?region=us-east-1#/db/pass", "p20"),
    ];
    let references: Vec<&str> = cases.iter().map(|(r, _)| *r).collect();
    let results = provider.resolve_all(&references).await;
    for ((reference, expected), result) in cases.iter().zip(results) {
        match result {
            Ok(value) => assert_eq!(value.expose_secret(), *expected, "{reference}"),
            Err(e) => panic!("{reference}: {e}"),
        }
    }
    // Distinct versions: /t20/plain, :1, :2 and :blue never share a call.
    assert_eq!(proxy.count("GetParameters"), 4, "{:?}", proxy.counts());
    let decrypting = proxy
        .seen()
        .iter()
        .all(|seen| seen.body.contains(r#""WithDecryption":true"#));
    assert!(decrypting, "{:?}", proxy.seen());
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn a_missing_parameter_version_or_field_fails_alone() {
    let moto = moto_or_skip!();
    put_parameter(moto, "/t21/there", r#"{"k":"v21"}"#, ParameterType::String).await;
    let (provider, _files) = ssm_provider(&moto.url()).await;
    let results = provider
        .resolve_all(&[
            "awsssm://t21/there#k",
            "awsssm://t21/missing",
            "awsssm://t21/there:9",
            "awsssm://t21/there:green",
            "awsssm://t21/there#nope",
            "awsssm://t21/bad name",
        ])
        .await;
    assert_eq!(results[0].as_ref().unwrap().expose_secret(), "v21");
    for (at, kind) in [
        (1, ProviderErrorKind::NotFound),
        (2, ProviderErrorKind::NotFound),
        (3, ProviderErrorKind::NotFound),
        (4, ProviderErrorKind::NotFound),
        (5, ProviderErrorKind::InvalidReference),
    ] {
        let err = results[at].as_ref().unwrap_err();
        assert_eq!(err.kind(), kind, "{at}: {err}");
        assert_eq!(err.provider(), "aws-ssm");
        assert!(err.reference().is_some(), "{err}");
    }
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn twenty_five_parameters_take_three_calls_cold_and_none_warm() {
    let moto = moto_or_skip!();
    for n in 0..25 {
        put_parameter(
            moto,
            &format!("/t22/p{n}"),
            &format!("v22-{n}"),
            ParameterType::String,
        )
        .await;
    }
    let proxy = Proxy::start(moto.url()).await;
    let (provider, _files) = ssm_provider(&proxy.url()).await;
    let vault = Vault::new();
    vault.add_provider(provider);
    let names: Vec<String> = (0..25).map(|n| format!("p{n}")).collect();
    for n in 0..25 {
        vault
            .link(&format!("p{n}"), &format!("awsssm://t22/p{n}"))
            .unwrap();
    }
    let cold = vault.resolve_all(&names).await.unwrap();
    assert_eq!(cold.len(), 25);
    assert_eq!(cold["p17"].expose_secret(), "v22-17");
    assert_eq!(proxy.count("GetParameters"), 3, "{:?}", proxy.counts());
    assert_eq!(proxy.counts().len(), 1, "{:?}", proxy.counts());
    proxy.reset();
    vault.resolve_all(&names).await.unwrap();
    assert!(proxy.seen().is_empty(), "{:?}", proxy.counts());
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn parameter_store_errors_are_mapped_and_retried() {
    let moto = moto_or_skip!();
    put_parameter(moto, "/t23/p", "v23", ParameterType::String).await;
    let proxy = Proxy::start(moto.url()).await;
    let (provider, _files) = ssm_provider(&proxy.url()).await;
    proxy.deny("GetParameters");
    let err = provider.resolve("awsssm://t23/p").await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Forbidden, "{err}");
    assert!(
        err.to_string().contains("Parameter Store") || err.to_string().contains("parameter"),
        "{err}"
    );
    proxy.deny("none");
    proxy.throttle_next(100);
    let err = provider.resolve("awsssm://t23/p").await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::RateLimited, "{err}");
    assert_eq!(
        proxy.count("GetParameters"),
        4,
        "1 denied, then the policy's 3 attempts"
    );
    proxy.throttle_next(0);
    assert!(provider.check().await.is_ok());
}

#[cfg(feature = "conformance")]
#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn parameter_store_conformance() {
    use request_vault::provider::conformance::{Case, check};
    let moto = moto_or_skip!();
    put_parameter(
        moto,
        "/t24/json",
        r#"{"user":"u24","pass":"p24"}"#,
        ParameterType::SecureString,
    )
    .await;
    put_parameter(moto, "/t24/plain", "plain24", ParameterType::String).await;
    let (provider, _files) = ssm_provider(&moto.url()).await;
    let failures = check(
        std::sync::Arc::new(provider),
        &[
            Case::value("awsssm://t24/json#user", "u24"),
            Case::value("ref+awsssm:///t24/json#/pass", "p24"),
            Case::value("awsssm://t24/plain", "plain24"),
            Case::value("awsssm://t24/plain:1", "plain24"),
            Case::error("awsssm://t24/missing", ProviderErrorKind::NotFound),
            Case::error("awsssm://t24/json#nope", ProviderErrorKind::NotFound),
            Case::error("awsssm://t24/plain#k", ProviderErrorKind::Unsupported),
            Case::invalid("awsssm://"),
            Case::invalid("awsssm://t24/json?stage=x"),
            Case::invalid("awsssm://t24//json"),
            Case::invalid("awsssn://t24/json"),
        ],
    )
    .await;
    assert!(failures.is_empty(), "{failures:#?}");
}
