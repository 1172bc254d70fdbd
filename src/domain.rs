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
            Ok(Host::Domain(domain)) => check_domain(domain).map_err(invalid)?,
            Ok(Host::Ipv4(_) | Host::Ipv6(_)) if wildcard => {
                return Err(invalid("a wildcard cannot apply to an IP address"));
            }
            Ok(Host::Ipv4(ip)) => ip.to_string(),
            Ok(Host::Ipv6(ip)) => format!("[{ip}]"),
            Err(_) => return Err(invalid("the host is not a valid domain name or IP address")),
        };
        Ok(DomainPattern {
            scheme,
            host,
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

/// Checks a domain as `Host::parse` gave it (lower-case ASCII, percent-decoded) and drops one
/// trailing dot. What is refused here is what would not read back the same: the pattern is
/// saved as its `Display` form and parsed again by [`DomainPattern::new`] when the vault
/// file is opened, so every accepted pattern must be its own fixed point.
fn check_domain(domain: String) -> Result<String, &'static str> {
    let host = domain.strip_suffix('.').unwrap_or(&domain);
    if host.is_empty() {
        return Err("the pattern has no host (only dots)");
    }
    if host.split('.').any(str::is_empty) {
        return Err("the host has an empty label (`..`, or a leading or doubled dot)");
    }
    if host.contains('*') {
        // `%2a` decodes to `*` only now, after the wildcard was looked for.
        return Err("`*` may only stand as the first label, as in `*.example.com`");
    }
    if host
        .bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')) && b != b'.')
    {
        return Err("the host holds a character a domain name cannot hold");
    }
    // The stored form must parse back to itself (a label such as `xn--` that IDNA refuses
    // when it is read again, say).
    match Host::parse(host) {
        Ok(Host::Domain(again)) if again == host => Ok(host.to_owned()),
        _ => Err("the host is not a valid domain name"),
    }
}

/// Whether `patterns` (one secret's allowed domains) let it go to `host` over `scheme`: an
/// empty list allows every host.
pub(crate) fn allows(patterns: &[DomainPattern], scheme: &str, host: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(scheme, host))
}

/// Whether `patterns` name `host` explicitly: a non-empty list that matches it. This is what
/// lets a secret cross to another origin on a redirect.
pub(crate) fn names_host(patterns: &[DomainPattern], scheme: &str, host: &str) -> bool {
    !patterns.is_empty() && allows(patterns, scheme, host)
}

/// Checks every secret in `secrets` (its name and allowed domains; `None` for a secret the
/// vault does not hold, which resolving reports) against a request to `host` over `scheme`,
/// gathering every violation into one error.
pub(crate) fn check<'a>(
    secrets: impl IntoIterator<Item = (&'a str, Option<&'a [DomainPattern]>)>,
    scheme: &str,
    host: &str,
) -> Result<(), Error> {
    let violations = secrets
        .into_iter()
        .filter(|(_, patterns)| !patterns.is_none_or(|p| allows(p, scheme, host)))
        .map(|(name, _)| Error::DomainNotAllowed {
            name: name.to_owned(),
            host: host.to_owned(),
        })
        .collect();
    Error::gather(violations)
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
            ".",
            "%2e",
            "...",
            "*..",
            "*.",
            "*.%2e",
            "a..b",
            "..a",
            "%2a.example.com",
            "https://.",
        ] {
            let err = DomainPattern::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidDomain { .. }), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// What is accepted reads back as itself: the vault file stores the `Display` form.
        #[test]
        fn accepted_patterns_read_back_as_themselves(
            text in "(https?://)?(\\*\\.)?([a-zA-Z0-9.*%_:@/\\[\\]-]|%2[eEaA]|\\.\\.){0,24}"
        ) {
            if let Ok(p) = DomainPattern::new(&text) {
                let again = DomainPattern::new(&p.to_string());
                proptest::prop_assert_eq!(again.as_ref().ok(), Some(&p), "{:?} -> {}", text, p);
            }
        }

        #[test]
        fn any_text_reads_back_or_is_refused(text in "\\PC{0,40}") {
            if let Ok(p) = DomainPattern::new(&text) {
                proptest::prop_assert_eq!(DomainPattern::new(&p.to_string()).ok(), Some(p));
            }
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
