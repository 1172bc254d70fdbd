//! The Microsoft Entra ID v2.0 token endpoint, client credentials grant:
//! `POST {authority}/{tenant}/oauth2/v2.0/token` with a client secret ([`ClientSecret`]) or
//! a client assertion ([`WorkloadIdentity`], a federated token read from a file).
//!
//! The request body holds the secret or the assertion: it is sent so that no redirect can
//! carry it on (the door's policy), and both are registered with the provider's scrubber,
//! so that an error quoting the server never shows them.

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::provider::ProviderError;
use crate::provider::http::Outgoing;
use crate::provider::setting::read_credential;

use super::error::{PROVIDER_ID, configuration, empty_token, entra_failure, entra_transient};
use super::token::{AccessToken, TokenContext, TokenSource};
use super::wire::TokenBody;

/// The client assertion type for a federated token (RFC 7521).
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An app registration signing in with a client secret.
pub(crate) struct ClientSecret {
    tenant: String,
    client_id: String,
    secret: SecretString,
}

impl ClientSecret {
    /// The credential, its parts checked.
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::Configuration`] for a tenant that is not a GUID or domain name,
    /// or an empty client ID or secret.
    pub(crate) fn new(
        tenant: String,
        client_id: String,
        secret: SecretString,
    ) -> Result<Self, ProviderError> {
        check_tenant(&tenant)?;
        check_client_id(&client_id)?;
        if secret.expose_secret().is_empty() {
            return Err(configuration("the client secret is empty"));
        }
        Ok(ClientSecret {
            tenant,
            client_id,
            secret,
        })
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenSource for ClientSecret {
    fn kind(&self) -> &'static str {
        "client secret"
    }

    fn tenant(&self) -> Option<&str> {
        Some(&self.tenant)
    }

    fn held_credentials(&self) -> Vec<&SecretString> {
        vec![&self.secret]
    }

    async fn token(
        &self,
        context: &TokenContext,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError> {
        let grant = Grant::Secret(&self.secret);
        let tenant = tenant.unwrap_or(&self.tenant);
        request_token(context, tenant, &self.client_id, grant, scope).await
    }
}

/// Workload identity federation: a Kubernetes service-account token, read from a file at
/// each request (the kubelet rotates it), sent as the client assertion.
#[derive(Debug)]
pub(crate) struct WorkloadIdentity {
    tenant: String,
    client_id: String,
    token_file: PathBuf,
}

impl WorkloadIdentity {
    /// The credential, its parts checked (the file is read when a token is needed).
    ///
    /// # Errors
    ///
    /// As [`ClientSecret::new`], for the tenant and client ID.
    pub(crate) fn new(
        tenant: String,
        client_id: String,
        token_file: PathBuf,
    ) -> Result<Self, ProviderError> {
        check_tenant(&tenant)?;
        check_client_id(&client_id)?;
        Ok(WorkloadIdentity {
            tenant,
            client_id,
            token_file,
        })
    }
}

#[async_trait]
impl TokenSource for WorkloadIdentity {
    fn kind(&self) -> &'static str {
        "workload identity"
    }

    fn tenant(&self) -> Option<&str> {
        Some(&self.tenant)
    }

    async fn token(
        &self,
        context: &TokenContext,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError> {
        let what = "federated token file (AZURE_FEDERATED_TOKEN_FILE)";
        let assertion = read_credential(PROVIDER_ID, what, &self.token_file).await?;
        context.http.scrubber().add_obtained(&assertion);
        let tenant = tenant.unwrap_or(&self.tenant);
        let grant = Grant::Assertion(&assertion);
        request_token(context, tenant, &self.client_id, grant, scope).await
    }
}

/// What proves the client's identity.
enum Grant<'a> {
    Secret(&'a SecretString),
    Assertion(&'a SecretString),
}

impl Grant<'_> {
    /// The form body of the token request, wiped when dropped.
    fn form(&self, client_id: &str, scope: &str) -> Zeroizing<Vec<u8>> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", client_id)
            .append_pair("scope", scope);
        match self {
            Grant::Secret(secret) => {
                form.append_pair("client_secret", secret.expose_secret());
            }
            Grant::Assertion(assertion) => {
                form.append_pair("client_assertion_type", ASSERTION_TYPE)
                    .append_pair("client_assertion", assertion.expose_secret());
            }
        }
        let text = Zeroizing::new(form.finish());
        Zeroizing::new(text.as_bytes().to_vec())
    }
}

/// A token from the v2.0 endpoint, transient failures retried by the door (one loop).
async fn request_token(
    context: &TokenContext,
    tenant: &str,
    client_id: &str,
    grant: Grant<'_>,
    scope: &str,
) -> Result<AccessToken, ProviderError> {
    let url = context
        .authority_host
        .join(&format!("{tenant}/oauth2/v2.0/token"))
        .map_err(|_| configuration("the authority host and tenant do not make a token URL"))?;
    let target = format!(
        "Microsoft Entra ID at {}",
        context.authority_host.as_str().trim_end_matches('/')
    );
    // A token request may run twice; its body goes nowhere but this origin.
    let request = Outgoing::post(url, target).idempotent().body(
        "application/x-www-form-urlencoded",
        grant.form(client_id, scope),
    );
    let reply = context
        .http
        .call(&request, |reply| {
            entra_transient(reply).then(|| entra_failure(reply, tenant, client_id))
        })
        .await?;
    if !reply.is_success() {
        return Err(entra_failure(&reply, tenant, client_id));
    }
    reply
        .json::<TokenBody>(PROVIDER_ID, "a token")?
        .into_token()
        .ok_or_else(|| empty_token("Microsoft Entra ID"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderErrorKind;

    #[test]
    fn parts_are_checked() {
        let secret = || SecretString::from("s");
        let kind = |r: Result<ClientSecret, ProviderError>| r.unwrap_err().kind();
        assert_eq!(
            kind(ClientSecret::new("bad/tenant".into(), "c".into(), secret())),
            ProviderErrorKind::Configuration
        );
        assert_eq!(
            kind(ClientSecret::new("t".into(), " ".into(), secret())),
            ProviderErrorKind::Configuration
        );
        assert_eq!(
            kind(ClientSecret::new(
                "t".into(),
                "c".into(),
                SecretString::from("")
            )),
            ProviderErrorKind::Configuration
        );
        let ok =
            ClientSecret::new("t".into(), "c".into(), SecretString::from("shh-planted")).unwrap();
        assert!(!format!("{ok:?}").contains("shh-planted"));
        assert_eq!(ok.held_credentials().len(), 1);
        assert!(WorkloadIdentity::new("t t".into(), "c".into(), "/f".into()).is_err());
    }

    #[test]
    fn the_form_carries_the_grant() {
        let secret = SecretString::from("s&cret");
        let form = Grant::Secret(&secret).form("app", "https://vault.azure.net/.default");
        let text = String::from_utf8_lossy(&form).into_owned();
        assert!(text.contains("client_secret=s%26cret"), "{text}");
        assert!(text.contains("scope=https%3A%2F%2Fvault.azure.net%2F.default"));
        let form = Grant::Assertion(&secret).form("app", "s");
        let text = String::from_utf8_lossy(&form).into_owned();
        assert!(text.contains("client_assertion=s%26cret") && !text.contains("client_secret"));
    }
}
