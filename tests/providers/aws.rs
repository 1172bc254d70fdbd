//! The AWS Secrets Manager and Parameter Store providers against moto, a real AWS emulator
//! in server mode, with a counting, fault-injecting proxy in front of it where a test counts
//! or injects.

use crate::common;

use std::time::Duration;

use aws_sdk_secretsmanager::primitives::Blob;
use common::moto::{self, ACCESS_KEY_ID, Moto, Proxy, REGION, SECRET_ACCESS_KEY, xml_text};
use request_vault::aws::{AssumeRole, AwsBuilder};
use request_vault::provider::RetryPolicy;
use request_vault::{
    AwsParameterStore, AwsSecretsManager, AwsSecretsManagerBuilder, ExposeSecret, ExternalProvider,
    ProviderErrorKind, Vault,
};

/// Settings that keep a test off the real AWS: a region, static credentials, empty profile
/// files, and fast retries.
fn builder(endpoint: &str, files: &tempfile::TempDir) -> AwsSecretsManagerBuilder {
    configure(AwsSecretsManager::builder(), endpoint, files)
}

/// The same settings on either AWS provider's builder.
fn configure<P>(
    builder: AwsBuilder<P>,
    endpoint: &str,
    files: &tempfile::TempDir,
) -> AwsBuilder<P> {
    let (config, credentials) = (
        files.path().join("config"),
        files.path().join("credentials"),
    );
    std::fs::write(&config, "").unwrap();
    std::fs::write(&credentials, "").unwrap();
    builder
        .region(REGION)
        .endpoint_url(endpoint)
        .static_credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        .profile_files(config, credentials)
        .retry(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(10)),
        )
        .timeout(Duration::from_secs(10))
}

async fn provider(endpoint: &str) -> (AwsSecretsManager, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let provider = builder(endpoint, &files).build().await.unwrap();
    (provider, files)
}

/// Creates a secret; returns its ARN.
async fn create(moto: &Moto, name: &str, value: &str) -> String {
    moto::admin(&moto.url())
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

macro_rules! moto_or_skip {
    () => {
        match Moto::shared() {
            Some(moto) => moto,
            None => return,
        }
    };
}

#[path = "aws/edge.rs"]
mod edge;
#[cfg(feature = "conformance")]
#[path = "aws/hostile.rs"]
mod hostile;
#[path = "aws/parameter_store.rs"]
mod parameter_store;

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn plain_json_binary_and_arn_references() {
    let moto = moto_or_skip!();
    create(moto, "t1/plain", "just-a-string").await;
    let arn = create(
        moto,
        "t1/json",
        r#"{"user":"admin","db":{"password":"p@ss/w0rd"}}"#,
    )
    .await;
    moto::admin(&moto.url())
        .create_secret()
        .name("t1/binary")
        .secret_binary(Blob::new(vec![0u8, 159, 146, 150]))
        .send()
        .await
        .unwrap();
    let (provider, _files) = provider(&moto.url()).await;

    let cases = [
        ("awssecrets://t1/plain", "just-a-string"),
        ("ref+awssecrets://t1/json#user", "admin"),
        ("awssecrets://t1/json#/db/password", "p@ss/w0rd"),
        (&format!("awssecrets://{arn}#user"), "admin"),
        (
            &format!("awssecrets://{}#user", &arn[..arn.len() - 7]),
            "admin",
        ),
        ("awssecrets://t1/binary", "AJ+Slg=="),
        ("awssecrets://t1/plain?region=us-east-1", "just-a-string"),
    ];
    for (reference, expected) in cases {
        provider.check_reference(reference).unwrap();
        let value = provider.resolve(reference).await.unwrap();
        assert_eq!(value.expose_secret(), expected, "{reference}");
    }
    let references: Vec<&str> = cases.iter().map(|(r, _)| *r).collect();
    let together = provider.resolve_all(&references).await;
    for ((reference, expected), got) in cases.iter().zip(together) {
        assert_eq!(got.unwrap().expose_secret(), *expected, "{reference}");
    }

    let missing_key = provider
        .resolve("awssecrets://t1/json#nope")
        .await
        .unwrap_err();
    assert_eq!(missing_key.kind(), ProviderErrorKind::NotFound);
    assert!(missing_key.message().contains("db, user"), "{missing_key}");
    let not_json = provider
        .resolve("awssecrets://t1/plain#k")
        .await
        .unwrap_err();
    assert_eq!(not_json.kind(), ProviderErrorKind::Unsupported);
    assert!(!not_json.to_string().contains("just-a-string"));
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn version_stages_and_ids() {
    let moto = moto_or_skip!();
    let admin = moto::admin(&moto.url());
    create(moto, "t2/rotated", r#"{"password":"old"}"#).await;
    let first = admin
        .describe_secret()
        .secret_id("t2/rotated")
        .send()
        .await
        .unwrap();
    let old_id = first
        .version_ids_to_stages
        .unwrap()
        .into_keys()
        .next()
        .unwrap();
    admin
        .put_secret_value()
        .secret_id("t2/rotated")
        .secret_string(r#"{"password":"new"}"#)
        .send()
        .await
        .unwrap();
    let (provider, _files) = provider(&moto.url()).await;
    let references = [
        "awssecrets://t2/rotated#password".to_owned(),
        "awssecrets://t2/rotated?version_stage=AWSCURRENT#password".to_owned(),
        "awssecrets://t2/rotated?version_stage=AWSPREVIOUS#password".to_owned(),
        format!("awssecrets://t2/rotated?version_id={old_id}#password"),
        "awssecrets://t2/rotated?version_stage=NOPE#password".to_owned(),
    ];
    let refs: Vec<&str> = references.iter().map(String::as_str).collect();
    let results = provider.resolve_all(&refs).await;
    let values: Vec<_> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|v| v.expose_secret().to_owned())
                .map_err(|e| e.kind())
        })
        .collect();
    assert_eq!(
        values,
        [
            Ok("new".to_owned()),
            Ok("new".to_owned()),
            Ok("old".to_owned()),
            Ok("old".to_owned()),
            Err(ProviderErrorKind::NotFound)
        ]
    );
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn a_batch_fails_only_its_missing_and_deleted_members() {
    let moto = moto_or_skip!();
    create(moto, "t3/a", r#"{"k":"va"}"#).await;
    create(moto, "t3/b", "vb").await;
    create(moto, "t3/gone", "vg").await;
    moto::admin(&moto.url())
        .delete_secret()
        .secret_id("t3/gone")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let proxy = Proxy::start(moto.url()).await;
    let (provider, _files) = provider(&proxy.url()).await;
    let results = provider
        .resolve_all(&[
            "awssecrets://t3/a#k",
            "awssecrets://t3/missing",
            "awssecrets://t3/gone",
            "awssecrets://t3/b",
            "awssecrets://t3/a#nope",
            "awssecrets://bad name",
        ])
        .await;
    assert_eq!(results[0].as_ref().unwrap().expose_secret(), "va");
    let missing = results[1].as_ref().unwrap_err();
    assert_eq!(missing.kind(), ProviderErrorKind::NotFound);
    assert_eq!(missing.reference(), Some("awssecrets://t3/missing"));
    assert!(missing.message().contains("t3/missing"), "{missing}");
    let gone = results[2].as_ref().unwrap_err();
    assert_eq!(gone.kind(), ProviderErrorKind::NotFound);
    assert!(gone.message().contains("scheduled for deletion"), "{gone}");
    assert_eq!(results[3].as_ref().unwrap().expose_secret(), "vb");
    assert_eq!(
        results[4].as_ref().unwrap_err().kind(),
        ProviderErrorKind::NotFound
    );
    assert_eq!(
        results[5].as_ref().unwrap_err().kind(),
        ProviderErrorKind::InvalidReference
    );
    assert_eq!(
        proxy.count("BatchGetSecretValue"),
        1,
        "{:?}",
        proxy.counts()
    );
    assert_eq!(proxy.count("GetSecretValue"), 0, "{:?}", proxy.counts());
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn a_hundred_keys_in_twenty_secrets_take_one_call_cold_and_none_warm() {
    let moto = moto_or_skip!();
    let vault = Vault::new();
    let mut names = Vec::new();
    for s in 0..20 {
        let json: String = (0..5)
            .map(|k| format!(r#""key{k}":"value-{s}-{k}""#))
            .collect::<Vec<_>>()
            .join(",");
        create(moto, &format!("t4/secret{s}"), &format!("{{{json}}}")).await;
        names.extend((0..5).map(|k| format!("s{s}-k{k}")));
    }
    let proxy = Proxy::start(moto.url()).await;
    let (provider, _files) = provider(&proxy.url()).await;
    vault.add_provider(provider);
    for s in 0..20 {
        for k in 0..5 {
            vault
                .link(
                    &format!("s{s}-k{k}"),
                    &format!("awssecrets://t4/secret{s}#key{k}"),
                )
                .unwrap();
        }
    }
    let cold = vault.resolve_all(&names).await.unwrap();
    assert_eq!(cold.len(), 100);
    assert_eq!(cold["s7-k3"].expose_secret(), "value-7-3");
    assert_eq!(proxy.counts().len(), 1, "{:?}", proxy.counts());
    assert_eq!(proxy.count("BatchGetSecretValue"), 1);
    proxy.reset();
    let warm = vault.resolve_all(&names).await.unwrap();
    assert_eq!(warm.len(), 100);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.counts());
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn throttling_is_retried_then_reported() {
    let moto = moto_or_skip!();
    create(moto, "t5/s", "v5").await;
    let proxy = Proxy::start(moto.url()).await;
    let (provider, _files) = provider(&proxy.url()).await;

    proxy.throttle_next(2);
    let value = provider.resolve("awssecrets://t5/s").await.unwrap();
    assert_eq!(value.expose_secret(), "v5");
    assert_eq!(
        proxy.count("GetSecretValue"),
        3,
        "two throttled, one answered"
    );

    proxy.reset();
    proxy.throttle_next(100);
    let err = provider.resolve("awssecrets://t5/s").await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::RateLimited);
    assert_eq!(
        proxy.count("GetSecretValue"),
        3,
        "the policy's 3 attempts, no SDK retries"
    );
    proxy.throttle_next(0);
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn a_caller_denied_batch_gets_fetches_one_by_one() {
    let moto = moto_or_skip!();
    create(moto, "t9/a", "va").await;
    create(moto, "t9/b", r#"{"user":"u","password":"p"}"#).await;
    create(moto, "t9/c", "vc").await;
    let proxy = Proxy::start(moto.url()).await;
    proxy.deny("BatchGetSecretValue");
    let (provider, _files) = provider(&proxy.url()).await;

    let first = provider
        .resolve_all(&[
            "awssecrets://t9/a",
            "awssecrets://t9/b#user",
            "awssecrets://t9/b#password",
        ])
        .await;
    let first: Vec<String> = first
        .into_iter()
        .map(|r| r.unwrap().expose_secret().to_owned())
        .collect();
    assert_eq!(first, ["va", "u", "p"]);
    assert_eq!(
        proxy.count("BatchGetSecretValue"),
        1,
        "refused once, not retried: {:?}",
        proxy.counts()
    );
    assert_eq!(proxy.count("GetSecretValue"), 2, "one per distinct secret");

    // From then on the batch call is not tried again.
    proxy.reset();
    let second = provider
        .resolve_all(&[
            "awssecrets://t9/a",
            "awssecrets://t9/c",
            "awssecrets://t9/missing",
        ])
        .await;
    assert_eq!(second[0].as_ref().unwrap().expose_secret(), "va");
    assert_eq!(second[1].as_ref().unwrap().expose_secret(), "vc");
    assert_eq!(
        second[2].as_ref().unwrap_err().kind(),
        ProviderErrorKind::NotFound
    );
    assert_eq!(
        proxy.count("BatchGetSecretValue"),
        0,
        "{:?}",
        proxy.counts()
    );
    assert_eq!(proxy.count("GetSecretValue"), 3);
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn assume_role_goes_through_sts() {
    let moto = moto_or_skip!();
    create(moto, "t6/s", "v6").await;
    let proxy = Proxy::start(moto.url()).await;
    let files = tempfile::tempdir().unwrap();
    let provider = builder(&proxy.url(), &files)
        .sts_endpoint_url(proxy.url())
        .assume_role(
            AssumeRole::new("arn:aws:iam::123456789012:role/vault-reader")
                .external_id("partner-42")
                .session_name("request-vault-test")
                .duration(Duration::from_secs(900)),
        )
        .build()
        .await
        .unwrap();
    assert!(format!("{provider:?}").contains("vault-reader"));
    let value = provider.resolve("awssecrets://t6/s").await.unwrap();
    assert_eq!(value.expose_secret(), "v6");

    let seen = proxy.seen();
    let assume = seen
        .iter()
        .find(|s| s.operation == "AssumeRole")
        .expect("an AssumeRole call");
    assert!(
        assume.body.contains("ExternalId=partner-42"),
        "{}",
        assume.body
    );
    assert!(assume.body.contains("RoleSessionName=request-vault-test"));
    assert!(assume.body.contains("DurationSeconds=900"));
    assert!(
        assume.authorization.contains(ACCESS_KEY_ID),
        "signed with the base keys"
    );
    let get = seen
        .iter()
        .find(|s| s.operation == "GetSecretValue")
        .unwrap();
    assert!(
        !get.authorization.contains(ACCESS_KEY_ID),
        "the secret is read with the role's keys"
    );
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn wrong_credentials_and_denied_access() {
    // A moto of its own: checking auth is a server-wide switch.
    let Some(moto) = Moto::start() else { return };
    create(&moto, "t7/s", "v7").await;
    moto.query(
        "iam",
        &[
            ("Action", "CreateUser"),
            ("UserName", "nobody"),
            ("Version", "2010-05-08"),
        ],
    )
    .await;
    let keys = moto
        .query(
            "iam",
            &[
                ("Action", "CreateAccessKey"),
                ("UserName", "nobody"),
                ("Version", "2010-05-08"),
            ],
        )
        .await;
    let user_key = xml_text(&keys, "AccessKeyId").unwrap().to_owned();
    let user_secret = xml_text(&keys, "SecretAccessKey").unwrap().to_owned();
    moto.enforce_auth(0).await;

    let files = tempfile::tempdir().unwrap();
    let resolve = |id: String, secret: String| {
        let builder = builder(&moto.url(), &files).static_credentials(id, secret);
        async move {
            let provider = builder.build().await.unwrap();
            provider.resolve("awssecrets://t7/s").await.unwrap_err()
        }
    };
    let unknown = resolve("AKIAUNKNOWNKEY000000".into(), "whatever-secret".into()).await;
    assert_eq!(unknown.kind(), ProviderErrorKind::Unauthorized, "{unknown}");
    let wrong_secret = resolve(user_key.clone(), "not-the-secret".into()).await;
    assert_eq!(
        wrong_secret.kind(),
        ProviderErrorKind::Unauthorized,
        "{wrong_secret}"
    );
    let denied = resolve(user_key.clone(), user_secret.clone()).await;
    assert_eq!(denied.kind(), ProviderErrorKind::Forbidden, "{denied}");
    for err in [&unknown, &wrong_secret, &denied] {
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains(&user_secret) && !text.contains("not-the-secret"),
            "{text}"
        );
    }

    // check() passes on credentials that AWS accepts but may not list, and fails on others.
    let provider = builder(&moto.url(), &files)
        .static_credentials(user_key, user_secret)
        .build()
        .await
        .unwrap();
    provider.check().await.unwrap();
    let refused = builder(&moto.url(), &files)
        .static_credentials("AKIAUNKNOWNKEY000000", "x")
        .build()
        .await
        .unwrap();
    let err = refused.check().await.unwrap_err();
    assert!(err.to_string().contains("unauthorized"), "{err}");
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn check_and_unreachable_endpoints() {
    let moto = moto_or_skip!();
    let (provider, _files) = provider(&moto.url()).await;
    provider.check().await.unwrap();

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let files = tempfile::tempdir().unwrap();
    let provider = builder(&url, &files)
        .retry(RetryPolicy::never())
        .build()
        .await
        .unwrap();
    let err = provider.resolve("awssecrets://x").await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unavailable, "{err}");
    assert!(provider.check().await.is_err());

    let no_region = AwsSecretsManager::builder()
        .endpoint_url(moto.url())
        .static_credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        .profile_files(files.path().join("none"), files.path().join("none"))
        .build()
        .await
        .unwrap();
    if no_region.region().is_none() {
        let err = no_region.resolve("awssecrets://x").await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Configuration, "{err}");
        assert!(no_region.check().await.is_err());
    }
    assert!(
        AwsSecretsManager::builder()
            .session_token("t")
            .build()
            .await
            .is_err(),
        "a session token without keys"
    );
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn nothing_leaks_into_debug_errors_or_logs() {
    let moto = moto_or_skip!();
    let value = "planted-secret-value-5309";
    create(moto, "t8/s", &format!(r#"{{"k":"{value}"}}"#)).await;
    let captured = common::Captured::default();
    let _guard = captured.install();
    // Callsites first met by other tests' threads see this subscriber too.
    tracing::callsite::rebuild_interest_cache();
    // The scan works: a planted line is found.
    tracing::info!("canary {}", "canary-5309");
    assert!(captured.text().contains("canary-5309"));

    let token = "planted-session-token-8675";
    let files = tempfile::tempdir().unwrap();
    let provider = builder(&moto.url(), &files)
        .session_token(token)
        .build()
        .await
        .unwrap();
    let builder_debug = format!("{:?}", builder(&moto.url(), &files).session_token(token));
    let got = provider.resolve("awssecrets://t8/s#k").await.unwrap();
    assert_eq!(got.expose_secret(), value);
    let errors: Vec<String> = provider
        .resolve_all(&[
            "awssecrets://t8/s#nope",
            "awssecrets://t8/missing",
            "awssecrets://t8/s?version_stage=X",
        ])
        .await
        .into_iter()
        .map(|r| {
            let e = r.unwrap_err();
            format!("{e} {e:?}")
        })
        .collect();
    let everything = format!(
        "{}\n{provider:?}\n{builder_debug}\n{}\n{got:?}",
        captured.text(),
        errors.join("\n")
    );
    for planted in [value, token, SECRET_ACCESS_KEY] {
        assert!(!everything.contains(planted), "`{planted}` leaked");
    }
}

#[cfg(feature = "conformance")]
#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn conformance() {
    use request_vault::provider::conformance::{Case, check};
    let moto = moto_or_skip!();
    create(moto, "t9/json", r#"{"user":"u9","pass":"p9"}"#).await;
    create(moto, "t9/plain", "plain9").await;
    let (provider, _files) = provider(&moto.url()).await;
    let failures = check(
        std::sync::Arc::new(provider),
        &[
            Case::value("awssecrets://t9/json#user", "u9"),
            Case::value("ref+awssecrets://t9/json#/pass", "p9"),
            Case::value("awssecrets://t9/plain", "plain9"),
            Case::error("awssecrets://t9/missing", ProviderErrorKind::NotFound),
            Case::error("awssecrets://t9/json#nope", ProviderErrorKind::NotFound),
            Case::error("awssecrets://t9/plain#k", ProviderErrorKind::Unsupported),
            Case::invalid("awssecrets://"),
            Case::invalid("awssecrets://t9/json?stage=x"),
            Case::invalid("awssecret://t9/json"),
        ],
    )
    .await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn each_builder_takes_an_id() {
    let files = tempfile::tempdir().unwrap();
    let url = "http://127.0.0.1:9";
    let secrets = builder(url, &files).build().await.unwrap();
    assert_eq!(secrets.id(), "aws");
    let secrets = builder(url, &files).id("aws-prod").build().await.unwrap();
    assert_eq!(secrets.id(), "aws-prod");
    assert!(format!("{secrets:?}").contains("aws-prod"));
    let parameters = configure(AwsParameterStore::builder(), url, &files)
        .build()
        .await
        .unwrap();
    assert_eq!(parameters.id(), "aws-ssm");
    let parameters = configure(AwsParameterStore::builder(), url, &files)
        .id("ssm-prod")
        .build()
        .await
        .unwrap();
    assert_eq!(parameters.id(), "ssm-prod");
    assert_eq!(parameters.scheme(), "awsssm");
}
