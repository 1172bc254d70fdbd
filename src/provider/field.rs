//! `#KEY` and `#/a/b`: picking one field out of a secret whose value is a JSON object, as
//! `vals` (helmfile) users write it (`ref+awssecrets://prod/db#/password`).
//!
//! - `#KEY` picks the top-level member `KEY` (which may contain `/`, `.` and spaces);
//! - `#/a/b` is a JSON pointer (RFC 6901: `~1` is `/`, `~0` is `~`) into nested values.
//!
//! A string member is the value as is; a number or boolean is its JSON text; an object or
//! array is its compact JSON. `null` and missing members are not found, and the error lists
//! the members that exist (their names only, never a value). Parsed values are wiped before
//! they are dropped.

use secrecy::SecretString;
use serde_json::Value;
use zeroize::Zeroize;

use super::{ProviderError, ProviderErrorKind};

/// Which field of a JSON secret a reference wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FieldKey {
    /// A top-level member by name.
    Member(String),
    /// A JSON pointer, `/a/b`.
    Pointer(String),
}

impl FieldKey {
    /// Parses the text after `#`. `offset` is where that text starts in `reference`, so that
    /// errors point at the right byte.
    ///
    /// # Errors
    ///
    /// [`ProviderErrorKind::InvalidReference`] for an empty key, an empty pointer token or a
    /// `~` not followed by `0` or `1`.
    pub(crate) fn parse(
        provider: &str,
        reference: &str,
        offset: usize,
        text: &str,
    ) -> Result<FieldKey, ProviderError> {
        let invalid = |at: usize, message: &str| {
            ProviderError::invalid_reference(provider, reference, offset + at, message)
        };
        if text.is_empty() {
            return Err(invalid(
                0,
                "the key after `#` is empty: write `#KEY` or `#/path/to/key`, or leave out the `#`",
            ));
        }
        if !text.starts_with('/') {
            return Ok(FieldKey::Member(text.to_owned()));
        }
        let mut at = 0;
        for token in text[1..].split('/') {
            at += 1;
            if token.is_empty() {
                return Err(invalid(
                    at,
                    "a JSON pointer token is empty (`//` or a trailing `/`)",
                ));
            }
            let bytes = token.as_bytes();
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')) {
                    return Err(invalid(
                        at + i,
                        "`~` in a JSON pointer must be followed by `0` or `1`",
                    ));
                }
            }
            at += token.len();
        }
        Ok(FieldKey::Pointer(text.to_owned()))
    }
}

impl std::fmt::Display for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldKey::Member(name) | FieldKey::Pointer(name) => f.write_str(name),
        }
    }
}

/// The field `key` of the JSON object in `text`.
///
/// # Errors
///
/// - [`ProviderErrorKind::Unsupported`] when `text` is not a JSON object (the value is never
///   shown);
/// - [`ProviderErrorKind::NotFound`] when there is no such field, listing those there are.
pub(crate) fn select_text(
    provider: &str,
    text: &str,
    key: &FieldKey,
) -> Result<SecretString, ProviderError> {
    let mut value: Value = serde_json::from_str(text).map_err(|_| {
        ProviderError::new(
            provider,
            ProviderErrorKind::Unsupported,
            format!("the secret is not a JSON object, so `#{key}` cannot pick a field of it"),
        )
    })?;
    let selected = select(provider, &value, key);
    wipe(&mut value);
    selected
}

/// The field `key` of a parsed JSON value; as [`select_text`].
pub(crate) fn select(
    provider: &str,
    value: &Value,
    key: &FieldKey,
) -> Result<SecretString, ProviderError> {
    if !value.is_object() {
        return Err(ProviderError::new(
            provider,
            ProviderErrorKind::Unsupported,
            format!("the secret is not a JSON object, so `#{key}` cannot pick a field of it"),
        ));
    }
    let found = match key {
        FieldKey::Member(name) => value.get(name),
        FieldKey::Pointer(pointer) => value.pointer(pointer),
    };
    match found {
        Some(found) if !found.is_null() => Ok(text_of(found)),
        _ => Err(ProviderError::new(
            provider,
            ProviderErrorKind::NotFound,
            format!(
                "the secret has no field `{key}` (its fields: {})",
                field_names(value).join(", ")
            ),
        )),
    }
}

/// A JSON value as secret text: strings as they are, anything else as compact JSON.
pub(crate) fn text_of(value: &Value) -> SecretString {
    match value {
        Value::String(text) => SecretString::from(text.as_str()),
        other => {
            let mut text = other.to_string();
            let secret = SecretString::from(text.as_str());
            text.zeroize();
            secret
        }
    }
}

/// The names of an object's top-level members, sorted (names only).
pub(crate) fn field_names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Overwrites every string in `value` so that dropping it frees no secret.
pub(crate) fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(members) => members.values_mut().for_each(wipe),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn key(text: &str) -> Result<FieldKey, ProviderError> {
        FieldKey::parse("t", &format!("x://s#{text}"), 6, text)
    }

    #[test]
    fn members_and_pointers() {
        let json = r#"{"user":"u","db":{"password":"p/w","port":5432},"a/b":"slash","n":null}"#;
        let pick = |k: &str| select_text("t", json, &key(k).unwrap());
        assert_eq!(pick("user").unwrap().expose_secret(), "u");
        assert_eq!(pick("/db/password").unwrap().expose_secret(), "p/w");
        assert_eq!(pick("/db/port").unwrap().expose_secret(), "5432");
        assert_eq!(pick("a/b").unwrap().expose_secret(), "slash");
        assert_eq!(pick("/a~1b").unwrap().expose_secret(), "slash");
        assert_eq!(
            pick("db").unwrap().expose_secret(),
            r#"{"password":"p/w","port":5432}"#
        );
        let missing = pick("nope").unwrap_err();
        assert_eq!(missing.kind(), ProviderErrorKind::NotFound);
        assert!(
            missing.message().contains("a/b, db, n, user"),
            "{}",
            missing.message()
        );
        assert_eq!(pick("n").unwrap_err().kind(), ProviderErrorKind::NotFound);
    }

    #[test]
    fn a_plain_secret_has_no_fields_and_is_not_shown() {
        let err = select_text("t", "hunter2", &key("k").unwrap()).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::Unsupported);
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn malformed_keys_point_at_their_byte() {
        assert_eq!(key("").unwrap_err().offset(), Some(6));
        assert_eq!(key("/a//b").unwrap_err().offset(), Some(9));
        assert_eq!(key("/a~2").unwrap_err().offset(), Some(8));
        assert!(key("/a~0b").is_ok());
    }
}
