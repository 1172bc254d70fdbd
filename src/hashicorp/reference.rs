//! `vault://PATH[?version=N&namespace=NS]#KEY`: parsing HashiCorp Vault references offline,
//! with the byte offset of any problem.
//!
//! - `PATH` starts with the mount (`secret/myapp/db`), has at least two segments, and holds
//!   no empty, `.` or `..` segment, no whitespace, control character, `?` or `#`;
//! - `version=N` (N ≥ 1) picks a KV v2 version; `namespace=NS` reads from that namespace
//!   instead of the provider's; each at most once, nothing else;
//! - `#KEY` picks a field, `#/a/b` a JSON pointer into nested values (see
//!   `provider::field`).
//!
//! A `ref+` prefix, as `vals` writes it, is accepted; offsets count it.

use crate::provider::field::FieldKey;
use crate::provider::{ProviderError, REF_PREFIX};

use super::error::PROVIDER_ID;

/// The URI scheme of HashiCorp Vault references.
pub const SCHEME: &str = "vault";

/// A parsed `vault://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VaultReference {
    /// The logical path, mount first, without leading or trailing `/`.
    pub(crate) path: String,
    /// The KV v2 version asked for.
    pub(crate) version: Option<u64>,
    /// The namespace asked for, without leading or trailing `/`.
    pub(crate) namespace: Option<String>,
    /// The field asked for.
    pub(crate) key: Option<FieldKey>,
}

/// What makes the error for a problem at a byte offset of the reference.
type Invalid<'a> = dyn Fn(usize, &str) -> ProviderError + 'a;

impl VaultReference {
    /// Parses `reference`, with or without its `ref+` prefix.
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::InvalidReference`](crate::ProviderErrorKind::InvalidReference)
    /// with the byte offset of the first problem.
    pub(crate) fn parse(reference: &str) -> Result<VaultReference, ProviderError> {
        let invalid = |at: usize, message: &str| {
            ProviderError::invalid_reference(PROVIDER_ID, reference, at, message)
        };
        let start = if reference.starts_with(REF_PREFIX) {
            REF_PREFIX.len()
        } else {
            0
        };
        let prefix = "vault://";
        if !reference[start..].starts_with(prefix) {
            return Err(invalid(
                start,
                "expected a reference of the form `vault://MOUNT/PATH[?version=N&namespace=NS]#KEY`",
            ));
        }
        let path_start = start + prefix.len();
        let rest = &reference[path_start..];
        let (before_key, key) = match rest.find('#') {
            Some(at) => {
                let key_start = path_start + at + 1;
                let key = FieldKey::parse(PROVIDER_ID, reference, key_start, &rest[at + 1..])?;
                (&rest[..at], Some(key))
            }
            None => (rest, None),
        };
        let (path, query) = match before_key.find('?') {
            Some(at) => (
                &before_key[..at],
                Some((path_start + at + 1, &before_key[at + 1..])),
            ),
            None => (before_key, None),
        };
        check_path(path, path_start, &invalid)?;
        let query = match query {
            Some((query_start, query)) => Query::parse(query, query_start, &invalid)?,
            None => Query::default(),
        };
        Ok(VaultReference {
            path: path.to_owned(),
            version: query.version,
            namespace: query.namespace,
            key,
        })
    }
}

/// The query of a reference: `version=N` and `namespace=NS`, each at most once.
#[derive(Default)]
struct Query {
    version: Option<u64>,
    namespace: Option<String>,
}

impl Query {
    /// Parses `query`, which starts at byte `start` of the reference.
    fn parse(query: &str, start: usize, invalid: &Invalid<'_>) -> Result<Query, ProviderError> {
        if query.is_empty() {
            return Err(invalid(
                start,
                "the query after `?` is empty: write `?version=N` or `?namespace=NS`, or leave out the `?`",
            ));
        }
        let mut parsed = Query::default();
        let mut at = start;
        for pair in query.split('&') {
            parsed.add(pair, at, invalid)?;
            at += pair.len() + 1;
        }
        Ok(parsed)
    }

    /// Adds `pair` (`name=value`), which starts at byte `at`.
    fn add(&mut self, pair: &str, at: usize, invalid: &Invalid<'_>) -> Result<(), ProviderError> {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value_at = (at + name.len() + 1).min(at + pair.len());
        match name {
            "version" if self.version.is_some() => Err(invalid(at, "`version` is given twice")),
            "namespace" if self.namespace.is_some() => {
                Err(invalid(at, "`namespace` is given twice"))
            }
            "version" => match value.parse::<u64>() {
                Ok(n) if n >= 1 && value.bytes().all(|b| b.is_ascii_digit()) => {
                    self.version = Some(n);
                    Ok(())
                }
                _ => Err(invalid(
                    value_at,
                    "`version` must be a whole number from 1 (a KV v2 version)",
                )),
            },
            "namespace" => {
                let trimmed = value.trim_matches('/');
                if trimmed.is_empty() {
                    return Err(invalid(value_at, "`namespace` is empty"));
                }
                let lead = value.len() - value.trim_start_matches('/').len();
                check_segments(trimmed, value_at + lead, invalid, "namespace")?;
                self.namespace = Some(trimmed.to_owned());
                Ok(())
            }
            _ => Err(invalid(
                at,
                "unknown query parameter: only `version` and `namespace` are understood",
            )),
        }
    }
}

fn check_path(path: &str, offset: usize, invalid: &Invalid<'_>) -> Result<(), ProviderError> {
    if path.is_empty() {
        return Err(invalid(
            offset,
            "the path is empty: expected `vault://MOUNT/PATH`",
        ));
    }
    if path.starts_with('/') {
        return Err(invalid(
            offset,
            "the path starts with `/`: write `vault://MOUNT/PATH`",
        ));
    }
    if path.ends_with('/') {
        return Err(invalid(
            offset + path.len() - 1,
            "the path ends with `/`, which names a folder, not a secret",
        ));
    }
    check_segments(path, offset, invalid, "path")?;
    if !path.contains('/') {
        return Err(invalid(
            offset + path.len(),
            "the path names a mount only: expected `vault://MOUNT/PATH`",
        ));
    }
    Ok(())
}

/// Checks `/`-separated segments: none empty, `.` or `..`, no whitespace or control
/// characters, no `?` or `#`.
fn check_segments(
    text: &str,
    offset: usize,
    invalid: &Invalid<'_>,
    what: &str,
) -> Result<(), ProviderError> {
    if let Some((at, _)) = text
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
    {
        return Err(invalid(
            offset + at,
            &format!("the {what} holds a character a Vault path cannot hold here"),
        ));
    }
    let mut at = offset;
    for segment in text.split('/') {
        if segment.is_empty() {
            return Err(invalid(
                at,
                &format!("the {what} has an empty segment (`//`)"),
            ));
        }
        if segment == "." || segment == ".." {
            return Err(invalid(
                at,
                &format!("the {what} has a `.` or `..` segment"),
            ));
        }
        at += segment.len() + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderErrorKind;

    fn parse(text: &str) -> VaultReference {
        VaultReference::parse(text).unwrap()
    }

    fn offset(text: &str) -> usize {
        let err = VaultReference::parse(text).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidReference, "{text}");
        err.offset().unwrap()
    }

    #[test]
    fn paths_queries_and_keys() {
        let r = parse("vault://secret/myapp/db#password");
        assert_eq!(r.path, "secret/myapp/db");
        assert_eq!(r.key, Some(FieldKey::Member("password".into())));
        assert_eq!((r.version, r.namespace), (None, None));

        let r = parse("ref+vault://secret/app?version=3&namespace=/team/a/#/db/password");
        assert_eq!(r.path, "secret/app");
        assert_eq!(r.version, Some(3));
        assert_eq!(r.namespace.as_deref(), Some("team/a"));
        assert_eq!(r.key, Some(FieldKey::Pointer("/db/password".into())));

        let r = parse("vault://database/creds/app");
        assert_eq!(r.key, None);
        let r = parse("vault://secret/app#a?b#c");
        assert_eq!(r.key, Some(FieldKey::Member("a?b#c".into())));
    }

    #[test]
    fn problems_point_at_their_byte() {
        assert_eq!(offset("op://secret/app"), 0);
        assert_eq!(offset("ref+vaults://secret/app"), 4);
        assert_eq!(offset("vault://"), 8);
        assert_eq!(offset("vault:///secret/app"), 8);
        assert_eq!(offset("vault://secret"), 14);
        assert_eq!(offset("vault://secret/app/"), 18);
        assert_eq!(offset("vault://secret//app"), 15);
        assert_eq!(offset("vault://secret/../app"), 15);
        assert_eq!(offset("vault://secret/my app"), 17);
        assert_eq!(offset("vault://secret/app?"), 19);
        assert_eq!(offset("vault://secret/app?version=0"), 27);
        assert_eq!(offset("vault://secret/app?version=x1"), 27);
        assert_eq!(offset("vault://secret/app?version=1&version=2"), 29);
        assert_eq!(offset("vault://secret/app?colour=red"), 19);
        assert_eq!(offset("vault://secret/app?namespace="), 29);
        assert_eq!(offset("vault://secret/app?namespace=a//b"), 31);
        assert_eq!(offset("vault://secret/app#"), 19);
        assert_eq!(offset("ref+vault://secret/app#/a//b"), 26);
    }
}
