//! `awsssm://` references to AWS Systems Manager Parameter Store: parsed exactly and
//! offline, with the byte offset of each problem.
//!
//! ```text
//! [ref+]awsssm://PATH/TO/PARAM[:VERSION | :LABEL][?region=R][#KEY | #/json/pointer]
//! ```
//!
//! The path names the parameter from the root: `awsssm://app/db/password` and
//! `awsssm:///app/db/password` both name `/app/db/password`. Its segments are made of
//! `A-Z a-z 0-9 _ . -` (as Parameter Store allows), at most 15 of them and 1011 bytes in
//! all. A selector picks a version (`:3`) or a label (`:blue`, which starts with a letter
//! or `_`, `.`, `-`), as `GetParameters` takes them; without one the latest version is read.

use crate::provider::ProviderError;
use crate::provider::field::FieldKey;

use super::error::SSM_PROVIDER_ID;
use super::uri;

/// The URI scheme of AWS Systems Manager Parameter Store references.
pub const SSM_SCHEME: &str = "awsssm";

const PREFIX: &str = "awsssm://";

/// The longest parameter name (with its path) Parameter Store accepts.
const MAX_NAME: usize = 1011;

/// The deepest hierarchy Parameter Store accepts.
const MAX_LEVELS: usize = 15;

/// The longest label.
const MAX_LABEL: usize = 100;

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParameterReference {
    /// The parameter's full name, starting with `/`.
    pub(crate) name: String,
    /// A version number or a label, without its `:`.
    pub(crate) selector: Option<String>,
    /// `?region=`.
    pub(crate) region: Option<String>,
    pub(crate) field: Option<FieldKey>,
}

impl ParameterReference {
    /// Parses `reference` (with or without the `ref+` prefix).
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::InvalidReference`](crate::ProviderErrorKind::InvalidReference)
    /// with the byte offset of the problem in `reference`.
    pub(crate) fn parse(reference: &str) -> Result<ParameterReference, ProviderError> {
        let parts = uri::split(
            reference,
            PREFIX,
            SSM_PROVIDER_ID,
            "awsssm://PATH/TO/PARAMETER[:VERSION|:LABEL][?region=R][#KEY]",
        )?;
        let invalid = |at: usize, message: String| {
            ProviderError::invalid_reference(SSM_PROVIDER_ID, reference, at, message)
        };
        // `awsssm:///a/b` and `awsssm://a/b` name the same parameter.
        let (path_start, path) = match parts.target.strip_prefix('/') {
            Some(path) => (parts.target_start + 1, path),
            None => (parts.target_start, parts.target),
        };
        let (name, selector) = check_path(path).map_err(|(at, m)| invalid(path_start + at, m))?;
        let mut parsed = ParameterReference {
            name: format!("/{name}"),
            selector: selector.map(str::to_owned),
            region: None,
            field: None,
        };
        if let Some(query) = parts.query {
            let region =
                parse_query(query).map_err(|(at, m)| invalid(parts.query_start() + at, m))?;
            parsed.region = Some(region);
        }
        if let Some(text) = parts.field {
            let field = FieldKey::parse(SSM_PROVIDER_ID, reference, parts.field_start(), text)?;
            parsed.field = Some(field);
        }
        Ok(parsed)
    }

    /// The name as `GetParameters` takes it: `/app/db`, `/app/db:3`, `/app/db:blue`.
    pub(crate) fn requested(&self) -> String {
        match &self.selector {
            Some(selector) => format!("{}:{selector}", self.name),
            None => self.name.clone(),
        }
    }
}

type Problem = (usize, String);

/// Checks `PATH[:SELECTOR]` (without its leading `/`); returns the path and the selector.
fn check_path(text: &str) -> Result<(&str, Option<&str>), Problem> {
    let (path, selector) = match text.split_once(':') {
        Some((path, selector)) => (path, Some(selector)),
        None => (text, None),
    };
    if path.is_empty() {
        return Err((0, "the parameter name after `awsssm://` is empty".into()));
    }
    if path.len() + 1 > MAX_NAME {
        return Err((
            MAX_NAME - 1,
            format!("a parameter name is at most {MAX_NAME} bytes long, with its path"),
        ));
    }
    let mut at = 0;
    for (level, segment) in path.split('/').enumerate() {
        if level == MAX_LEVELS {
            return Err((
                at,
                format!("a parameter name has at most {MAX_LEVELS} levels"),
            ));
        }
        if segment.is_empty() {
            return Err((at, "a parameter name has no empty segment (`//`)".into()));
        }
        if let Some((i, c)) = segment
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
        {
            return Err((
                at + i,
                format!(
                    "`{}` cannot appear in a parameter name (allowed: A-Z a-z 0-9 _ . - and `/` \
                     between levels)",
                    c.escape_default()
                ),
            ));
        }
        at += segment.len() + 1;
    }
    if let Some(selector) = selector {
        check_selector(selector).map_err(|(i, m)| (path.len() + 1 + i, m))?;
    }
    Ok((path, selector))
}

/// A version (digits, from 1) or a label (letters, digits, `_ . -`, not starting with a
/// digit nor with `aws` or `ssm`, at most 100 bytes).
fn check_selector(selector: &str) -> Result<(), Problem> {
    if selector.is_empty() {
        return Err((0, "the version or label after `:` is empty".into()));
    }
    if selector.bytes().all(|b| b.is_ascii_digit()) {
        return match selector.parse::<u64>() {
            Ok(version) if version > 0 => Ok(()),
            _ => Err((0, "a parameter version is a number from 1".into())),
        };
    }
    if selector.len() > MAX_LABEL {
        return Err((
            MAX_LABEL,
            format!("a label is at most {MAX_LABEL} bytes long"),
        ));
    }
    if selector.starts_with(|c: char| c.is_ascii_digit()) {
        return Err((0, "a label does not start with a digit".into()));
    }
    let lower = selector.to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err((0, "a label does not start with `aws` or `ssm`".into()));
    }
    match selector
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
    {
        Some((i, c)) => Err((
            i,
            format!(
                "`{}` cannot appear in a label (allowed: A-Z a-z 0-9 _ . -)",
                c.escape_default()
            ),
        )),
        None => Ok(()),
    }
}

/// `region=R`, the one query key; returns R.
fn parse_query(query: &str) -> Result<String, Problem> {
    let (key, value) = query.split_once('=').unwrap_or((query, ""));
    if key != "region" {
        return Err((0, format!("unknown query key `{key}` (known: region)")));
    }
    let value_at = key.len() + 1;
    if let Some(more) = value.find('&') {
        let next = &value[more + 1..];
        let next_key = next.split_once('=').map_or(next, |(k, _)| k);
        let message = if next_key == "region" {
            "`region` is given twice".to_owned()
        } else {
            format!("unknown query key `{next_key}` (known: region)")
        };
        return Err((value_at + more + 1, message));
    }
    if value.is_empty() {
        return Err((value_at.min(query.len()), "`region` has no value".into()));
    }
    match value
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some((i, _)) => Err((
            value_at + i,
            "a region is lower-case letters, digits and `-` (such as `eu-west-1`)".into(),
        )),
        None => Ok(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderErrorKind;

    fn offset(reference: &str) -> usize {
        let err = ParameterReference::parse(reference).unwrap_err();
        assert_eq!(
            err.kind(),
            ProviderErrorKind::InvalidReference,
            "{reference}"
        );
        assert_eq!(err.reference(), Some(reference));
        err.offset().unwrap()
    }

    #[test]
    fn two_and_three_slashes_name_the_same_parameter() {
        let two = ParameterReference::parse("awsssm://app/db/password").unwrap();
        let three = ParameterReference::parse("awsssm:///app/db/password").unwrap();
        assert_eq!(two, three);
        assert_eq!(two.name, "/app/db/password");
        assert_eq!(two.requested(), "/app/db/password");
        let top = ParameterReference::parse("ref+awsssm://top").unwrap();
        assert_eq!(top.name, "/top");
    }

    #[test]
    fn selectors_regions_and_fields() {
        let r = ParameterReference::parse("awsssm://app/db:3?region=eu-west-1#/a/b").unwrap();
        assert_eq!(r.requested(), "/app/db:3");
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.field, Some(FieldKey::Pointer("/a/b".into())));
        let r = ParameterReference::parse("ref+awsssm:///app/db:blue-1.x#user").unwrap();
        assert_eq!(r.selector.as_deref(), Some("blue-1.x"));
        assert_eq!(r.field, Some(FieldKey::Member("user".into())));
        let deep = format!("awsssm://{}", vec!["l"; 15].join("/"));
        assert!(ParameterReference::parse(&deep).is_ok());
    }

    #[test]
    fn malformed_references_point_at_their_byte() {
        assert_eq!(offset("awsssn://a"), 5);
        assert_eq!(offset("ref+awsssm:/a"), 12);
        assert_eq!(offset("awsssm://"), 9);
        assert_eq!(offset("awsssm:///"), 10);
        assert_eq!(offset("awsssm://a//b"), 11);
        assert_eq!(offset("awsssm:///a//b"), 12);
        assert_eq!(offset("awsssm://a/b c"), 12);
        assert_eq!(offset("awsssm://a/b/"), 13);
        assert_eq!(offset("awsssm://a:"), 11);
        assert_eq!(offset("awsssm://a:0"), 11);
        assert_eq!(offset("awsssm://a:1blue"), 11);
        assert_eq!(offset("awsssm://a:awsx"), 11);
        assert_eq!(offset("awsssm://a:bl ue"), 13);
        assert_eq!(offset("awsssm://a:1:2"), 11);
        assert_eq!(offset("awsssm://a?stage=x"), 11);
        assert_eq!(offset("awsssm://a?region="), 18);
        assert_eq!(offset("awsssm://a?region=EU"), 18);
        assert_eq!(offset("ref+awsssm://a?region=x&region=y"), 24);
        assert_eq!(offset("awsssm://a?region=x&v=1"), 20);
        assert_eq!(offset("awsssm://a#"), 11);
        let deep = format!("awsssm://{}", vec!["l"; 16].join("/"));
        assert_eq!(offset(&deep), 9 + 30);
        let long = format!("awsssm://{}", "n".repeat(MAX_NAME));
        assert_eq!(offset(&long), 9 + MAX_NAME - 1);
    }
}
