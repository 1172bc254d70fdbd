//! [`DomainPattern`]: where a secret may be sent.
//!
//! Patterns follow Postman Vault's allowed domains: `api.example.com` matches that host
//! exactly, `*.example.org` matches `example.org` and any subdomain of it, and an optional
//! scheme (`https://api.example.com`) restricts the scheme too (no scheme means any). Ports
//! and paths in a pattern are ignored; comparison is case-insensitive, and international
//! domain names are compared in their ASCII (punycode) form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Host;

use crate::error::Error;

/// One allowed-domain pattern of a secret.
///
/// ```
/// use request_vault::DomainPattern;
///
/// let exact: DomainPattern = "api.example.com".parse()?;
/// assert!(exact.matches("https", "API.example.com"));
/// assert!(!exact.matches("https", "www.example.com"));
///
/// let wildcard: DomainPattern = "https://*.example.org:8443/ignored".parse()?;
/// assert!(wildcard.matches("https", "example.org"));
/// assert!(wildcard.matches("https", "a.b.example.org"));
/// assert!(!wildcard.matches("http", "a.example.org"));
/// assert!(!wildcard.matches("https", "badexample.org"));
/// assert_eq!(wildcard.to_string(), "https://*.example.org");
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainPattern {
    scheme: Option<String>,
    host: String,
    wildcard: bool,
}

impl DomainPattern {
    /// Parses a pattern.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidDomain`] when the pattern is empty, its host is not a valid domain or
    ///   IP address, its scheme is malformed, or a `*` stands anywhere but as the whole first
    ///   label.
    pub fn new(pattern: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidDomain {
            pattern: pattern.to_owned(),
            reason,
        };
        let trimmed = pattern.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => {
                let valid = scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
                if !valid {
                    return Err(invalid("the scheme is malformed"));
                }
                (Some(scheme.to_ascii_lowercase()), rest)
            }
            None => (None, trimmed),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let host = strip_port(authority);
        if host.is_empty() {
            return Err(invalid("the pattern has no host"));
        }
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host),
        };
        if host.contains('*') {
            return Err(invalid(
                "`*` may only stand as the first label, as in `*.example.com`",
            ));
        }
        let host = match Host::parse(host) {
            Ok(Host::Domain(domain)) => domain,
            Ok(Host::Ipv4(_) | Host::Ipv6(_)) if wildcard => {
                return Err(invalid("a wildcard cannot apply to an IP address"));
            }
            Ok(Host::Ipv4(ip)) => ip.to_string(),
            Ok(Host::Ipv6(ip)) => format!("[{ip}]"),
            Err(_) => return Err(invalid("the host is not a valid domain name or IP address")),
        };
        Ok(DomainPattern {
            scheme,
            host: host.trim_end_matches('.').to_owned(),
            wildcard,
        })
    }

    /// Whether a request to `host` over `scheme` matches this pattern.
    ///
    /// `host` is compared case-insensitively; pass international names in their ASCII form
    /// (as [`url::Url::host_str`] gives them) or as Unicode, which is converted.
    pub fn matches(&self, scheme: &str, host: &str) -> bool {
        if let Some(expected) = &self.scheme
            && !expected.eq_ignore_ascii_case(scheme)
        {
            return false;
        }
        let host = normalize_host(host);
        let host = host.trim_end_matches('.');
        if host.eq_ignore_ascii_case(&self.host) {
            return true;
        }
        self.wildcard
            && host.len() > self.host.len()
            && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
            && host[host.len() - self.host.len()..].eq_ignore_ascii_case(&self.host)
    }

    /// The host part, lower-case ASCII, without the `*.` of a wildcard.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the pattern also matches subdomains (`*.example.org`).
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The scheme the pattern is restricted to, if any.
    pub fn scheme(&self) -> Option<&str> {
        self.scheme.as_deref()
    }
}

/// Brings a host to the ASCII form patterns are stored in; hosts that do not parse are
/// compared as given (they then match nothing but an identical pattern).
fn normalize_host(host: &str) -> std::borrow::Cow<'_, str> {
    if host.is_ascii() {
        return std::borrow::Cow::Borrowed(host);
    }
    match Host::parse(host) {
        Ok(Host::Domain(domain)) => std::borrow::Cow::Owned(domain),
        _ => std::borrow::Cow::Borrowed(host),
    }
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        // An IPv6 literal: keep it with its brackets, which `Host::parse` expects.
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

impl FromStr for DomainPattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        DomainPattern::new(s)
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)
    }
}

impl Serialize for DomainPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DomainPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DomainPattern::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> DomainPattern {
        DomainPattern::new(s).unwrap()
    }

    #[test]
    fn exact_hosts_match_case_insensitively() {
        let p = pattern("API.Example.com");
        assert!(p.matches("https", "api.example.com"));
        assert!(p.matches("http", "api.EXAMPLE.com."));
        assert!(!p.matches("https", "example.com"));
        assert!(!p.matches("https", "x.api.example.com"));
    }

    #[test]
    fn wildcards_cover_the_domain_and_its_subdomains_only() {
        let p = pattern("*.example.org");
        assert!(p.matches("https", "example.org"));
        assert!(p.matches("https", "api.example.org"));
        assert!(p.matches("https", "a.b.example.org"));
        assert!(!p.matches("https", "badexample.org"));
        assert!(!p.matches("https", "example.org.evil.com"));
    }

    #[test]
    fn scheme_port_and_path_are_handled() {
        let p = pattern("https://api.example.com:8443/v1/path?q#f");
        assert_eq!(p.to_string(), "https://api.example.com");
        assert!(p.matches("HTTPS", "api.example.com"));
        assert!(!p.matches("http", "api.example.com"));
        assert!(pattern("api.example.com:80").matches("http", "api.example.com"));
    }

    #[test]
    fn international_names_compare_in_ascii() {
        let p = pattern("*.bücher.example");
        assert_eq!(p.host(), "xn--bcher-kva.example");
        assert!(p.matches("https", "shop.xn--bcher-kva.example"));
        assert!(p.matches("https", "shop.bücher.example"));
    }

    #[test]
    fn ip_addresses() {
        assert!(pattern("127.0.0.1").matches("http", "127.0.0.1"));
        assert!(pattern("[::1]:8080").matches("http", "[::1]"));
        assert!(DomainPattern::new("*.127.0.0.1").is_err());
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for bad in [
            "",
            "   ",
            "https://",
            "a*.example.com",
            "api.*.com",
            "1http://x",
            "exa mple.com",
        ] {
            let err = DomainPattern::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidDomain { .. }), "{bad}");
        }
    }

    #[test]
    fn serde_round_trips_as_a_string() {
        let p = pattern("https://*.example.org");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"https://*.example.org\"");
        assert_eq!(serde_json::from_str::<DomainPattern>(&json).unwrap(), p);
    }
}
