//! `awssecrets://` references: parsed exactly and offline, with the byte offset of each
//! problem.
//!
//! ```text
//! [ref+]awssecrets://SECRET-ID-OR-ARN[?version_stage=S&version_id=V&region=R][#KEY | #/json/pointer]
//! ```
//!
//! `SECRET` is a secret name (`prod/db`, made of `A-Z a-z 0-9 / _ + = . @ -`) or a full
//! secret ARN (`arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf`), whose
//! region is where the secret is fetched from. Each query key may appear once; `region` must
//! agree with an ARN's region.

use crate::provider::ProviderError;
use crate::provider::field::FieldKey;

use super::error::PROVIDER_ID;
use super::uri;

/// The URI scheme of AWS Secrets Manager references.
pub const SCHEME: &str = "awssecrets";

const PREFIX: &str = "awssecrets://";

/// The longest secret ID Secrets Manager accepts (names are at most 512 bytes; ARNs more).
const MAX_SECRET_ID: usize = 2048;

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsReference {
    /// The secret name or ARN, as written.
    pub(crate) secret_id: String,
    pub(crate) version_stage: Option<String>,
    pub(crate) version_id: Option<String>,
    /// The region the reference names: the ARN's, or `?region=`.
    pub(crate) region: Option<String>,
    pub(crate) field: Option<FieldKey>,
}

impl AwsReference {
    /// Parses `reference` (with or without the `ref+` prefix).
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::InvalidReference`](crate::ProviderErrorKind::InvalidReference)
    /// with the byte offset of the problem in `reference`.
    pub(crate) fn parse(reference: &str) -> Result<AwsReference, ProviderError> {
        let parts = uri::split(
            reference,
            PREFIX,
            PROVIDER_ID,
            "awssecrets://SECRET-ID-OR-ARN[?version_stage=S&version_id=V&region=R][#KEY]",
        )?;
        let invalid = |at: usize, message: String| {
            ProviderError::invalid_reference(PROVIDER_ID, reference, at, message)
        };
        let mut parsed = AwsReference {
            secret_id: parts.target.to_owned(),
            version_stage: None,
            version_id: None,
            region: None,
            field: None,
        };
        parsed.region =
            check_secret_id(parts.target).map_err(|(at, m)| invalid(parts.target_start + at, m))?;
        let arn_region = parsed.region.clone();
        if let Some(query) = parts.query {
            parse_query(&mut parsed, query, arn_region.as_deref())
                .map_err(|(at, m)| invalid(parts.query_start() + at, m))?;
        }
        if let Some(text) = parts.field {
            parsed.field = Some(FieldKey::parse(
                PROVIDER_ID,
                reference,
                parts.field_start(),
                text,
            )?);
        }
        Ok(parsed)
    }
}

type Problem = (usize, String);

/// Checks a secret name or ARN; returns the ARN's region.
fn check_secret_id(id: &str) -> Result<Option<String>, Problem> {
    if id.is_empty() {
        return Err((
            0,
            "the secret name or ARN after `awssecrets://` is empty".into(),
        ));
    }
    if id.len() > MAX_SECRET_ID {
        return Err((
            MAX_SECRET_ID,
            format!("a secret ID is at most {MAX_SECRET_ID} bytes long"),
        ));
    }
    if id.starts_with("arn:") {
        return check_arn(id).map(Some);
    }
    check_name(id, 0)?;
    Ok(None)
}

/// Secret names: `A-Z a-z 0-9 / _ + = . @ -`, as Secrets Manager allows.
fn check_name(name: &str, offset: usize) -> Result<(), Problem> {
    if name.is_empty() {
        return Err((offset, "the secret name is empty".into()));
    }
    match name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        Some((at, c)) => Err((
            offset + at,
            format!(
                "`{}` cannot appear in a secret name (allowed: A-Z a-z 0-9 / _ + = . @ -)",
                c.escape_default()
            ),
        )),
        None => Ok(()),
    }
}

/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME[-SUFFIX]`; returns REGION.
fn check_arn(arn: &str) -> Result<String, Problem> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let offset_of = |index: usize| -> usize { parts[..index].iter().map(|p| p.len() + 1).sum() };
    if parts.len() < 7 {
        return Err((
            arn.len(),
            "a secret ARN reads `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`".into(),
        ));
    }
    if parts[1].is_empty() {
        return Err((offset_of(1), "the ARN's partition is empty".into()));
    }
    if parts[2] != "secretsmanager" {
        return Err((
            offset_of(2),
            format!("the ARN's service is `{}`, not `secretsmanager`", parts[2]),
        ));
    }
    check_region(parts[3]).map_err(|(at, m)| (offset_of(3) + at, m))?;
    if parts[4].is_empty() || !parts[4].bytes().all(|b| b.is_ascii_digit()) {
        return Err((offset_of(4), "the ARN's account is not a number".into()));
    }
    if parts[5] != "secret" {
        return Err((
            offset_of(5),
            format!("the ARN's resource type is `{}`, not `secret`", parts[5]),
        ));
    }
    check_name(parts[6], offset_of(6))?;
    Ok(parts[3].to_owned())
}

fn check_region(region: &str) -> Result<(), Problem> {
    if region.is_empty() {
        return Err((0, "the region is empty".into()));
    }
    match region
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some((at, _)) => Err((
            at,
            "a region is lower-case letters, digits and `-` (such as `eu-west-1`)".into(),
        )),
        None => Ok(()),
    }
}

fn parse_query(
    parsed: &mut AwsReference,
    query: &str,
    arn_region: Option<&str>,
) -> Result<(), Problem> {
    let mut at = 0;
    let mut seen: Vec<&str> = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value_at = at + key.len() + 1;
        let slot = match key {
            "version_stage" => &mut parsed.version_stage,
            "version_id" => &mut parsed.version_id,
            "region" => &mut parsed.region,
            _ => {
                return Err((
                    at,
                    format!("unknown query key `{key}` (known: version_stage, version_id, region)"),
                ));
            }
        };
        if value.is_empty() {
            return Err((
                value_at.min(at + pair.len()),
                format!("`{key}` has no value"),
            ));
        }
        if seen.contains(&key) {
            return Err((at, format!("`{key}` is given twice")));
        }
        seen.push(key);
        match key {
            "region" => {
                check_region(value).map_err(|(i, m)| (value_at + i, m))?;
                if let Some(arn_region) = arn_region
                    && arn_region != value
                {
                    return Err((
                        value_at,
                        format!("`region={value}` disagrees with the ARN's region `{arn_region}`"),
                    ));
                }
            }
            "version_id" => {
                if let Some(i) = value
                    .char_indices()
                    .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
                    .map(|(i, _)| i)
                {
                    return Err((
                        value_at + i,
                        "a version ID is letters, digits and `-`".into(),
                    ));
                }
                if !(32..=64).contains(&value.len()) {
                    return Err((value_at, "a version ID is 32 to 64 characters long".into()));
                }
            }
            _ => {
                if let Some(i) = value
                    .char_indices()
                    .find(|(_, c)| c.is_whitespace() || c.is_control())
                    .map(|(i, _)| i)
                {
                    return Err((value_at + i, "a version stage has no spaces".into()));
                }
                if value.len() > 256 {
                    return Err((value_at, "a version stage is at most 256 characters".into()));
                }
            }
        }
        *slot = Some(value.to_owned());
        at += pair.len() + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderErrorKind;

    fn offset(reference: &str) -> usize {
        let err = AwsReference::parse(reference).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidReference);
        assert_eq!(err.reference(), Some(reference));
        err.offset().unwrap()
    }

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf";

    #[test]
    fn names_queries_and_fields() {
        let r = AwsReference::parse("awssecrets://prod/db").unwrap();
        assert_eq!(r.secret_id, "prod/db");
        assert!(r.version_stage.is_none() && r.field.is_none() && r.region.is_none());

        let r = AwsReference::parse(
            "ref+awssecrets://prod/db?version_stage=AWSPREVIOUS&region=us-east-2#/db/password",
        )
        .unwrap();
        assert_eq!(r.version_stage.as_deref(), Some("AWSPREVIOUS"));
        assert_eq!(r.region.as_deref(), Some("us-east-2"));
        assert_eq!(r.field, Some(FieldKey::Pointer("/db/password".into())));

        let id = "0123456789abcdef0123456789abcdef";
        let r = AwsReference::parse(&format!("awssecrets://a@b+c=d.e_f-g?version_id={id}#user"))
            .unwrap();
        assert_eq!(r.version_id.as_deref(), Some(id));
        assert_eq!(r.field, Some(FieldKey::Member("user".into())));
    }

    #[test]
    fn an_arn_names_its_region() {
        let r = AwsReference::parse(&format!("awssecrets://{ARN}#password")).unwrap();
        assert_eq!(r.secret_id, ARN);
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert!(AwsReference::parse(&format!("awssecrets://{ARN}?region=eu-west-1")).is_ok());
        let conflicting = format!("awssecrets://{ARN}?region=us-east-1");
        assert_eq!(offset(&conflicting), 13 + ARN.len() + 1 + "region=".len());
    }

    #[test]
    fn malformed_references_point_at_their_byte() {
        assert_eq!(offset("awssecret://x"), 9);
        assert_eq!(offset("ref+awssecret://x"), 13);
        assert_eq!(offset("awssecrets://"), 13);
        assert_eq!(offset("awssecrets://pro d"), 16);
        assert_eq!(offset("ref+awssecrets://a?stage=x"), 19);
        assert_eq!(offset("awssecrets://a?version_stage="), 29);
        assert_eq!(offset("awssecrets://a?region=x&region=y"), 24);
        assert_eq!(offset("awssecrets://a?region=EU"), 22);
        assert_eq!(offset("awssecrets://a?version_id=short"), 26);
        assert_eq!(offset("awssecrets://a#"), 15);
        assert_eq!(offset("ref+awssecrets://a#/x//y"), 22);
        assert_eq!(
            offset("awssecrets://arn:aws:sts:eu-west-1:1:secret:x"),
            13 + "arn:aws:".len()
        );
        assert_eq!(
            offset("awssecrets://arn:aws:secretsmanager:eu-west-1:acct:secret:x"),
            13 + "arn:aws:secretsmanager:eu-west-1:".len()
        );
        assert_eq!(
            offset("awssecrets://arn:aws:secretsmanager"),
            13 + "arn:aws:secretsmanager".len()
        );
    }
}
