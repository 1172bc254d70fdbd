//! The provider edge of the Azure provider (issue 20): redirects to another origin from the
//! token endpoint, Key Vault and the managed identity endpoints carry no credential there,
//! with the crate's client and with a caller's client that follows redirects; echoed
//! requests show no credential in errors. The hostile-server check of `provider::conformance`
//! is in `tests/azure.rs`.

use request_vault::{AzureKeyVault, ExternalProvider, ProviderErrorKind};

use super::common::azure::{
    AzureServer, CLIENT_ID, CLIENT_SECRET, FEDERATED_TOKEN, Fault, IDENTITY_HEADER, TENANT,
};
use super::common::http::HttpServer;
use super::secret_provider;

const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// Every error text a caller can see: `Display`, `Debug` and the sources'.
fn shown(error: &request_vault::ProviderError) -> String {
    let mut text = format!("{error} {error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(&format!(" {inner} {inner:?}"));
        source = inner.source();
    }
    text
}

/// A provider signing in with the client secret through `client`.
fn through(server: &AzureServer, client: reqwest::Client) -> AzureKeyVault {
    server
        .builder(&["myvault"])
        .client(client)
        .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
        .unwrap()
}

/// Issue 20, item 1: the Entra token endpoint answered with a redirect to another origin
/// must not make the provider send the client secret there, with the crate's client or with
/// a caller's client that follows redirects.
#[tokio::test]
async fn a_redirected_token_request_sends_the_client_secret_nowhere_else() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let sink = HttpServer::start().await;
    for following in [false, true] {
        for status in REDIRECTS {
            let client = if following {
                server.following_client(&["myvault"])
            } else {
                server.client(&["myvault"])
            };
            server.fail_token(Fault::Redirect(status, format!("{}/stolen", sink.url())));
            let err = through(&server, client)
                .resolve("azurekeyvault://myvault/s")
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::Protocol, "{status}: {err}");
            assert!(err.to_string().contains(&sink.url()), "{err}");
            let reached = sink.received();
            if !following {
                assert!(reached.is_empty(), "the crate's client followed a {status}");
            }
            for request in &reached {
                let text = format!("{}{}", request.head, String::from_utf8_lossy(&request.body));
                assert!(!text.contains(CLIENT_SECRET), "{status}: {text}");
                assert!(!text.contains("client_secret"), "{status}: {text}");
                assert!(
                    request.request_line().starts_with("GET"),
                    "{status}: re-POSTed"
                );
            }
        }
    }
    assert_eq!(server.vault_requests(), 0);
}

/// The same for a Key Vault read carrying a token, and for the managed identity
/// endpoints, whose `X-IDENTITY-HEADER` is a custom header a following client would carry
/// on: they never use the caller's client.
#[tokio::test]
async fn redirected_reads_and_identity_requests_carry_no_credential() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let sink = HttpServer::start().await;
    let location = format!("{}/stolen", sink.url());
    for status in REDIRECTS {
        server.fail_vault(Fault::Redirect(status, location.clone()));
        let err = through(&server, server.client(&["myvault"]))
            .resolve("azurekeyvault://myvault/s")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Protocol, "{err}");
    }
    assert!(
        sink.received().is_empty(),
        "the crate's client followed a redirect"
    );
    for status in REDIRECTS {
        server.fail_vault(Fault::Redirect(status, location.clone()));
        let provider = through(&server, server.following_client(&["myvault"]));
        assert!(provider.resolve("azurekeyvault://myvault/s").await.is_err());
    }
    for request in sink.received() {
        assert_eq!(request.header("authorization"), None, "{}", request.head);
        assert!(!request.head.contains("-access-token"), "{}", request.head);
    }

    // Managed identities, given a following client: it is not used for them.
    let before = sink.received().len();
    for status in REDIRECTS {
        for app_service in [false, true] {
            let builder = server
                .builder(&["myvault"])
                .client(server.following_client(&["myvault"]));
            let provider = if app_service {
                builder.app_service_identity(&server.app_service_url(), IDENTITY_HEADER, None)
            } else {
                builder.managed_identity()
            }
            .unwrap();
            server.fail_token(Fault::Redirect(status, location.clone()));
            let err = provider
                .resolve("azurekeyvault://myvault/s")
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ProviderErrorKind::Protocol, "{err}");
        }
    }
    assert_eq!(
        sink.received().len(),
        before,
        "an identity request was redirected"
    );
    assert_eq!(server.imds_requests() + server.app_service_requests(), 10);
}

/// Issue 20: server text in errors is scrubbed of every credential the provider holds or
/// obtained: the client secret, the federated assertion, access tokens, the identity header.
#[tokio::test]
async fn echoed_requests_show_no_credential_in_errors() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let reference = "azurekeyvault://myvault/s";
    let check = |err: request_vault::ProviderError, planted: &str| {
        let text = shown(&err);
        assert!(!text.contains(planted), "`{planted}` shown: {text}");
        assert!(!text.contains("-access-token"), "a token shown: {text}");
        // The echo was quoted, with the credential masked.
        assert!(text.contains("[credential]"), "{text}");
    };

    let secret = secret_provider(&server, &["myvault"]).await;
    server.fail_token(Fault::Echo(400));
    check(secret.resolve(reference).await.unwrap_err(), CLIENT_SECRET);
    for status in [400, 403] {
        server.fail_vault(Fault::Echo(status));
        check(secret.resolve(reference).await.unwrap_err(), CLIENT_SECRET);
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, FEDERATED_TOKEN).unwrap();
    let workload = server
        .builder(&["myvault"])
        .workload_identity_file(TENANT, CLIENT_ID, &file)
        .unwrap();
    server.fail_token(Fault::Echo(401));
    check(
        workload.resolve(reference).await.unwrap_err(),
        FEDERATED_TOKEN,
    );

    let app = server
        .builder(&["myvault"])
        .app_service_identity(&server.app_service_url(), IDENTITY_HEADER, None)
        .unwrap();
    server.fail_token(Fault::Echo(400));
    check(app.resolve(reference).await.unwrap_err(), IDENTITY_HEADER);
}
