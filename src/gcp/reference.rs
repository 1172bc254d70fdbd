//! `gcpsecrets://PROJECT/SECRET[?version=V][&location=L][#KEY]`: parsing and checking Google
//! Cloud Secret Manager references offline, with the byte offset of every problem.
//!
//! The rules are Google's own:
//! - a project is a project ID (6 to 30 characters of `a-z 0-9 -`, starting with a letter,
//!   not ending with `-`; a legacy domain-scoped ID `example.com:my-project` too) or a
//!   project number (digits);
//! - a secret ID has 1 to 255 characters of `A-Z a-z 0-9 _ -`;
//! - a version is `latest` (the default), a version number (1 or more, no leading zero) or
//!   an alias (up to 63 characters of `A-Z a-z 0-9 _ -`, starting with a letter);
//! - a location is a region such as `europe-west1`: it becomes part of a host name, so it
//!   is one DNS label of `a-z 0-9 -`.

use crate::provider::field::FieldKey;
use crate::provider::{ProviderError, REF_PREFIX};

use super::error::PROVIDER_ID;

/// The URI scheme of Secret Manager references, as `vals` writes them.
pub const SCHEME: &str = "gcpsecrets";

/// The version a reference without `?version=` reads.
pub(crate) const LATEST: &str = "latest";

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretRef {
    /// What to access.
    pub(crate) version: VersionKey,
    /// The `#KEY` or `#/pointer` to pick out of a JSON value.
    pub(crate) field: Option<FieldKey>,
}

/// One secret version: what one access fetches, shared by every reference (and `#KEY`)
/// that names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct VersionKey {
    pub(crate) project: String,
    pub(crate) secret: String,
    /// `latest`, a number or an alias.
    pub(crate) version: String,
    /// The region of a regional secret, reached at its regional endpoint.
    pub(crate) location: Option<String>,
}

impl VersionKey {
    /// The resource name: `projects/P/secrets/S/versions/V`, or
    /// `projects/P/locations/L/secrets/S/versions/V` for a regional secret.
    pub(crate) fn name(&self) -> String {
        match &self.location {
            Some(location) => format!(
                "projects/{}/locations/{location}/secrets/{}/versions/{}",
                self.project, self.secret, self.version
            ),
            None => format!(
                "projects/{}/secrets/{}/versions/{}",
                self.project, self.secret, self.version
            ),
        }
    }
}

type Problem = (usize, String);

impl SecretRef {
    /// Parses `reference` (with or without the `ref+` prefix).
    ///
    /// # Errors
    ///
    /// [`InvalidReference`](crate::ProviderErrorKind::InvalidReference) with the byte offset
    /// (in `reference` as given) of the first problem.
    pub(crate) fn parse(reference: &str) -> Result<SecretRef, ProviderError> {
        let invalid = |(at, message): Problem| {
            ProviderError::invalid_reference(PROVIDER_ID, reference, at, message)
        };
        let base = if reference.starts_with(REF_PREFIX) {
            REF_PREFIX.len()
        } else {
            0
        };
        let prefix = format!("{SCHEME}://");
        if !reference[base..].starts_with(&prefix) {
            return Err(invalid((
                base,
                format!("expected `{prefix}PROJECT/SECRET[?version=V][#KEY]`"),
            )));
        }
        let start = base + prefix.len();
        let (rest, field) = match reference[start..].find('#') {
            Some(hash) => {
                let key_at = start + hash + 1;
                let key = FieldKey::parse(PROVIDER_ID, reference, key_at, &reference[key_at..])?;
                (&reference[start..start + hash], Some(key))
            }
            None => (&reference[start..], None),
        };
        let (path, query) = match rest.find('?') {
            Some(q) => (&rest[..q], Some((start + q + 1, &rest[q + 1..]))),
            None => (rest, None),
        };
        let (project, secret) = parse_path(path, start).map_err(invalid)?;
        let (version, location) = match query {
            Some((at, query)) => parse_query(query, at).map_err(invalid)?,
            None => (None, None),
        };
        Ok(SecretRef {
            version: VersionKey {
                project: project.to_owned(),
                secret: secret.to_owned(),
                version: version.unwrap_or(LATEST).to_owned(),
                location: location.map(str::to_owned),
            },
            field,
        })
    }
}

/// `PROJECT/SECRET`, starting at byte `at` of the reference.
fn parse_path(path: &str, at: usize) -> Result<(&str, &str), Problem> {
    let Some((project, secret)) = path.split_once('/') else {
        return Err((
            at + path.len(),
            "the secret ID is missing: expected `PROJECT/SECRET`".to_owned(),
        ));
    };
    check_project(project).map_err(|(offset, message)| (at + offset, message))?;
    let secret_at = at + project.len() + 1;
    if let Some(slash) = secret.find('/') {
        return Err((
            secret_at + slash,
            "too many segments: expected `PROJECT/SECRET` (pin a version with `?version=V`)"
                .to_owned(),
        ));
    }
    check_secret_id(secret).map_err(|(offset, message)| (secret_at + offset, message))?;
    Ok((project, secret))
}

/// `version=V&location=L`, in any order, each at most once, starting at byte `at`.
fn parse_query(query: &str, mut at: usize) -> Result<(Option<&str>, Option<&str>), Problem> {
    let (mut version, mut location) = (None, None);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value_at = at + name.len() + 1;
        let slot = match name {
            "version" => &mut version,
            "location" => &mut location,
            _ => {
                return Err((
                    at,
                    format!(
                        "unknown parameter `{name}`: Secret Manager references take `version` \
                         and `location`"
                    ),
                ));
            }
        };
        if slot.is_some() {
            return Err((at, format!("`{name}` is given twice")));
        }
        let checked = if name == "version" {
            check_version(value)
        } else {
            check_location(value)
        };
        checked.map_err(|(offset, message)| (value_at + offset, message))?;
        *slot = Some(value);
        at += pair.len() + 1;
    }
    Ok((version, location))
}

/// A project ID, a domain-scoped project ID or a project number.
pub(crate) fn check_project(project: &str) -> Result<(), Problem> {
    if project.is_empty() {
        return Err((0, "the project is empty".to_owned()));
    }
    if project.bytes().all(|b| b.is_ascii_digit()) {
        return if project.len() <= 20 {
            Ok(())
        } else {
            Err((20, "a project number has at most 20 digits".to_owned()))
        };
    }
    let (domain_len, id) = match project.rsplit_once(':') {
        Some((domain, id)) => {
            check_domain(domain)?;
            (domain.len() + 1, id)
        }
        None => (0, project),
    };
    check_project_id(id).map_err(|(offset, message)| (domain_len + offset, message))
}

fn check_project_id(id: &str) -> Result<(), Problem> {
    let bytes = id.as_bytes();
    if let Some(i) = bytes
        .iter()
        .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-'))
    {
        return Err((
            i,
            "a project ID has only lowercase letters, digits and `-` (or use the project number)"
                .to_owned(),
        ));
    }
    if !bytes.first().is_some_and(u8::is_ascii_lowercase) {
        return Err((0, "a project ID starts with a lowercase letter".to_owned()));
    }
    if bytes.last() == Some(&b'-') {
        return Err((
            id.len() - 1,
            "a project ID does not end with `-`".to_owned(),
        ));
    }
    if !(6..=30).contains(&id.len()) {
        return Err((0, "a project ID has 6 to 30 characters".to_owned()));
    }
    Ok(())
}

/// The domain of a legacy domain-scoped project ID (`example.com` in `example.com:proj`).
fn check_domain(domain: &str) -> Result<(), Problem> {
    let valid = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err((
            0,
            "a domain-scoped project is `DOMAIN:PROJECT_ID` with a lowercase domain name"
                .to_owned(),
        ))
    }
}

/// The longest secret ID Secret Manager accepts.
const MAX_SECRET_ID: usize = 255;

pub(crate) fn check_secret_id(secret: &str) -> Result<(), Problem> {
    if secret.is_empty() {
        return Err((0, "the secret ID is empty".to_owned()));
    }
    if let Some(i) = secret
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err((
            i,
            "a secret ID has only letters, digits, `_` and `-`".to_owned(),
        ));
    }
    if secret.len() > MAX_SECRET_ID {
        return Err((
            MAX_SECRET_ID,
            format!("a secret ID has at most {MAX_SECRET_ID} characters"),
        ));
    }
    Ok(())
}

/// The longest version alias Secret Manager accepts.
const MAX_ALIAS: usize = 63;

fn check_version(version: &str) -> Result<(), Problem> {
    let bytes = version.as_bytes();
    match bytes.first() {
        None => Err((
            0,
            "the version is empty: write `latest`, a number or an alias".to_owned(),
        )),
        Some(b'0') => Err((
            0,
            "a version number starts at 1 and has no leading zero".to_owned(),
        )),
        Some(first) if first.is_ascii_digit() => {
            match bytes.iter().position(|b| !b.is_ascii_digit()) {
                Some(i) => Err((i, "a version number has only digits".to_owned())),
                None if bytes.len() > 19 => Err((19, "the version number is too large".to_owned())),
                None => Ok(()),
            }
        }
        Some(first) if first.is_ascii_alphabetic() => {
            if let Some(i) = bytes
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-'))
            {
                return Err((
                    i,
                    "a version alias has only letters, digits, `_` and `-`".to_owned(),
                ));
            }
            if bytes.len() > MAX_ALIAS {
                return Err((
                    MAX_ALIAS,
                    format!("a version alias has at most {MAX_ALIAS} characters"),
                ));
            }
            Ok(())
        }
        Some(_) => Err((
            0,
            "a version is `latest`, a number or an alias starting with a letter".to_owned(),
        )),
    }
}

pub(crate) fn check_location(location: &str) -> Result<(), Problem> {
    let bytes = location.as_bytes();
    if bytes.is_empty() {
        return Err((
            0,
            "the location is empty: write a region such as `europe-west1`".to_owned(),
        ));
    }
    if let Some(i) = bytes
        .iter()
        .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-'))
    {
        return Err((
            i,
            "a location is a region such as `europe-west1`: lowercase letters, digits and `-`"
                .to_owned(),
        ));
    }
    if !bytes[0].is_ascii_lowercase() {
        return Err((0, "a location starts with a letter".to_owned()));
    }
    if bytes.last() == Some(&b'-') || location.contains("--") || bytes.len() > 63 {
        return Err((
            0,
            "a location is one DNS label: no `--`, no `-` at the end, at most 63 characters"
                .to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderErrorKind;

    fn parse(reference: &str) -> SecretRef {
        SecretRef::parse(reference).unwrap_or_else(|e| panic!("{reference}: {e}"))
    }

    fn refused_at(reference: &str) -> usize {
        let error = SecretRef::parse(reference).unwrap_err();
        assert_eq!(error.kind(), ProviderErrorKind::InvalidReference, "{error}");
        error.offset().unwrap()
    }

    #[test]
    fn the_forms_vals_writes() {
        let plain = parse("gcpsecrets://my-project/db-password");
        assert_eq!(
            plain.version.name(),
            "projects/my-project/secrets/db-password/versions/latest"
        );
        assert_eq!(plain.field, None);
        let pinned = parse("ref+gcpsecrets://my-project/db?version=3#/nested/key");
        assert_eq!(pinned.version.version, "3");
        assert_eq!(
            pinned.field,
            Some(FieldKey::Pointer("/nested/key".to_owned()))
        );
        let regional =
            parse("gcpsecrets://123456789012/api_key?location=europe-west1&version=prod#user");
        assert_eq!(
            regional.version.name(),
            "projects/123456789012/locations/europe-west1/secrets/api_key/versions/prod"
        );
        assert_eq!(regional.field, Some(FieldKey::Member("user".to_owned())));
        let scoped = parse("gcpsecrets://example.com:my-project/s");
        assert_eq!(scoped.version.project, "example.com:my-project");
    }

    #[test]
    fn problems_are_refused_at_their_byte() {
        let p = "gcpsecrets://".len();
        assert_eq!(refused_at("gcp://p/s"), 0);
        assert_eq!(refused_at("ref+awssecrets://x"), 4);
        assert_eq!(refused_at("gcpsecrets://my-project"), p + 10);
        assert_eq!(refused_at("gcpsecrets://My-Project/s"), p);
        assert_eq!(refused_at("gcpsecrets://1project/s"), p);
        assert_eq!(refused_at("gcpsecrets://short/s"), p);
        assert_eq!(refused_at("gcpsecrets://my-project-/s"), p + 10);
        assert_eq!(refused_at("gcpsecrets://my-project/"), p + 11);
        assert_eq!(refused_at("gcpsecrets://my-project/a.b"), p + 12);
        assert_eq!(refused_at("gcpsecrets://my-project/a/b"), p + 12);
        assert_eq!(
            refused_at(&format!("gcpsecrets://my-project/{}", "a".repeat(256))),
            p + 11 + 255
        );
        let q = p + "my-project/s?".len();
        assert_eq!(refused_at("gcpsecrets://my-project/s?version=0"), q + 8);
        assert_eq!(refused_at("gcpsecrets://my-project/s?version=1x"), q + 9);
        assert_eq!(refused_at("gcpsecrets://my-project/s?version=-a"), q + 8);
        assert_eq!(refused_at("gcpsecrets://my-project/s?version="), q + 8);
        assert_eq!(refused_at("gcpsecrets://my-project/s?fallback=x"), q);
        assert_eq!(
            refused_at("gcpsecrets://my-project/s?version=1&version=2"),
            q + 10
        );
        assert_eq!(
            refused_at("gcpsecrets://my-project/s?version=1&location=EU"),
            q + 19
        );
        assert_eq!(
            refused_at("gcpsecrets://my-project/s?location=evil.com"),
            q + 13
        );
        assert_eq!(refused_at("gcpsecrets://my-project/s#"), p + 13);
    }

    #[test]
    fn aliases_and_numbers_are_versions() {
        assert!(check_version("latest").is_ok());
        assert!(check_version("prod-v2").is_ok());
        assert!(check_version("42").is_ok());
        assert!(check_version(&"a".repeat(64)).is_err());
        assert!(check_version("12345678901234567890").is_err());
    }
}
