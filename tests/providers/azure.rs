//! The Azure Key Vault provider's secrets against the HTTPS stand-in (`tests/common/azure/`):
//! versions, JSON keys, request counts, disabled, expired, missing and forbidden secrets,
//! throttling and faults, `check`, offline reference checks, leak checks, the provider edge
//! (redirects, echoed credentials) and the conformance suite with its hostile-server check.
//! Sign-in is tested in `azure_auth.rs`.

use crate::common;
/// The provider edge: redirects and echoed credentials.
#[path = "azure/edge.rs"]
mod edge;

use std::time::Duration;

use common::Captured;
use common::azure::{AzureServer, CLIENT_ID, CLIENT_SECRET, Fault, TENANT};
use request_vault::{
    AzureKeyVault, Error, ExposeSecret, ExternalProvider, ProviderErrorKind, Vault,
};

fn kind(error: &Error) -> ProviderErrorKind {
    error
        .provider_error()
        .unwrap_or_else(|| panic!("not a provider error: {error}"))
        .kind()
}

async fn secret_provider(server: &AzureServer, vaults: &[&str]) -> AzureKeyVault {
    server
        .builder(vaults)
        .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
        .unwrap()
}

#[tokio::test]
async fn client_secret_resolves_current_and_pinned_versions() {
    let server = AzureServer::start().await;
    let v1 = server.put("myvault", "db-password", "first-value");
    server.put("myvault", "db-password", "second-value");
    let provider = secret_provider(&server, &["myvault"]).await;

    let current = provider
        .resolve("azurekeyvault://myvault/db-password")
        .await
        .unwrap();
    assert_eq!(current.expose_secret(), "second-value");
    let pinned = provider
        .resolve(&format!("ref+azurekeyvault://myvault/db-password/{v1}"))
        .await
        .unwrap();
    assert_eq!(pinned.expose_secret(), "first-value");
    let missing_version = provider
        .resolve(&format!(
            "azurekeyvault://myvault/db-password/{}",
            "f".repeat(32)
        ))
        .await
        .unwrap_err();
    assert_eq!(missing_version.kind(), ProviderErrorKind::NotFound);

    // One token, one read each, and the request carried what Entra ID expects.
    assert_eq!(server.token_requests(), 1);
    assert_eq!(server.secret_reads(), 3);
    assert_eq!(server.challenges(), 0);
    let log = server.log();
    let token_request = log
        .iter()
        .find(|l| l.contains("/oauth2/v2.0/token"))
        .unwrap();
    assert!(token_request.starts_with(&format!(
        "POST login.microsoftonline.com /{TENANT}/oauth2/v2.0/token"
    )));
    assert!(token_request.contains("grant_type=client_credentials"));
    assert!(token_request.contains("scope=https%3A%2F%2Fvault.azure.net%2F.default"));
    assert!(log.iter().any(|l| l.contains("GET myvault.vault.azure.net /secrets/db-password?api-version=7.5")));
}

#[tokio::test]
async fn json_keys_share_one_fetch() {
    let server = AzureServer::start().await;
    server.put(
        "myvault",
        "db",
        r#"{"user":"admin","password":"p4ss","nested":{"port":5432}}"#,
    );
    let provider = secret_provider(&server, &["myvault"]).await;
    let results = provider
        .resolve_all(&[
            "azurekeyvault://myvault/db#user",
            "azurekeyvault://myvault/db#password",
            "azurekeyvault://MyVault/DB#/nested/port",
            "azurekeyvault://myvault/db#missing",
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
        Some("azurekeyvault://myvault/db#missing")
    );
    assert_eq!(
        server.secret_reads(),
        1,
        "one fetch for every #KEY of one secret"
    );
}

#[tokio::test]
async fn a_hundred_keys_of_forty_secrets_in_two_tenants() {
    let server = AzureServer::start().await;
    server.set_tenant("vault-b", "tenant-b");
    let mut references = Vec::new();
    for i in 0..40 {
        let vault = if i % 2 == 0 { "vault-a" } else { "vault-b" };
        server.put(
            vault,
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
                format!("azurekeyvault://{vault}/s{i}#{key}"),
            ));
        }
    }
    assert_eq!(references.len(), 100);
    let vault = Vault::new();
    // vault-b lives in another tenant: the credential may sign in there because it is allowed.
    let provider = server
        .builder(&["vault-a", "vault-b"])
        .additionally_allowed_tenants(["tenant-b"])
        .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
        .unwrap();
    vault.add_provider(provider);
    for (name, reference) in &references {
        vault.link(name, reference).unwrap();
    }
    let names: Vec<&str> = references.iter().map(|(n, _)| n.as_str()).collect();

    let cold = vault.resolve_all(names.clone()).await.unwrap();
    assert_eq!(cold.len(), 100);
    assert_eq!(cold["n7b"].expose_secret(), "b7");
    assert_eq!(server.secret_reads(), 40, "each secret once");
    assert_eq!(server.token_requests_for("tenant-a"), 1);
    assert_eq!(server.token_requests_for("tenant-b"), 1);
    assert_eq!(server.token_requests(), 2, "one token request per tenant");
    assert_eq!(
        server.challenges(),
        1,
        "vault-b's first request learns its tenant"
    );
    assert_eq!(server.vault_requests(), 41);

    server.reset_counts();
    let warm = vault.resolve_all(names).await.unwrap();
    assert_eq!(warm.len(), 100);
    assert_eq!(
        server.vault_requests() + server.token_requests(),
        0,
        "warm: no request"
    );
}

#[tokio::test]
async fn disabled_secrets_fail_clearly_and_expired_ones_warn() {
    let server = AzureServer::start().await;
    server.put_version("myvault", "off", "disabled-value", false, None, None);
    server.put_version(
        "myvault",
        "old",
        "expired-value",
        true,
        Some(1_000_000_000),
        None,
    );
    server.put_version(
        "myvault",
        "early",
        "future-value",
        true,
        None,
        Some(4_000_000_000),
    );
    let provider = secret_provider(&server, &["myvault"]).await;

    let err = provider
        .resolve("azurekeyvault://myvault/off")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Forbidden);
    assert!(err.to_string().contains("is disabled"), "{err}");
    assert!(err.to_string().contains("SecretDisabled"), "{err}");

    let captured = Captured::default();
    let _guard = captured.install();
    let old = provider
        .resolve("azurekeyvault://myvault/old")
        .await
        .unwrap();
    assert_eq!(old.expose_secret(), "expired-value");
    let early = provider
        .resolve("azurekeyvault://myvault/early")
        .await
        .unwrap();
    assert_eq!(early.expose_secret(), "future-value");
    let logs = captured.text();
    assert!(
        logs.contains("WARN") && logs.contains("has expired") && logs.contains("secret=old"),
        "{logs}"
    );
    assert!(
        logs.contains("not valid yet") && logs.contains("secret=early"),
        "{logs}"
    );
    assert!(!logs.contains("expired-value") && !logs.contains("future-value"));
}

#[tokio::test]
async fn missing_and_forbidden() {
    let server = AzureServer::start().await;
    server.put("other", "s", "v");
    server.deny("other");
    let provider = secret_provider(&server, &["myvault", "other"]).await;
    let err = provider
        .resolve("azurekeyvault://myvault/nope")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::NotFound);
    assert!(err.to_string().contains("SecretNotFound"), "{err}");
    let err = provider
        .resolve("azurekeyvault://other/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Forbidden);
    assert!(err.to_string().contains("AccessDenied"), "{err}");
}

#[tokio::test]
async fn throttling_is_retried_then_reported() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let provider = secret_provider(&server, &["myvault"]).await;
    server.fail_vault(Fault::Status(429, Some(0)));
    server.fail_vault(Fault::Status(503, None));
    let value = provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(value.expose_secret(), "value");
    assert_eq!(server.secret_reads(), 3);

    for _ in 0..3 {
        server.fail_vault(Fault::Status(429, Some(0)));
    }
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::ZERO));
    assert!(err.to_string().contains("Throttled"), "{err}");
}

#[tokio::test]
async fn dropped_connections_and_token_endpoint_faults_are_retried() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let provider = secret_provider(&server, &["myvault"]).await;
    server.fail_token(Fault::Status(503, None));
    server.fail_vault(Fault::Drop);
    let value = provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(value.expose_secret(), "value");
    assert_eq!(server.token_requests(), 2);
}

#[tokio::test]
async fn check_gets_a_token_and_lists_one_page() {
    let server = AzureServer::start().await;
    server.put("myvault", "a", "1");
    server.put("myvault", "b", "2");
    let provider = secret_provider(&server, &["myvault"]).await;
    provider.check().await.unwrap();
    assert_eq!(server.list_requests(), 1);
    assert_eq!(server.token_requests(), 1);
    assert!(
        server.log().iter().any(
            |l| l.contains("GET myvault.vault.azure.net /secrets?api-version=7.5&maxresults=1")
        )
    );

    server.deny("myvault");
    let err = provider.check().await.unwrap_err();
    assert_eq!(kind(&err), ProviderErrorKind::Forbidden);

    let refused = server
        .builder(&["myvault"])
        .client_secret(TENANT, CLIENT_ID, "nope")
        .unwrap();
    assert_eq!(
        kind(&refused.check().await.unwrap_err()),
        ProviderErrorKind::Unauthorized
    );
}

#[tokio::test]
async fn references_are_checked_offline_with_offsets() {
    let vault = Vault::new();
    let provider = AzureKeyVault::builder()
        .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
        .unwrap();
    vault.add_provider(provider);
    vault
        .link(
            "ok",
            "ref+azurekeyvault://my-vault/db-password/0123abcd#user",
        )
        .unwrap();
    let err = vault
        .link("bad", "azurekeyvault://my-vault/db_password")
        .unwrap_err();
    assert_eq!(err.offset(), Some(27), "{err}");
    let err = vault.link("bad", "azurekeyvault://x/db").unwrap_err();
    assert_eq!(err.offset(), Some(16), "{err}");
}

#[tokio::test]
async fn nothing_leaks_into_debug_errors_or_logs() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value-PLANTED-5e1f");
    server.put_version("myvault", "off", "disabled-PLANTED-77aa", false, None, None);
    let captured = Captured::default();
    let _guard = captured.install();
    // The scan works: a planted line is found.
    tracing::info!("canary-PLANTED-0000");
    assert!(captured.text().contains("canary-PLANTED-0000"));

    let provider = secret_provider(&server, &["myvault"]).await;
    let vault = Vault::new();
    vault.add_provider(provider.clone());
    vault.link("s", "azurekeyvault://myvault/s").unwrap();
    vault.link("off", "azurekeyvault://myvault/off").unwrap();
    vault
        .link("gone", "azurekeyvault://myvault/gone#k")
        .unwrap();
    assert!(vault.resolve("s").await.is_ok());
    let mut texts = vec![format!("{provider:?}"), format!("{vault:?}")];
    for name in ["off", "gone"] {
        let err = vault.resolve(name).await.unwrap_err();
        texts.push(format!("{err} {err:?}"));
    }
    server.revoke_tokens();
    server.fail_vault(Fault::Status(500, None));
    let _ = provider.resolve("azurekeyvault://myvault/s").await;
    texts.push(captured.text());
    let all = texts.join("\n");
    for planted in [
        CLIENT_SECRET,
        "value-PLANTED-5e1f",
        "disabled-PLANTED-77aa",
        "-access-token",
    ] {
        assert!(!all.contains(planted), "`{planted}` leaked");
    }
    assert!(
        server.log().iter().any(|l| l.contains("-access-token")) || server.token_requests() > 0
    );
}

#[cfg(feature = "conformance")]
#[tokio::test]
async fn passes_the_conformance_suite() {
    use request_vault::provider::conformance::{Case, check};
    use std::sync::Arc;

    let server = AzureServer::start().await;
    let v1 = server.put("myvault", "db", r#"{"user":"admin","password":"p4ss"}"#);
    server.put("myvault", "plain", "plain-value");
    server.put_version("myvault", "off", "x", false, None, None);
    let provider = secret_provider(&server, &["myvault"]).await;
    let failures = check(
        Arc::new(provider),
        &[
            Case::value("azurekeyvault://myvault/db#user", "admin"),
            Case::value(format!("azurekeyvault://myvault/db/{v1}#password"), "p4ss"),
            Case::value("ref+azurekeyvault://myvault/plain", "plain-value"),
            Case::error(
                "azurekeyvault://myvault/missing",
                ProviderErrorKind::NotFound,
            ),
            Case::error("azurekeyvault://myvault/off", ProviderErrorKind::Forbidden),
            Case::error(
                "azurekeyvault://myvault/db#nope",
                ProviderErrorKind::NotFound,
            ),
            Case::invalid("azurekeyvault://myvault/bad_name"),
            Case::invalid("azurekeyvault://my--vault/s"),
            Case::invalid("azurekeyvault://myvault"),
            Case::invalid("azurekeyvault://myvault/s?version=1"),
        ],
    )
    .await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The hostile-server check of `provider::conformance`, through the stand-in's own fault
/// queues (it is HTTPS, which the conformance proxy does not speak).
#[cfg(feature = "conformance")]
mod hostile {
    use std::sync::Arc;
    use std::time::Duration;

    use request_vault::ExternalProvider;
    use request_vault::provider::RetryPolicy;
    use request_vault::provider::conformance::{self, Case, Options, Sink, check_hostile};

    use super::common::azure::{
        AzureServer, CLIENT_ID, CLIENT_SECRET, Fault, IDENTITY_HEADER, TENANT,
    };

    /// The stand-in's faults at the next token request, or at the next vault request.
    struct At<'a> {
        server: &'a AzureServer,
        vault: bool,
    }

    impl conformance::Faults for At<'_> {
        fn inject(&self, fault: conformance::Fault) -> bool {
            use conformance::Fault as Hostile;
            let fault = match fault {
                Hostile::Status {
                    status,
                    retry_after,
                } => Fault::Status(status, retry_after),
                Hostile::Drop => Fault::Drop,
                Hostile::Redirect { status, location } => Fault::Redirect(status, location),
                Hostile::Oversized { bytes, declared } => Fault::Oversized { bytes, declared },
                Hostile::Echo { status } => Fault::Echo(status),
                Hostile::Numbers(number) => Fault::Numbers(number),
                _ => return false,
            };
            if self.vault {
                self.server.fail_vault(fault);
            } else {
                self.server.fail_token(fault);
            }
            true
        }

        fn clear(&self) {
            self.server.clear_faults();
        }

        fn oversized_sent(&self) -> Option<u64> {
            Some(self.server.oversized_sent())
        }
    }

    fn quick() -> RetryPolicy {
        RetryPolicy::default()
            .max_attempts(2)
            .initial_backoff(Duration::from_millis(1))
            .max_backoff(Duration::from_millis(5))
    }

    #[tokio::test]
    async fn key_vault_and_entra_survive_a_hostile_server() {
        let server = AzureServer::start().await;
        server.put("myvault", "db", r#"{"password":"hostile-PLANTED-value"}"#);
        let sink = Sink::start().await.unwrap();
        let provider = server
            .builder(&["myvault"])
            .retry(quick())
            .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
            .unwrap();
        let provider: Arc<dyn ExternalProvider> = Arc::new(provider);
        let case = Case::value(
            "azurekeyvault://myvault/db#password",
            "hostile-PLANTED-value",
        );
        let options = Options::new().credential(CLIENT_SECRET);
        for vault in [false, true] {
            let faults = At {
                server: &server,
                vault,
            };
            let failures =
                check_hostile(Arc::clone(&provider), &faults, &sink, &case, &options).await;
            assert!(failures.is_empty(), "vault: {vault}: {failures:#?}");
        }
        assert_eq!(sink.requests(), 0);
        // The faults were met: the token endpoint and the vault each saw the hostile answers.
        assert!(server.token_requests() >= 13 && server.secret_reads() >= 13);
    }

    #[tokio::test]
    async fn managed_identities_survive_a_hostile_server() {
        let server = AzureServer::start().await;
        server.put("myvault", "s", "identity-PLANTED-value");
        let sink = Sink::start().await.unwrap();
        let case = Case::value("azurekeyvault://myvault/s", "identity-PLANTED-value");
        let options = Options::new().credential(IDENTITY_HEADER);
        for app_service in [false, true] {
            let builder = server
                .builder(&["myvault"])
                .client(server.following_client(&["myvault"]))
                .retry(quick());
            let provider = if app_service {
                builder.app_service_identity(&server.app_service_url(), IDENTITY_HEADER, None)
            } else {
                builder.managed_identity()
            }
            .unwrap();
            let faults = At {
                server: &server,
                vault: false,
            };
            let failures = check_hostile(Arc::new(provider), &faults, &sink, &case, &options).await;
            assert!(
                failures.is_empty(),
                "app service: {app_service}: {failures:#?}"
            );
        }
        assert_eq!(sink.requests(), 0);
    }
}
