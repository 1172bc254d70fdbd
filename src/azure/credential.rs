//! Which credential the provider signs in with: the [`TokenSource`] `from_env` picks
//! (environment client secret → workload identity → managed identity → Azure CLI), as the
//! official SDKs' default credential does.

use std::path::PathBuf;

use crate::provider::ProviderError;

use super::chain::Chain;
use super::cli::AzureCli;
use super::entra::{ClientSecret, WorkloadIdentity};
use super::error::configuration;
use super::managed::{ManagedIdentity, ManagedSource};
use super::token::TokenSource;

/// The credential `from_env` picks, reading variables through `var`: a client secret when
/// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are set; workload
/// identity when `AZURE_FEDERATED_TOKEN_FILE` is (with the tenant and client ID); App
/// Service's managed identity when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are; otherwise
/// IMDS's managed identity (for the client ID in `AZURE_CLIENT_ID` if any) then the Azure
/// CLI, chained.
///
/// # Errors
///
/// [`ProviderErrorKind::Configuration`](crate::ProviderErrorKind::Configuration) when the
/// environment is half set or a value is malformed.
pub(crate) fn from_env(
    var: impl Fn(&str) -> Option<String>,
    az_program: PathBuf,
) -> Result<Box<dyn TokenSource>, ProviderError> {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let tenant = var("AZURE_TENANT_ID");
    let client_id = var("AZURE_CLIENT_ID");
    if let Some(secret) = var("AZURE_CLIENT_SECRET") {
        return match (tenant, client_id) {
            (Some(tenant), Some(client_id)) => Ok(Box::new(ClientSecret::new(
                tenant,
                client_id,
                secret.into(),
            )?)),
            _ => Err(configuration(
                "AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID or AZURE_CLIENT_ID is not",
            )),
        };
    }
    if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE") {
        return match (tenant, client_id) {
            (Some(tenant), Some(client_id)) => Ok(Box::new(WorkloadIdentity::new(
                tenant,
                client_id,
                PathBuf::from(file),
            )?)),
            _ => Err(configuration(
                "AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID or AZURE_CLIENT_ID is not",
            )),
        };
    }
    let managed = ManagedIdentity::new(ManagedSource::from_env(&var)?, client_id);
    if managed.is_app_service() {
        return Ok(Box::new(managed));
    }
    Ok(Box::new(Chain::new(vec![
        Box::new(managed),
        Box::new(AzureCli::new(az_program)),
    ])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use secrecy::ExposeSecret;
    use url::Url;

    use crate::provider::{HttpOptions, ProviderErrorKind, RetryPolicy};

    use super::super::error::PROVIDER_ID;
    use super::super::token::TokenContext;

    fn pick(vars: &[(&str, &str)]) -> Result<Box<dyn TokenSource>, ProviderError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_env(move |name| map.get(name).cloned(), PathBuf::from("az"))
    }

    #[test]
    fn the_chain_follows_the_sdks_order() {
        let secret = pick(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "shh-planted"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
        ])
        .unwrap();
        assert_eq!(secret.kind(), "client secret");
        assert_eq!(secret.tenant(), Some("t"));
        assert!(!format!("{secret:?}").contains("shh-planted"));

        let workload = pick(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
        ])
        .unwrap();
        assert_eq!(workload.kind(), "workload identity");

        let app = pick(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:41/msi/token"),
            ("IDENTITY_HEADER", "header-planted"),
        ])
        .unwrap();
        assert_eq!(app.kind(), "managed identity (App Service)");
        assert!(!format!("{app:?}").contains("header-planted"));

        let chain = pick(&[("AZURE_CLIENT_ID", "user-assigned")]).unwrap();
        assert_eq!(chain.kind(), "default chain");
        let shown = format!("{chain:?}");
        assert!(
            shown.contains("ManagedIdentity") && shown.contains("AzureCli"),
            "{shown}"
        );
        assert!(shown.contains("user-assigned"), "{shown}");
    }

    #[test]
    fn half_configured_environments_are_refused() {
        let err = pick(&[("AZURE_CLIENT_SECRET", "s")]).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Configuration);
        assert!(!err.to_string().contains("=s"));
        let err = pick(&[("AZURE_FEDERATED_TOKEN_FILE", "/f")]).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Configuration);
        let err = pick(&[
            ("AZURE_TENANT_ID", "bad/tenant"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Configuration);
    }

    fn context(imds: &str) -> TokenContext {
        let http = || {
            Arc::new(
                HttpOptions::new()
                    .build(PROVIDER_ID, RetryPolicy::never())
                    .unwrap(),
            )
        };
        TokenContext {
            http: http(),
            metadata: http(),
            authority_host: Url::parse("https://login.microsoftonline.com").unwrap(),
            imds_endpoint: Url::parse(imds).unwrap(),
            cli_timeout: Duration::from_secs(20),
        }
    }

    /// An address on loopback where nothing listens.
    fn closed_port() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}/metadata/identity/oauth2/token")
    }

    #[tokio::test]
    async fn the_chain_falls_through_to_the_cli_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let az = dir.path().join("az");
        std::fs::write(
            &az,
            "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls\"\necho '{\"accessToken\": \"cli-token\", \"expires_on\": 4000000000, \"tenant\": \"t1\"}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&az, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let chain = from_env(|_| None, az.clone()).unwrap();
        assert!(chain.chooses_tenant() && !chain.is_home_tenant("t1"));
        let context = context(&closed_port());
        let token = chain
            .token(&context, None, "https://vault.azure.net/.default")
            .await
            .unwrap();
        assert_eq!(token.token.expose_secret(), "cli-token");
        assert!(token.lifetime > Duration::from_secs(3600));
        assert!(chain.is_home_tenant("T1"), "the CLI's tenant is learned");
        chain
            .token(&context, Some("t2"), "https://vault.azure.net/.default")
            .await
            .unwrap();
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert_eq!(calls.lines().count(), 2, "IMDS is not tried again: {calls}");
        assert!(
            calls.lines().nth(1).unwrap().ends_with("--tenant t2"),
            "{calls}"
        );
    }

    #[tokio::test]
    async fn an_empty_chain_says_what_it_tried() {
        let chain = from_env(|_| None, PathBuf::from("/nonexistent/az")).unwrap();
        let err = chain
            .token(
                &context(&closed_port()),
                None,
                "https://vault.azure.net/.default",
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Configuration);
        assert!(err.message().contains("managed identity (IMDS):"), "{err}");
        assert!(err.message().contains("Azure CLI:"), "{err}");
    }

    #[test]
    fn managed_identities_ignore_challenged_tenants() {
        let managed = pick(&[]).unwrap();
        assert!(managed.chooses_tenant(), "a chain that chose nothing yet");
        let app = pick(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:41/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ])
        .unwrap();
        assert!(!app.chooses_tenant());
        let secret = pick(&[
            ("AZURE_TENANT_ID", "t1"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ])
        .unwrap();
        assert!(secret.chooses_tenant() && secret.is_home_tenant("T1"));
        assert!(!secret.is_home_tenant("t2"));
    }
}
