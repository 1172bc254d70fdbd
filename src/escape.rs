//! Escaping per request part: URL components, header values, JSON strings.

use std::collections::HashMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::template::Template;

/// Everything but RFC 3986's unreserved characters: a value encoded with it stays exactly
/// one path segment or query component.
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Refuses placeholders outside JSON strings, where a value could change the document's
/// structure.
pub(crate) fn check_json_placements(text: &str, template: &Template) -> Result<()> {
    let mut inside = vec![false; text.len()];
    let (mut in_string, mut escaped) = (false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            inside[i] = true;
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                inside[i] = false;
            }
        } else if b == b'"' {
            in_string = true;
        }
    }
    for (_, offset) in template.placeholders() {
        if !inside[offset] {
            return Err(Error::InvalidTemplate {
                part: "JSON body".to_owned(),
                offset,
                reason: "a placeholder in a JSON body must stand inside a JSON string",
            });
        }
    }
    Ok(())
}

/// A header value: every secret it uses is checked on its own first, so that an error
/// names the secret (never its value).
pub(crate) fn header_value(
    template: &Template,
    values: &HashMap<String, SecretString>,
    part: &str,
    prefix: &str,
) -> Result<HeaderValue> {
    for name in template.names() {
        if let Some(value) = values.get(name.as_str()) {
            let text = value.expose_secret();
            let reason = if text.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
                Some("the value holds CR, LF or NUL, which would split or end the header")
            } else if HeaderValue::from_bytes(text.as_bytes()).is_err() {
                Some("the value holds a control character a header cannot carry")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::ValueNotAllowed {
                    name: name.clone(),
                    part: part.to_owned(),
                    reason,
                });
            }
        }
    }
    let rendered = template.render_with(values, |v, out| out.push_str(v))?;
    let text = Zeroizing::new(format!("{prefix}{}", rendered.expose_secret()));
    let mut value =
        HeaderValue::from_bytes(text.as_bytes()).map_err(|_| Error::InvalidRequest {
            part: part.to_owned(),
            reason: "the value is not a valid header value".to_owned(),
        })?;
    if !template.is_literal() {
        value.set_sensitive(true);
    }
    Ok(value)
}

/// Appends `value` escaped for the inside of a JSON string.
pub(crate) fn json_escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escaping_keeps_values_inside_their_string() {
        let mut out = String::new();
        json_escape("a\"b\\c\nd\u{1}é", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\nd\\u0001é");
    }
}
