//! Microsoft Entra ID credentials: which kind the provider signs in with, how each gets an
//! access token, and the default chain `from_env` builds (environment client secret →
//! workload identity → managed identity → Azure CLI), as the official SDKs' default
//! credential does.
//!
//! Every credential hands out [`AccessToken`]s for a (tenant, scope) pair; caching them is
//! the caller's business (see `client.rs`). Nothing here prints a secret: `Debug` is written
//! by hand and names only tenants, client IDs and endpoints.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::provider::http::Http;
use crate::provider::{ProviderError, ProviderErrorKind, RetryPolicy};

use super::{PROVIDER_ID, cli, entra, managed};

/// The public cloud's Entra ID authority.
pub(crate) const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The Instance Metadata Service's token endpoint on Azure VMs.
pub(crate) const DEFAULT_IMDS_ENDPOINT: &str =
    "http://169.254.169.254/metadata/identity/oauth2/token";

/// An access token and how long it is valid from now.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) token: SecretString,
    pub(crate) lifetime: Duration,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// What the token endpoints need besides the credential itself.
#[derive(Clone)]
pub(crate) struct Endpoints {
    pub(crate) http: Arc<Http>,
    pub(crate) authority_host: Url,
    pub(crate) imds_endpoint: Url,
    pub(crate) retry: RetryPolicy,
    pub(crate) cli_timeout: Duration,
}

/// Where a managed identity's tokens come from.
#[derive(Clone)]
pub(crate) enum ManagedSource {
    /// The VM's Instance Metadata Service (the endpoint is a setting).
    Imds,
    /// App Service / Functions: `IDENTITY_ENDPOINT` with the `IDENTITY_HEADER` secret.
    AppService { endpoint: Url, header: SecretString },
}

/// One way of signing in.
pub(crate) enum Credential {
    /// An app registration's client secret (client credentials grant).
    ClientSecret {
        tenant: String,
        client_id: String,
        secret: SecretString,
    },
    /// Workload identity federation: a Kubernetes service-account token, read from a file
    /// at each request (it rotates), sent as the client assertion.
    WorkloadIdentity {
        tenant: String,
        client_id: String,
        token_file: PathBuf,
    },
    /// A managed identity, system-assigned or user-assigned (by client ID).
    ManagedIdentity {
        source: ManagedSource,
        client_id: Option<String>,
    },
    /// The signed-in Azure CLI user (`az account get-access-token`).
    AzureCli { program: PathBuf },
    /// Managed identity, then the Azure CLI: the first that gives a token is kept.
    Chain {
        links: Vec<Credential>,
        chosen: Mutex<Option<usize>>,
    },
}

impl Credential {
    /// A short name for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Credential::ClientSecret { .. } => "client secret",
            Credential::WorkloadIdentity { .. } => "workload identity",
            Credential::ManagedIdentity {
                source: ManagedSource::Imds,
                ..
            } => "managed identity (IMDS)",
            Credential::ManagedIdentity {
                source: ManagedSource::AppService { .. },
                ..
            } => "managed identity (App Service)",
            Credential::AzureCli { .. } => "Azure CLI",
            Credential::Chain { .. } => "default chain",
        }
    }

    /// The tenant this credential signs in to when no challenge named one.
    pub(crate) fn home_tenant(&self) -> Option<&str> {
        match self {
            Credential::ClientSecret { tenant, .. }
            | Credential::WorkloadIdentity { tenant, .. } => Some(tenant),
            _ => None,
        }
    }

    /// The tenant a token for a vault in `challenged` is requested from: managed identities
    /// have one tenant and ignore it (so that vaults of several tenants share one token).
    pub(crate) fn tenant_for(&self, challenged: Option<&str>) -> Option<String> {
        match self {
            Credential::ManagedIdentity { .. } => None,
            _ => challenged.or(self.home_tenant()).map(str::to_owned),
        }
    }

    /// A token for `scope` (`https://vault.azure.net/.default`) in `tenant`.
    pub(crate) fn token<'a>(
        &'a self,
        endpoints: &'a Endpoints,
        tenant: Option<&'a str>,
        scope: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<AccessToken, ProviderError>> {
        Box::pin(async move {
            match self {
                Credential::ClientSecret {
                    tenant: home,
                    client_id,
                    secret,
                } => {
                    let tenant = tenant.unwrap_or(home);
                    let grant = entra::Grant::Secret(secret.clone());
                    entra::token(endpoints, tenant, client_id, grant, scope).await
                }
                Credential::WorkloadIdentity {
                    tenant: home,
                    client_id,
                    token_file,
                } => {
                    let tenant = tenant.unwrap_or(home);
                    let assertion = entra::read_assertion(token_file).await?;
                    let grant = entra::Grant::Assertion(assertion);
                    entra::token(endpoints, tenant, client_id, grant, scope).await
                }
                Credential::ManagedIdentity { source, client_id } => {
                    managed::token(endpoints, source, client_id.as_deref(), scope, None).await
                }
                Credential::AzureCli { program } => {
                    cli::token(program, endpoints.cli_timeout, tenant, scope).await
                }
                Credential::Chain { links, chosen } => {
                    chain_token(links, chosen, endpoints, tenant, scope).await
                }
            }
        })
    }
}

/// How long the chain waits for IMDS before deciding it is not on an Azure host.
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

async fn chain_token(
    links: &[Credential],
    chosen: &Mutex<Option<usize>>,
    endpoints: &Endpoints,
    tenant: Option<&str>,
    scope: &str,
) -> Result<AccessToken, ProviderError> {
    let kept = *chosen.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(index) = kept
        && let Some(link) = links.get(index)
    {
        return link.token(endpoints, tenant, scope).await;
    }
    let mut failures = Vec::new();
    for (index, link) in links.iter().enumerate() {
        let outcome = match link {
            // A first try at IMDS is a probe: short, not retried, so that a laptop falls
            // through to the CLI quickly.
            Credential::ManagedIdentity {
                source: ManagedSource::Imds,
                client_id,
            } => {
                let probe = Endpoints {
                    retry: RetryPolicy::never(),
                    ..endpoints.clone()
                };
                managed::token(
                    &probe,
                    &ManagedSource::Imds,
                    client_id.as_deref(),
                    scope,
                    Some(IMDS_PROBE_TIMEOUT),
                )
                .await
            }
            other => other.token(endpoints, tenant, scope).await,
        };
        match outcome {
            Ok(token) => {
                *chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some(index);
                return Ok(token);
            }
            Err(e) => failures.push((link.kind(), e)),
        }
    }
    // The most telling failure decides the kind: a CLI that is installed but signed out
    // says Unauthorized; nothing available at all is a configuration problem.
    let kind = failures
        .iter()
        .map(|(_, e)| e.kind())
        .find(|k| {
            matches!(
                k,
                ProviderErrorKind::Unauthorized | ProviderErrorKind::Forbidden
            )
        })
        .unwrap_or(ProviderErrorKind::Configuration);
    let tried: Vec<String> = failures
        .iter()
        .map(|(name, e)| format!("{name}: {}", e.message()))
        .collect();
    Err(ProviderError::new(
        PROVIDER_ID,
        kind,
        format!(
            "no Azure credential gave a token (set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, run on an Azure host with a managed identity, or sign in with `az login`); tried {}",
            tried.join("; ")
        ),
    ))
}

/// The credential `from_env` picks, reading variables through `var`: a client secret when
/// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are set; workload
/// identity when `AZURE_FEDERATED_TOKEN_FILE` is (with the tenant and client ID); otherwise
/// managed identity (App Service's `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, else IMDS, for
/// the client ID in `AZURE_CLIENT_ID` if any) then the Azure CLI.
pub(crate) fn from_env(
    var: impl Fn(&str) -> Option<String>,
    az_program: PathBuf,
) -> Result<Credential, ProviderError> {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let tenant = var("AZURE_TENANT_ID");
    let client_id = var("AZURE_CLIENT_ID");
    if let Some(secret) = var("AZURE_CLIENT_SECRET") {
        return match (tenant, client_id) {
            (Some(tenant), Some(client_id)) => client_secret(tenant, client_id, secret.into()),
            _ => Err(configuration(
                "AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID or AZURE_CLIENT_ID is not",
            )),
        };
    }
    if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE") {
        return match (tenant, client_id) {
            (Some(tenant), Some(client_id)) => {
                workload_identity(tenant, client_id, PathBuf::from(file))
            }
            _ => Err(configuration(
                "AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID or AZURE_CLIENT_ID is not",
            )),
        };
    }
    let managed = Credential::ManagedIdentity {
        source: managed_source(&var)?,
        client_id,
    };
    let is_app_service = matches!(
        managed,
        Credential::ManagedIdentity {
            source: ManagedSource::AppService { .. },
            ..
        }
    );
    if is_app_service {
        return Ok(managed);
    }
    Ok(Credential::Chain {
        links: vec![
            managed,
            Credential::AzureCli {
                program: az_program,
            },
        ],
        chosen: Mutex::new(None),
    })
}

/// App Service's endpoint when both of its variables are set, else IMDS.
pub(crate) fn managed_source(
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<ManagedSource, ProviderError> {
    match (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
        (Some(endpoint), Some(header)) => {
            let endpoint = Url::parse(&endpoint)
                .map_err(|_| configuration("IDENTITY_ENDPOINT is not a URL"))?;
            Ok(ManagedSource::AppService {
                endpoint,
                header: header.into(),
            })
        }
        _ => Ok(ManagedSource::Imds),
    }
}

/// A client-secret credential, its parts checked.
pub(crate) fn client_secret(
    tenant: String,
    client_id: String,
    secret: SecretString,
) -> Result<Credential, ProviderError> {
    check_tenant(&tenant)?;
    check_client_id(&client_id)?;
    if secrecy::ExposeSecret::expose_secret(&secret).is_empty() {
        return Err(configuration("the client secret is empty"));
    }
    Ok(Credential::ClientSecret {
        tenant,
        client_id,
        secret,
    })
}

/// A workload-identity credential, its parts checked (the file is read at each request).
pub(crate) fn workload_identity(
    tenant: String,
    client_id: String,
    token_file: PathBuf,
) -> Result<Credential, ProviderError> {
    check_tenant(&tenant)?;
    check_client_id(&client_id)?;
    Ok(Credential::WorkloadIdentity {
        tenant,
        client_id,
        token_file,
    })
}

/// A tenant is a GUID or a domain name; it goes into a URL path.
fn check_tenant(tenant: &str) -> Result<(), ProviderError> {
    let valid = !tenant.is_empty()
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(configuration(
            "the tenant ID must be a GUID or a domain name (letters, digits, `-` and `.`)",
        ))
    }
}

fn check_client_id(client_id: &str) -> Result<(), ProviderError> {
    if client_id.trim().is_empty() {
        Err(configuration("the client ID is empty"))
    } else {
        Ok(())
    }
}

pub(crate) fn configuration(message: &str) -> ProviderError {
    ProviderError::new(PROVIDER_ID, ProviderErrorKind::Configuration, message)
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ClientSecret {
                tenant, client_id, ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant", tenant)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Credential::WorkloadIdentity {
                tenant,
                client_id,
                token_file,
            } => f
                .debug_struct("WorkloadIdentity")
                .field("tenant", tenant)
                .field("client_id", client_id)
                .field("token_file", token_file)
                .finish(),
            Credential::ManagedIdentity { source, client_id } => {
                let mut out = f.debug_struct("ManagedIdentity");
                match source {
                    ManagedSource::Imds => out.field("source", &"imds"),
                    ManagedSource::AppService { endpoint, .. } => out
                        .field("source", &"app service")
                        .field("endpoint", &endpoint.as_str()),
                };
                out.field("client_id", client_id).finish_non_exhaustive()
            }
            Credential::AzureCli { program } => f
                .debug_struct("AzureCli")
                .field("program", program)
                .finish(),
            Credential::Chain { links, .. } => f.debug_list().entries(links).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn pick(vars: &[(&str, &str)]) -> Result<Credential, ProviderError> {
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
        let Credential::Chain { links, .. } = &chain else {
            panic!("{chain:?}")
        };
        assert_eq!(links[0].kind(), "managed identity (IMDS)");
        assert_eq!(links[1].kind(), "Azure CLI");
        assert!(format!("{chain:?}").contains("user-assigned"));
    }

    #[test]
    fn half_configured_environments_are_refused() {
        let err = pick(&[("AZURE_CLIENT_SECRET", "s")]).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Configuration);
        assert!(!err.to_string().contains("=s"));
        let err = pick(&[("AZURE_FEDERATED_TOKEN_FILE", "/f")]).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Configuration);
        let err = client_secret("bad/tenant".into(), "c".into(), "s".into()).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Configuration);
    }

    fn endpoints(imds: &str) -> Endpoints {
        Endpoints {
            http: Arc::new(
                crate::provider::HttpOptions::new()
                    .build(super::PROVIDER_ID, RetryPolicy::never())
                    .unwrap(),
            ),
            authority_host: Url::parse(DEFAULT_AUTHORITY_HOST).unwrap(),
            imds_endpoint: Url::parse(imds).unwrap(),
            retry: RetryPolicy::never(),
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
            "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls\"\necho '{\"accessToken\": \"cli-token\", \"expires_on\": 4000000000}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&az, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let chain = from_env(|_| None, az.clone()).unwrap();
        let endpoints = endpoints(&closed_port());
        let token = chain
            .token(&endpoints, None, "https://vault.azure.net/.default")
            .await
            .unwrap();
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&token.token),
            "cli-token"
        );
        assert!(token.lifetime > Duration::from_secs(3600));
        let Credential::Chain { chosen, .. } = &chain else {
            unreachable!()
        };
        assert_eq!(*chosen.lock().unwrap(), Some(1), "the CLI is kept");
        chain
            .token(&endpoints, Some("t2"), "https://vault.azure.net/.default")
            .await
            .unwrap();
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
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
                &endpoints(&closed_port()),
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
        let managed = Credential::ManagedIdentity {
            source: ManagedSource::Imds,
            client_id: None,
        };
        assert_eq!(managed.tenant_for(Some("t2")), None);
        let secret = client_secret("t1".into(), "c".into(), "s".into()).unwrap();
        assert_eq!(secret.tenant_for(None).as_deref(), Some("t1"));
        assert_eq!(secret.tenant_for(Some("t2")).as_deref(), Some("t2"));
    }
}
