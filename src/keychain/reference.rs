//! `keychain://SERVICE/ACCOUNT`: parsing keychain references offline, with the byte offset
//! of every problem.
//!
//! `SERVICE` and `ACCOUNT` are the two names an entry is stored under (the `keyring` crate's
//! service and user; macOS's service and account; Windows' target name is built from them).
//! Each is percent-decoded, so that a service or account holding `/`, a space, `#`, `?` or
//! `%` can be named: `keychain://my%20app/me%40example.com`.

use crate::provider::{ProviderError, REF_PREFIX, segment};

/// The URI scheme of the keychain provider's references: `keychain://SERVICE/ACCOUNT`.
pub const SCHEME: &str = "keychain";

/// An entry of the keychain: its service and account, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct EntryName {
    pub(crate) service: String,
    pub(crate) account: String,
}

impl EntryName {
    /// Parses `reference` (with or without the `ref+` prefix) for the provider of id
    /// `provider`.
    ///
    /// # Errors
    ///
    /// [`InvalidReference`](crate::ProviderErrorKind::InvalidReference) with the byte offset
    /// (in `reference` as given) of the first problem.
    pub(crate) fn parse(provider: &str, reference: &str) -> Result<EntryName, ProviderError> {
        let invalid = |at: usize, message: &str| {
            ProviderError::invalid_reference(provider, reference, at, message)
        };
        let base = if reference.starts_with(REF_PREFIX) {
            REF_PREFIX.len()
        } else {
            0
        };
        let prefix = format!("{SCHEME}://");
        let Some(body) = reference[base..].strip_prefix(prefix.as_str()) else {
            return Err(invalid(base, "expected `keychain://SERVICE/ACCOUNT`"));
        };
        let start = base + prefix.len();
        let Some(slash) = body.find('/') else {
            return Err(invalid(
                start + body.len(),
                "the account is missing: expected `keychain://SERVICE/ACCOUNT` (a `/` in a name is `%2F`)",
            ));
        };
        let (service, account) = (&body[..slash], &body[slash + 1..]);
        let account_at = start + slash + 1;
        let service = segment::decode(service).map_err(|(at, why)| invalid(start + at, why))?;
        if service.is_empty() {
            return Err(invalid(start, "the service is empty"));
        }
        let account =
            segment::decode(account).map_err(|(at, why)| invalid(account_at + at, why))?;
        if account.is_empty() {
            return Err(invalid(account_at, "the account is empty"));
        }
        Ok(EntryName { service, account })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderErrorKind;

    /// The keychain provider's id, as errors carry it.
    const PROVIDER_ID: &str = "keychain";

    fn offset(reference: &str) -> usize {
        let err = EntryName::parse(PROVIDER_ID, reference).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidReference);
        err.offset().unwrap()
    }

    #[test]
    fn parses_and_decodes_both_names() {
        let e = EntryName::parse(PROVIDER_ID, "keychain://request-vault/work").unwrap();
        assert_eq!(
            (e.service.as_str(), e.account.as_str()),
            ("request-vault", "work")
        );
        let e =
            EntryName::parse(PROVIDER_ID, "ref+keychain://my%20app%2Fprod/me@example.com").unwrap();
        assert_eq!(
            (e.service.as_str(), e.account.as_str()),
            ("my app/prod", "me@example.com")
        );
        let e = EntryName::parse(PROVIDER_ID, "keychain://a/100%25%23").unwrap();
        assert_eq!(e.account, "100%#");
    }

    #[test]
    fn problems_point_at_their_byte() {
        assert_eq!(offset("keychain:/a/b"), 0);
        assert_eq!(offset("ref+keyring://a/b"), 4);
        assert_eq!(offset("keychain://"), 11);
        assert_eq!(offset("keychain://service"), 18);
        assert_eq!(offset("keychain:///account"), 11);
        assert_eq!(offset("keychain://service/"), 19);
        assert_eq!(offset("keychain://service/a/b"), 20);
        assert_eq!(offset("keychain://my app/b"), 13);
        assert_eq!(offset("keychain://app/b%2"), 16);
        assert_eq!(offset("keychain://app/b#key"), 16);
        assert_eq!(offset("ref+keychain://app/b?x"), 20);
        assert_eq!(offset("keychain://a%00/b"), 12);
    }
}
