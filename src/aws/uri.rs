//! The shape both AWS reference forms share, `[ref+]SCHEME://TARGET[?QUERY][#FIELD]`, split
//! into its parts with their byte offsets in the reference, so that each parser reports a
//! problem at the byte where it is.

use crate::provider::{ProviderError, strip_ref_prefix};

/// A reference's parts; offsets count from the start of the whole reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    /// What names the secret or parameter: between `://` and `?` or `#`.
    pub(crate) target: &'a str,
    /// After `?`, before `#`.
    pub(crate) query: Option<&'a str>,
    /// After `#`.
    pub(crate) field: Option<&'a str>,
    /// Where `target` starts.
    pub(crate) target_start: usize,
}

impl Parts<'_> {
    /// Where the query starts (after its `?`).
    pub(crate) fn query_start(&self) -> usize {
        self.target_start + self.target.len() + 1
    }

    /// Where the field starts (after its `#`).
    pub(crate) fn field_start(&self) -> usize {
        self.query_start() + self.query.map_or(0, |query| query.len() + 1)
    }
}

/// Splits `reference` (with or without `ref+`), which must start with `prefix`
/// (`awsssm://`).
///
/// # Errors
///
/// [`ProviderErrorKind::InvalidReference`](crate::ProviderErrorKind::InvalidReference) of
/// `provider`, at the first byte that departs from `prefix`, saying the reference reads
/// `shape`.
pub(crate) fn split<'a>(
    reference: &'a str,
    prefix: &str,
    provider: &str,
    shape: &str,
) -> Result<Parts<'a>, ProviderError> {
    let stripped = strip_ref_prefix(reference);
    let base = reference.len() - stripped.len();
    let Some(rest) = stripped.strip_prefix(prefix) else {
        let at = stripped
            .bytes()
            .zip(prefix.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        return Err(ProviderError::invalid_reference(
            provider,
            reference,
            base + at,
            format!("expected `{shape}`"),
        ));
    };
    let (before_field, field) = match rest.split_once('#') {
        Some((before, field)) => (before, Some(field)),
        None => (rest, None),
    };
    let (target, query) = match before_field.split_once('?') {
        Some((target, query)) => (target, Some(query)),
        None => (before_field, None),
    };
    Ok(Parts {
        target,
        query,
        field,
        target_start: base + prefix.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_their_offsets() {
        let reference = "ref+awsssm://a/b?region=x#/k";
        let parts = split(reference, "awsssm://", "aws-ssm", "awsssm://PATH").unwrap();
        assert_eq!(parts.target, "a/b");
        assert_eq!(parts.query, Some("region=x"));
        assert_eq!(parts.field, Some("/k"));
        assert_eq!(&reference[parts.target_start..][..3], "a/b");
        assert_eq!(&reference[parts.query_start()..][..8], "region=x");
        assert_eq!(&reference[parts.field_start()..], "/k");
        let bare = split("awsssm://a#k", "awsssm://", "aws-ssm", "x").unwrap();
        assert_eq!((bare.query, bare.field_start()), (None, 11));
    }

    #[test]
    fn another_scheme_is_refused_where_it_departs() {
        let error = split(
            "ref+awssecret://x",
            "awssecrets://",
            "aws",
            "awssecrets://X",
        )
        .unwrap_err();
        assert_eq!(error.offset(), Some(13));
        assert!(error.message().contains("awssecrets://X"), "{error}");
    }
}
