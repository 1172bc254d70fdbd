//! The provider conformance suite, run against every provider in the crate and the test
//! provider, each through `Arc<dyn ExternalProvider>`.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::MapProvider;
use common::connect::{ConnectServer, Data, field, item, vault};
use common::op::StandIn;
use request_vault::provider::RetryPolicy;
use request_vault::provider::conformance::{Case, check};
use request_vault::{ExternalProvider, OnePassword, ProviderErrorKind};

fn assert_conforms(failures: Vec<String>) {
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn the_test_provider_conforms() {
    let provider = MapProvider::new("test", "test");
    let reference = provider.insert("a", "value-a");
    let cases = [
        Case::value(reference, "value-a"),
        Case::error("test://missing", ProviderErrorKind::NotFound),
        Case::invalid("test://"),
        Case::invalid("other://a"),
    ];
    assert_conforms(check(Arc::new(provider), &cases).await);
}

fn onepassword_cases() -> Vec<Case> {
    vec![
        Case::value("op://Prod/Postgres/password", "pg-conformance"),
        Case::value("op://prod/postgres/username", "admin"),
        Case::error("op://Prod/Nope/password", ProviderErrorKind::NotFound),
        Case::invalid("op://Prod/Postgres"),
        Case::invalid("https://Prod/Postgres/password"),
        Case::invalid("op://Prod/Postgres/password?attribute=nope"),
        Case::invalid("OP://Prod/Postgres/password"),
        Case::invalid("op://Prod/Postgres/password?attribute=OTP"),
    ]
}

#[tokio::test]
async fn onepassword_over_connect_conforms() {
    let data = Data {
        vaults: vec![vault(
            "Prod",
            vec![item(
                "Postgres",
                vec![
                    field("username", "STRING", "admin"),
                    field("password", "CONCEALED", "pg-conformance"),
                ],
            )],
        )],
    };
    let server = ConnectServer::start(data, "token", Duration::ZERO).await;
    let provider = OnePassword::builder()
        .retry(RetryPolicy::never())
        .connect(&server.url(), "token")
        .unwrap();
    let provider: Arc<dyn ExternalProvider> = Arc::new(provider);
    assert_conforms(check(provider, &onepassword_cases()).await);
}

#[tokio::test]
async fn onepassword_over_op_conforms() {
    let op = StandIn::new(&[
        ("op://Prod/Postgres/password", "pg-conformance"),
        ("op://Prod/Postgres/username", "admin"),
    ]);
    assert_conforms(check(Arc::new(op.provider()), &onepassword_cases()).await);
}

#[tokio::test]
async fn onepassword_over_the_op_sign_in_conforms() {
    let op = StandIn::new(&[
        ("op://Prod/Postgres/password", "pg-conformance"),
        ("op://Prod/Postgres/username", "admin"),
    ]);
    op.sign_in(Some("signed-in"));
    assert_conforms(check(Arc::new(op.cli_provider()), &onepassword_cases()).await);
}

/// A provider that breaks the contract: its batch answers in the wrong order, and its
/// errors show the value and lose their reference. The suite must say so.
#[derive(Debug)]
struct Broken;

#[request_vault::async_trait]
impl ExternalProvider for Broken {
    fn id(&self) -> &str {
        "broken"
    }
    fn scheme(&self) -> &str {
        "broken"
    }
    fn check_reference(&self, _reference: &str) -> Result<(), request_vault::ProviderError> {
        Ok(())
    }
    async fn resolve(
        &self,
        reference: &str,
    ) -> Result<request_vault::SecretString, request_vault::ProviderError> {
        match reference {
            "broken://a" => Ok("value-a".into()),
            "broken://b" => Ok("value-b".into()),
            _ => Err(request_vault::ProviderError::new(
                "broken",
                ProviderErrorKind::NotFound,
                "not value-a",
            )),
        }
    }
    async fn resolve_all(
        &self,
        references: &[&str],
    ) -> Vec<Result<request_vault::SecretString, request_vault::ProviderError>> {
        let mut out = Vec::new();
        for reference in references.iter().rev() {
            out.push(self.resolve(reference).await);
        }
        out
    }
}

#[tokio::test]
async fn the_suite_reports_a_broken_provider() {
    let cases = [
        Case::value("broken://a", "value-a"),
        Case::value("broken://b", "value-b"),
        Case::error("broken://c", ProviderErrorKind::NotFound),
        Case::invalid("nonsense"),
    ];
    let failures = check(Arc::new(Broken), &cases).await;
    let text = failures.join("\n");
    assert!(text.contains("accepted malformed `nonsense`"), "{text}");
    assert!(
        text.contains("resolve_all disagrees with resolve for `broken://a`"),
        "{text}"
    );
    assert!(text.contains("does not carry its reference"), "{text}");
    assert!(text.contains("shows a secret value"), "{text}");
}
