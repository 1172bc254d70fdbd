//! Key Vault's authentication challenge: the `WWW-Authenticate: Bearer …` header of a 401,
//! which names the tenant and the resource (or scope) a token must be for, and the check
//! that this resource belongs to the vault's own domain before any token is asked for it.
//!
//! Key Vault sends, for example,
//! `Bearer authorization="https://login.microsoftonline.com/{tenant}", resource="https://vault.azure.net"`
//! (older vaults say `authorization_uri`; newer ones may give `scope="https://vault.azure.net/.default"`).
//! As the official SDKs do, only the tenant is taken from `authorization`: tokens are always
//! requested from the configured authority host, so a server cannot steer credentials
//! elsewhere.

use url::Url;

/// What a challenge asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The tenant named by `authorization`, when it names one.
    pub(crate) tenant: Option<String>,
    /// The scope to request a token for (`resource` + `/.default`, or `scope`).
    pub(crate) scope: String,
}

/// Why a challenge was refused. Never holds anything but the header's public parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The resource or scope is not on the vault's domain.
    ForeignResource {
        resource: String,
        vault_host: String,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value; `None` when it is not a Bearer challenge naming a
    /// resource or scope.
    pub(crate) fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim_start();
        let (scheme, params) = header.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut authorization = None;
        let mut resource = None;
        let mut scope = None;
        for (name, value) in parameters(params) {
            match name.to_ascii_lowercase().as_str() {
                "authorization" | "authorization_uri" => authorization = Some(value),
                "resource" => resource = Some(value),
                "scope" => scope = Some(value),
                _ => {}
            }
        }
        let scope = match (scope, resource) {
            (Some(scope), _) if !scope.is_empty() => scope,
            (_, Some(resource)) if !resource.is_empty() => {
                format!("{}/.default", resource.trim_end_matches('/'))
            }
            _ => return None,
        };
        let tenant = authorization.as_deref().and_then(tenant_of);
        Some(Challenge { tenant, scope })
    }

    /// Accepts the challenge for a vault at `vault_host` whose cloud's Key Vault domain is
    /// `dns_suffix` (`vault.azure.net`): the scope's host must be that domain, or a domain
    /// the vault's host is under (the SDKs' rule).
    pub(crate) fn verify(&self, vault_host: &str, dns_suffix: &str) -> Result<(), Refusal> {
        let foreign = || Refusal::ForeignResource {
            resource: self.scope.clone(),
            vault_host: vault_host.to_owned(),
        };
        let url = Url::parse(&self.scope).map_err(|_| foreign())?;
        if url.scheme() != "https" {
            return Err(foreign());
        }
        let host = url.host_str().ok_or_else(foreign)?.to_ascii_lowercase();
        let vault_host = vault_host.to_ascii_lowercase();
        let under = |domain: &str| vault_host.ends_with(&format!(".{domain}"));
        if host == dns_suffix.to_ascii_lowercase() || under(&host) {
            Ok(())
        } else {
            Err(foreign())
        }
    }
}

/// The tenant of an authority URL: its first path segment
/// (`https://login.microsoftonline.com/{tenant}`).
fn tenant_of(authorization: &str) -> Option<String> {
    let url = Url::parse(authorization).ok()?;
    let tenant = url.path_segments()?.find(|s| !s.is_empty())?;
    let valid = tenant
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| tenant.to_owned())
}

/// `name="value", name=value, …` as RFC 9110 writes auth parameters.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    other => value.push(other),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        out.push((name, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resource_and_tenant() {
        let c = Challenge::parse(
            r#"Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net""#,
        )
        .unwrap();
        assert_eq!(
            c.tenant.as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(c.scope, "https://vault.azure.net/.default");
    }

    #[test]
    fn reads_scope_and_older_names() {
        let c = Challenge::parse(
            r#"Bearer authorization_uri="https://login.windows.net/contoso.onmicrosoft.com/", scope="https://vault.azure.net/.default""#,
        )
        .unwrap();
        assert_eq!(c.tenant.as_deref(), Some("contoso.onmicrosoft.com"));
        assert_eq!(c.scope, "https://vault.azure.net/.default");
        let c = Challenge::parse("bearer resource=https://vault.azure.cn").unwrap();
        assert_eq!(
            (c.tenant, c.scope.as_str()),
            (None, "https://vault.azure.cn/.default")
        );
    }

    #[test]
    fn refuses_what_is_not_a_bearer_challenge() {
        assert_eq!(Challenge::parse(r#"Basic realm="x""#), None);
        assert_eq!(
            Challenge::parse(r#"Bearer authorization="https://login.microsoftonline.com/t""#),
            None
        );
    }

    #[test]
    fn verifies_the_resource_domain() {
        let challenge = |resource: &str| Challenge {
            tenant: None,
            scope: format!("{resource}/.default"),
        };
        let host = "myvault.vault.azure.net";
        assert!(
            challenge("https://vault.azure.net")
                .verify(host, "vault.azure.net")
                .is_ok()
        );
        assert!(
            challenge("https://VAULT.azure.net")
                .verify(host, "vault.azure.net")
                .is_ok()
        );
        assert!(
            challenge("https://azure.net")
                .verify(host, "vault.azure.net")
                .is_ok()
        );
        assert!(
            challenge("https://evil.example.com")
                .verify(host, "vault.azure.net")
                .is_err()
        );
        assert!(
            challenge("http://vault.azure.net")
                .verify(host, "vault.azure.net")
                .is_err()
        );
        assert!(
            challenge("https://vault.azure.net.evil.com")
                .verify(host, "vault.azure.net")
                .is_err()
        );
        // A private endpoint mapped to an address: only the cloud's own domain.
        assert!(
            challenge("https://vault.azure.net")
                .verify("10.1.2.3", "vault.azure.net")
                .is_ok()
        );
        assert!(
            challenge("https://10.1.2.3")
                .verify("10.1.2.3", "vault.azure.net")
                .is_err()
        );
    }
}
