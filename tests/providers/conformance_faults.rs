//! The conformance suite's transient-fault cases, run against the Connect provider through
//! the crate's fault-injecting proxy: 503 with `Retry-After`, 500 and dropped connections
//! are retried; a run of 429 answers ends in `RateLimited`.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::connect::{ConnectServer, Data, field, item, vault};
use request_vault::provider::RetryPolicy;
use request_vault::provider::conformance::{Case, FaultProxy, check_faults};
use request_vault::{ExternalProvider, OnePassword};

fn data() -> Data {
    Data {
        vaults: vec![vault(
            "Prod",
            vec![item(
                "Postgres",
                vec![field("password", "CONCEALED", "pg-faults")],
            )],
        )],
    }
}

/// The faults met by a Connect provider with `retry`, through a proxy.
async fn faults_met_with(retry: RetryPolicy) -> Vec<String> {
    let server = ConnectServer::start(data(), "token", Duration::ZERO).await;
    let proxy = FaultProxy::start(server.addr).await.unwrap();
    let provider = OnePassword::builder()
        .retry(retry)
        .connect(&proxy.url(), "token")
        .unwrap();
    let provider: Arc<dyn ExternalProvider> = Arc::new(provider);
    let case = Case::value("op://Prod/Postgres/password", "pg-faults");
    check_faults(provider, &proxy, &case).await
}

#[tokio::test]
async fn onepassword_over_connect_survives_transient_faults() {
    let retry = RetryPolicy::default()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5));
    let failures = faults_met_with(retry).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_provider_that_never_retries_fails_the_fault_cases() {
    let failures = faults_met_with(RetryPolicy::never()).await;
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert!(
        failures.iter().all(|f| f.contains("was not retried")),
        "{failures:#?}"
    );
}
