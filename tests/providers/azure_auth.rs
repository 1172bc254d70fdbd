//! The Azure Key Vault provider's sign-in against the HTTPS stand-in
//! (`tests/common/azure/`): each credential kind (client secret, workload identity, managed
//! identity through IMDS and App Service, the Azure CLI), token caching and refresh, the
//! authentication challenge with its resource and tenant checks, and how often a failing
//! token endpoint is tried.

use crate::common;

use std::time::Duration;

use common::azure::{
    AzStandIn, AzureServer, CLIENT_ID, CLIENT_SECRET, FEDERATED_TOKEN, Fault, IDENTITY_HEADER,
    TENANT, USER_ASSIGNED,
};
use request_vault::{AzureKeyVault, ExposeSecret, ExternalProvider, ProviderErrorKind};

async fn secret_provider(server: &AzureServer, vaults: &[&str]) -> AzureKeyVault {
    server
        .builder(vaults)
        .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
        .unwrap()
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let provider = secret_provider(&server, &["myvault"]).await;
    provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(server.token_requests(), 1);
    provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(server.token_requests(), 1, "the token is kept");

    server.revoke_tokens();
    let value = provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(value.expose_secret(), "value");
    assert_eq!(server.token_requests(), 2, "refreshed once after the 401");
    assert_eq!(server.challenges(), 1);
}

#[tokio::test]
async fn a_401_after_a_fresh_token_is_unauthorized() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    // A managed identity lives in tenant-a; a vault of tenant-b keeps refusing it.
    server.set_tenant("myvault", "tenant-b");
    let provider = server.builder(&["myvault"]).managed_identity().unwrap();
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    assert!(err.to_string().contains("refused a fresh token"), "{err}");
    assert_eq!(
        server.imds_requests(),
        2,
        "the first token, then one refresh"
    );
    assert_eq!(server.challenges(), 2);
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    // A one-second token is kept for at most half its life.
    server.set_token_lifetime(1);
    let provider = secret_provider(&server, &["myvault"]).await;
    provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(server.token_requests(), 2);
    assert_eq!(server.challenges(), 0, "never sent an expired token");
}

#[tokio::test]
async fn a_challenge_for_a_foreign_resource_is_refused() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    server.set_tenant("myvault", "tenant-b");
    server.set_challenge_resource("https://evil.example.com");
    let provider = secret_provider(&server, &["myvault"]).await;
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    assert!(
        err.to_string().contains("https://evil.example.com"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("refused the authentication challenge"),
        "{err}"
    );
    assert_eq!(
        server.token_requests_for("tenant-b"),
        0,
        "no token for the foreign resource"
    );
    assert!(!server.log().iter().any(|l| l.contains("evil.example.com")));
}

#[tokio::test]
async fn a_wrong_client_secret_is_unauthorized_without_echoing_it() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let provider = server
        .builder(&["myvault"])
        .client_secret(TENANT, CLIENT_ID, "wrong-secret-PLANTED")
        .unwrap();
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("invalid_client") && text.contains("AADSTS7000215"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-PLANTED"));

    let provider = server
        .builder(&["myvault"])
        .client_secret("tenant-zzz", CLIENT_ID, CLIENT_SECRET)
        .unwrap();
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Configuration);
    assert!(err.to_string().contains("AADSTS90002"), "{err}");
}

#[tokio::test]
async fn workload_identity_reads_the_token_file_at_each_request() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, format!("{FEDERATED_TOKEN}\n")).unwrap();
    let provider = server
        .builder(&["myvault"])
        .workload_identity_file(TENANT, CLIENT_ID, &file)
        .unwrap();
    let value = provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(value.expose_secret(), "value");
    let request = server
        .log()
        .into_iter()
        .find(|l| l.contains("oauth2"))
        .unwrap();
    assert!(request.contains(
        "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
    ));
    assert!(!request.contains("client_secret"));

    // A rotated (here: wrong) file is read anew on the next token request.
    std::fs::write(&file, "stale-assertion").unwrap();
    provider.clear_cache();
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    std::fs::remove_file(&file).unwrap();
    provider.clear_cache();
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Configuration);
    assert!(err.to_string().contains("federated token file"), "{err}");
}

#[tokio::test]
async fn managed_identity_through_imds() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let provider = server.builder(&["myvault"]).managed_identity().unwrap();
    assert_eq!(
        provider
            .resolve("azurekeyvault://myvault/s")
            .await
            .unwrap()
            .expose_secret(),
        "value"
    );
    let request = server
        .log()
        .into_iter()
        .find(|l| l.contains("/metadata/"))
        .unwrap();
    assert!(request.contains("api-version=2018-02-01"), "{request}");
    assert!(
        request.contains("resource=https%3A%2F%2Fvault.azure.net"),
        "{request}"
    );
    assert!(!request.contains("client_id"), "{request}");

    let user = server
        .builder(&["myvault"])
        .user_assigned_identity(USER_ASSIGNED)
        .unwrap();
    assert!(user.resolve("azurekeyvault://myvault/s").await.is_ok());
    let unknown = server
        .builder(&["myvault"])
        .user_assigned_identity("nobody")
        .unwrap();
    let err = unknown
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Configuration);
    assert!(err.to_string().contains("`nobody`"), "{err}");
}

#[tokio::test]
async fn managed_identity_through_app_service() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let provider = server
        .builder(&["myvault"])
        .app_service_identity(&server.app_service_url(), IDENTITY_HEADER, None)
        .unwrap();
    assert_eq!(
        provider
            .resolve("azurekeyvault://myvault/s")
            .await
            .unwrap()
            .expose_secret(),
        "value"
    );
    assert_eq!(server.app_service_requests(), 1);
    assert!(!format!("{provider:?}").contains(IDENTITY_HEADER));

    let wrong = server
        .builder(&["myvault"])
        .app_service_identity(&server.app_service_url(), "wrong-header", None)
        .unwrap();
    let err = wrong
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
}

#[tokio::test]
async fn azure_cli() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    let az = AzStandIn::new(&server.issue(TENANT));
    let provider = server
        .builder(&["myvault"])
        .az_path(az.program())
        .azure_cli()
        .unwrap();
    assert_eq!(
        provider
            .resolve("azurekeyvault://myvault/s")
            .await
            .unwrap()
            .expose_secret(),
        "value"
    );
    assert_eq!(
        az.calls(),
        ["account get-access-token --output json --resource https://vault.azure.net"]
    );

    az.sign_out();
    provider.clear_cache();
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    assert!(err.to_string().contains("az login"), "{err}");

    let missing = server
        .builder(&["myvault"])
        .az_path(az.dir.path().join("no-such-az"))
        .azure_cli()
        .unwrap();
    let err = missing
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Configuration);
    assert!(err.to_string().contains("install the Azure CLI"), "{err}");
}

#[tokio::test]
async fn sovereign_clouds_ask_for_their_own_scope_and_refuse_another_clouds() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    // A vault of the China cloud in another tenant: its challenge names that cloud's resource.
    server.set_challenge_resource("https://vault.azure.cn");
    server.set_tenant("myvault", "tenant-b");
    let provider = server
        .builder(&["myvault"])
        .dns_suffix("vault.azure.cn")
        .additionally_allowed_tenants(["tenant-b"])
        .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
        .unwrap();
    let value = provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(value.expose_secret(), "value");
    let scopes: Vec<String> = server
        .log()
        .into_iter()
        .filter(|l| l.contains("oauth2"))
        .collect();
    assert_eq!(scopes.len(), 2, "{scopes:?}");
    for scope in &scopes {
        assert!(
            scope.contains("scope=https%3A%2F%2Fvault.azure.cn%2F.default"),
            "{scopes:?}"
        );
    }
    assert!(scopes[1].contains("/tenant-b/"), "{scopes:?}");
    assert_eq!(server.challenges(), 1);

    // For this provider, the public cloud's resource is another cloud's: refused.
    server.set_challenge_resource("https://vault.azure.net");
    server.revoke_tokens();
    let before = server.token_requests();
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    assert!(
        err.to_string().contains("`https://vault.azure.net`"),
        "{err}"
    );
    assert!(err.to_string().contains("https://vault.azure.cn"), "{err}");
    assert_eq!(
        server.token_requests(),
        before,
        "no token for another cloud"
    );
}

#[tokio::test]
async fn a_challenge_for_a_parent_domain_or_another_resource_is_refused() {
    for resource in [
        "https://azure.net",
        "https://net",
        "https://evil.vault.azure.net",
        "https://vault.azure.net/other",
        "http://vault.azure.net",
    ] {
        // The vault is in the credential's own tenant; it wants tokens for `resource`.
        let server = AzureServer::start().await;
        server.put("myvault", "s", "value");
        server.set_challenge_resource(resource);
        let provider = secret_provider(&server, &["myvault"]).await;
        let err = provider
            .resolve("azurekeyvault://myvault/s")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unauthorized, "{resource}");
        assert!(err.to_string().contains(&format!("`{resource}`")), "{err}");
        assert_eq!(server.token_requests(), 1, "no token for {resource}");
        assert_eq!(server.challenges(), 1, "{resource}");
    }
}

/// The regression of issue 20, item 10: a vault's challenge naming another tenant made the
/// provider request a token for that tenant with the client secret.
#[tokio::test]
async fn a_challenge_for_another_tenant_gets_no_token_with_the_client_secret() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    server.set_tenant("myvault", "tenant-b");
    let provider = secret_provider(&server, &["myvault"]).await;
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    let text = err.to_string();
    assert!(text.contains("tenant `tenant-b`"), "{text}");
    assert!(text.contains("additionally_allowed_tenants"), "{text}");
    assert_eq!(server.token_requests_for("tenant-b"), 0);
    assert_eq!(server.token_requests(), 1, "only the home tenant's token");
}

#[tokio::test]
async fn allowed_tenants_are_followed_and_others_are_not() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    server.set_tenant("myvault", "tenant-b");
    for (allowed, follows) in [
        (vec!["tenant-b"], true),
        (vec!["TENANT-B"], true),
        (vec!["*"], true),
        (vec!["tenant-c"], false),
        (vec![], false),
    ] {
        server.reset_counts();
        let provider = server
            .builder(&["myvault"])
            .additionally_allowed_tenants(allowed.clone())
            .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
            .unwrap();
        let result = provider.resolve("azurekeyvault://myvault/s").await;
        assert_eq!(result.is_ok(), follows, "{allowed:?}");
        assert_eq!(
            server.token_requests_for("tenant-b"),
            usize::from(follows),
            "{allowed:?}"
        );
    }

    // Workload identity follows the same rule.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, FEDERATED_TOKEN).unwrap();
    server.reset_counts();
    let workload = server
        .builder(&["myvault"])
        .workload_identity_file(TENANT, CLIENT_ID, &file)
        .unwrap();
    let err = workload
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    assert_eq!(server.token_requests_for("tenant-b"), 0);
}

#[tokio::test]
async fn the_cli_follows_its_own_tenant_and_no_other() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    server.put("othervault", "s", "other");
    server.set_tenant("othervault", "tenant-b");
    let az = AzStandIn::new(&server.issue(TENANT));
    let provider = server
        .builder(&["myvault", "othervault"])
        .az_path(az.program())
        .azure_cli()
        .unwrap();
    provider.resolve("azurekeyvault://myvault/s").await.unwrap();

    // The token is revoked: the vault's challenge names the tenant `az` signed in to, so a
    // token is asked for it.
    server.revoke_tokens();
    std::fs::write(az.dir.path().join("token"), server.issue(TENANT)).unwrap();
    let value = provider.resolve("azurekeyvault://myvault/s").await.unwrap();
    assert_eq!(value.expose_secret(), "value");
    assert!(
        az.calls().last().unwrap().ends_with("--tenant tenant-a"),
        "{:?}",
        az.calls()
    );

    // A vault of another tenant is not followed.
    let err = provider
        .resolve("azurekeyvault://othervault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized);
    assert!(err.to_string().contains("tenant `tenant-b`"), "{err}");
    assert!(!az.calls().iter().any(|c| c.contains("tenant-b")));
}

/// Issue 24: the token is fetched outside the retried read, so a failing token endpoint is
/// tried the policy's attempts once per resolve, not once per attempt of the read.
#[tokio::test]
async fn a_failing_token_endpoint_is_hit_at_most_max_attempts_times_per_resolve() {
    let server = AzureServer::start().await;
    server.put("myvault", "s", "value");
    for _ in 0..20 {
        server.fail_token(Fault::Status(503, None));
    }
    let provider = secret_provider(&server, &["myvault"]).await;
    let err = provider
        .resolve("azurekeyvault://myvault/s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unavailable);
    assert_eq!(server.token_requests(), 3, "the builder's max_attempts");
    assert_eq!(server.vault_requests(), 0);

    // Through the managed identity too.
    server.clear_faults();
    server.reset_counts();
    for _ in 0..20 {
        server.fail_token(Fault::Status(500, None));
    }
    let managed = server.builder(&["myvault"]).managed_identity().unwrap();
    assert!(managed.resolve("azurekeyvault://myvault/s").await.is_err());
    assert_eq!(server.imds_requests(), 3);
}
