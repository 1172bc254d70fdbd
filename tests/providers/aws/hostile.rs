//! The hostile-server conformance check for both AWS providers: a fault proxy in front of
//! moto, a sink on another origin, and the session's credentials as what must never show.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use request_vault::aws::AwsBuilder;
use request_vault::provider::RetryPolicy;
use request_vault::provider::conformance::{Case, FaultProxy, Options, Sink, check_hostile};
use request_vault::{AwsParameterStore, AwsSecretsManager, ExternalProvider};

use super::common::moto::{ACCESS_KEY_ID, Moto, SECRET_ACCESS_KEY};
use super::parameter_store::put_parameter;
use super::{configure, create};

/// Hostile-server conformance for either AWS provider: a fault proxy in front of moto, and
/// the session's credentials as what must never show.
async fn hostile<P>(builder: AwsBuilder<P>, case: Case)
where
    AwsBuilder<P>: Build,
{
    let moto = Moto::shared().unwrap();
    let proxy = FaultProxy::start(([127, 0, 0, 1], moto.port).into())
        .await
        .unwrap();
    let sink = Sink::start().await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let token = "hostile-session-token-31337";
    let provider = configure(builder, &proxy.url(), &files)
        .session_token(token)
        .retry(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1)),
        )
        .make()
        .await;
    let options = Options::new()
        .credential(ACCESS_KEY_ID)
        .credential(SECRET_ACCESS_KEY)
        .credential(token);
    let failures = check_hostile(provider, &proxy, &sink, &case, &options).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Builds either AWS provider, for the shared test bodies.
trait Build {
    async fn make(self) -> Arc<dyn ExternalProvider>;
}

impl Build for AwsBuilder<AwsSecretsManager> {
    async fn make(self) -> Arc<dyn ExternalProvider> {
        Arc::new(self.build().await.unwrap())
    }
}

impl Build for AwsBuilder<AwsParameterStore> {
    async fn make(self) -> Arc<dyn ExternalProvider> {
        Arc::new(self.build().await.unwrap())
    }
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn secrets_manager_survives_a_hostile_server() {
    let moto = moto_or_skip!();
    create(moto, "t14/hostile", r#"{"k":"hostile-value-14"}"#).await;
    hostile(
        AwsSecretsManager::builder(),
        Case::value("awssecrets://t14/hostile#k", "hostile-value-14"),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it (cargo test -- --include-ignored)"]
async fn parameter_store_survives_a_hostile_server() {
    let moto = moto_or_skip!();
    put_parameter(
        moto,
        "/t15/hostile",
        "hostile-value-15",
        ParameterType::SecureString,
    )
    .await;
    hostile(
        AwsParameterStore::builder(),
        Case::value("awsssm://t15/hostile", "hostile-value-15"),
    )
    .await;
}
