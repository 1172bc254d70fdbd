//! Key Vault's authentication challenge: the `WWW-Authenticate: Bearer …` header of a 401,
//! which names the tenant and the resource (or scope) a token must be for, and the two
//! checks made before any token is asked for it: the resource must be the cloud's own Key
//! Vault resource, and the tenant must be one the credential may sign in to.
//!
//! Key Vault sends, for example,
//! `Bearer authorization="https://login.microsoftonline.com/{tenant}", resource="https://vault.azure.net"`
//! (older vaults say `authorization_uri`; newer ones may give `scope="https://vault.azure.net/.default"`).
//! As the official SDKs do, only the tenant is taken from `authorization`: tokens are always
//! requested from the configured authority host, so a server cannot steer credentials
//! elsewhere. And as they do, a tenant other than the credential's own is followed only when
//! the builder allows it ([`AllowedTenants`]): otherwise a server answering for a vault could
//! collect the credential's tokens for any tenant that trusts the app.

use url::Url;

/// What a challenge asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The tenant named by `authorization`, when it names one.
    pub(crate) tenant: Option<String>,
    /// The resource, as the challenge gives it (`scope` without `/.default`, or `resource`),
    /// without a trailing `/`.
    pub(crate) resource: String,
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
        let resource = match (scope, resource) {
            (Some(scope), _) if !scope.is_empty() => {
                scope.strip_suffix("/.default").unwrap_or(&scope).to_owned()
            }
            (_, Some(resource)) if !resource.is_empty() => resource,
            _ => return None,
        };
        let resource = resource.trim_end_matches('/').to_owned();
        let tenant = authorization.as_deref().and_then(tenant_of);
        Some(Challenge { tenant, resource })
    }

    /// Whether the resource is the Key Vault resource of the cloud whose DNS suffix is
    /// `dns_suffix`: exactly `https://{dns_suffix}` (`https://vault.azure.net` in the public
    /// cloud), in any case. `https://azure.net`, `https://net`, another cloud's vaults and
    /// anything with a path, port or query are not.
    pub(crate) fn is_for(&self, dns_suffix: &str) -> bool {
        self.resource
            .split_once("://")
            .is_some_and(|(scheme, host)| {
                scheme.eq_ignore_ascii_case("https") && host.eq_ignore_ascii_case(dns_suffix)
            })
    }
}

/// The tenants besides its own that the credential may request tokens in when a vault's
/// challenge names them (`additionally_allowed_tenants`, as the SDKs call it): none unless
/// set, `*` for any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowedTenants {
    any: bool,
    tenants: Vec<String>,
}

impl AllowedTenants {
    /// The tenants listed (case does not matter; blanks are ignored, `*` allows any).
    pub(crate) fn new<I, S>(tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut allowed = AllowedTenants::default();
        for tenant in tenants {
            let tenant = tenant.as_ref().trim();
            if tenant == "*" {
                allowed.any = true;
            } else if !tenant.is_empty() {
                allowed.tenants.push(tenant.to_ascii_lowercase());
            }
        }
        allowed
    }

    /// The list as `AZURE_ADDITIONALLY_ALLOWED_TENANTS` writes it: separated by `;`.
    pub(crate) fn parse(list: &str) -> Self {
        AllowedTenants::new(list.split(';'))
    }

    /// Whether a token may be requested in `tenant`.
    pub(crate) fn admits(&self, tenant: &str) -> bool {
        self.any || self.tenants.iter().any(|t| t.eq_ignore_ascii_case(tenant))
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
        assert_eq!(c.resource, "https://vault.azure.net");
    }

    #[test]
    fn reads_scope_and_older_names() {
        let c = Challenge::parse(
            r#"Bearer authorization_uri="https://login.windows.net/contoso.onmicrosoft.com/", scope="https://vault.azure.net/.default""#,
        )
        .unwrap();
        assert_eq!(c.tenant.as_deref(), Some("contoso.onmicrosoft.com"));
        assert_eq!(c.resource, "https://vault.azure.net");
        let c = Challenge::parse("bearer resource=https://vault.azure.cn/").unwrap();
        assert_eq!(
            (c.tenant, c.resource.as_str()),
            (None, "https://vault.azure.cn")
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
    fn only_the_clouds_own_resource_is_accepted() {
        let challenge = |resource: &str| Challenge {
            tenant: None,
            resource: resource.to_owned(),
        };
        for accepted in ["https://vault.azure.net", "HTTPS://VAULT.azure.net"] {
            assert!(challenge(accepted).is_for("vault.azure.net"), "{accepted}");
        }
        for refused in [
            "https://azure.net",
            "https://net",
            "https://evil.example.com",
            "http://vault.azure.net",
            "vault.azure.net",
            "https://vault.azure.net.evil.com",
            "https://evil.vault.azure.net",
            "https://vault.azure.net:8443",
            "https://vault.azure.net/other",
            "https://vault.azure.cn",
            "https://user@vault.azure.net",
            "",
        ] {
            assert!(!challenge(refused).is_for("vault.azure.net"), "{refused}");
        }
        assert!(challenge("https://vault.azure.cn").is_for("vault.azure.cn"));
        assert!(!challenge("https://vault.azure.net").is_for("vault.azure.cn"));
    }

    #[test]
    fn allowed_tenants_are_listed_or_any() {
        let none = AllowedTenants::default();
        assert!(!none.admits("tenant-b") && !none.admits(""));
        let some = AllowedTenants::new(["Tenant-B", " ", "contoso.onmicrosoft.com"]);
        assert!(some.admits("tenant-b") && some.admits("CONTOSO.onmicrosoft.com"));
        assert!(!some.admits("tenant-c") && !some.admits(" "));
        let any = AllowedTenants::parse("tenant-b;*");
        assert!(any.admits("anything"));
        assert_eq!(AllowedTenants::parse(" ; "), AllowedTenants::default());
    }
}
