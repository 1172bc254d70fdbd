//! The one door for secret bytes on the render path: every per-part encoder (URL path, query
//! and fragment, header, basic auth, JSON, form, raw) behind [`encode`], whose output is
//! zeroized when dropped, and the checks of what a value may not become there (a header
//! split by CR/LF, a URL path segment `..`).
//!
//! `request.rs` only assembles what comes out of here. Buffers that hold secret bytes are
//! sized exactly (or for the worst case) before the first byte is written, so that none is
//! grown by reallocation, which would free an unwiped copy.

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
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

/// Resolved values by secret name.
pub(crate) type Values = HashMap<String, SecretString>;

/// Values from `(name, value)` pairs, for tests.
#[cfg(test)]
pub(crate) fn values(pairs: &[(&str, &str)]) -> Values {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), SecretString::from(*v)))
        .collect()
}

/// One part of a request, and the templates it is rendered from.
pub(crate) enum Part<'a> {
    /// The URL's path: values percent-encoded as one component, and no segment that holds
    /// a value may be a dot segment (`.`, `..` or an encoded form), which would move the
    /// request to another path.
    Path(&'a Template),
    /// The URL's query or fragment: values percent-encoded as one component.
    Url(&'a Template),
    /// Query pairs added with `RequestTemplate::query`, or a form body: `name=value&…`,
    /// form-urlencoded, literal text included.
    Pairs(&'a [(Template, Template)]),
    /// A header value after `prefix` (such as `Bearer `); `part` names the header in errors.
    Header {
        template: &'a Template,
        part: &'a str,
        prefix: &'static str,
    },
    /// `Basic base64(user:password)`.
    BasicAuth {
        user: &'a Template,
        password: &'a Template,
    },
    /// A JSON body: values JSON-escaped inside their strings; the result must be JSON.
    Json(&'a Template),
    /// A raw body: values as they are.
    Raw(&'a Template),
    /// Form-urlencoded text as a client wrote it: values form-urlencoded where they stand.
    FormText(&'a Template),
}

/// Renders one part with `values`, escaped as that part needs, into a zeroizing buffer.
///
/// # Errors
///
/// - [`Error::NotFound`] for a name missing from `values` (every one at once);
/// - [`Error::ValueNotAllowed`] for a header value holding CR, LF, NUL or another control
///   character, naming the secret and the header (never the value), and for a URL path
///   segment holding a value that would be a dot segment, naming the secret;
/// - [`Error::InvalidRequest`] for a JSON body that is not JSON once rendered.
pub(crate) fn encode(part: Part<'_>, values: &Values) -> Result<Zeroizing<String>> {
    match part {
        Part::Path(template) => {
            let path = render(template, values, component)?;
            check_dot_segments(template, &path)?;
            Ok(path)
        }
        Part::Url(template) => render(template, values, component),
        Part::Pairs(pairs) => form(pairs, values),
        Part::Header {
            template,
            part,
            prefix,
        } => {
            let value = render(template, values, push)?;
            if let Some(bad) = value
                .bytes()
                .position(|b| b < 0x20 && b != b'\t' || b == 0x7f)
            {
                return Err(header_error(template, values, part, value.as_bytes()[bad]));
            }
            Ok(concat(&[prefix, &value]))
        }
        Part::BasicAuth { user, password } => {
            let user = render(user, values, push)?;
            let password = render(password, values, push)?;
            let joined = concat(&[&user, ":", &password]);
            let prefix = "Basic ";
            let mut out = Zeroizing::new(vec![0; prefix.len() + base64_len(joined.len())]);
            out[..prefix.len()].copy_from_slice(prefix.as_bytes());
            STANDARD
                .encode_slice(joined.as_bytes(), &mut out[prefix.len()..])
                .map_err(|_| Error::InvalidRequest {
                    part: "basic auth".to_owned(),
                    reason: "the credentials could not be encoded".to_owned(),
                })?;
            // Base64 output is ASCII; the buffer moves into the string without a copy.
            let text = String::from_utf8(std::mem::take(&mut *out)).unwrap_or_default();
            Ok(Zeroizing::new(text))
        }
        Part::Json(template) => {
            let body = render(template, values, json_escape)?;
            serde_json::from_str::<serde::de::IgnoredAny>(&body).map_err(|e| {
                // serde_json's message names a line and column, never the content.
                Error::InvalidRequest {
                    part: "JSON body".to_owned(),
                    reason: format!("the rendered body is not valid JSON: {e}"),
                }
            })?;
            Ok(body)
        }
        Part::Raw(template) => render(template, values, push),
        Part::FormText(template) => render(template, values, |value, out| {
            out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()))
        }),
    }
}

fn push(value: &str, out: &mut String) {
    out.push_str(value);
}

fn component(value: &str, out: &mut String) {
    out.extend(utf8_percent_encode(value, COMPONENT));
}

/// The segments the URL Standard reads as `.` and `..`: a path holding one of them is
/// shortened when the URL is parsed, and the request goes elsewhere.
const DOT_SEGMENTS: [&str; 6] = [".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"];

/// Refuses a rendered path whose segment holding a value is a dot segment (`.`, `..`,
/// `%2e`…, any case), taking the literal text around the value into account: `a.` is
/// fine, `.` followed by a value `.` is not. Each secret of such a segment is named.
fn check_dot_segments(template: &Template, path: &str) -> Result<()> {
    if template.is_literal() {
        return Ok(());
    }
    // Values are percent-encoded and hold no separator, so the rendered path has the
    // literal text's segments, in order; the URL Standard also splits http(s) paths at `\`.
    let is_separator = |b: &u8| *b == b'/' || *b == b'\\';
    let literal = template.literal().as_bytes();
    let mut segments = path.split(['/', '\\']);
    let (mut segment, mut index, mut counted) = (segments.next(), 0, 0);
    let mut refused: Vec<Error> = Vec::new();
    for (name, at) in template.insertions() {
        let target = index
            + literal[counted..at]
                .iter()
                .filter(|b| is_separator(b))
                .count();
        counted = at;
        while index < target {
            segment = segments.next();
            index += 1;
        }
        let dot = segment.is_some_and(|s| DOT_SEGMENTS.iter().any(|d| s.eq_ignore_ascii_case(d)));
        if dot && !refused.iter().any(|e| e.secret_name() == Some(name)) {
            refused.push(Error::ValueNotAllowed {
                name: name.to_owned(),
                part: "URL path".to_owned(),
                reason: "the value would make a path segment `.` or `..` (a dot segment), which moves the request to another path",
            });
        }
    }
    Error::gather(refused)
}

/// The door itself: renders `template`, each value written by `escape`, and moves the text
/// into a zeroizing buffer of exactly its size.
fn render(
    template: &Template,
    values: &Values,
    escape: impl FnMut(&str, &mut String),
) -> Result<Zeroizing<String>> {
    template.render_zeroizing(values, escape)
}

/// The pieces, joined into a buffer allocated once at its final size.
fn concat(pieces: &[&str]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(pieces.iter().map(|p| p.len()).sum()));
    for piece in pieces {
        out.push_str(piece);
    }
    out
}

fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

/// `name=value&…`, form-urlencoded, sized exactly before it is written.
fn form(pairs: &[(Template, Template)], values: &Values) -> Result<Zeroizing<String>> {
    let mut rendered = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        rendered.push((render(name, values, push)?, render(value, values, push)?));
    }
    let encoded_len = |text: &str| {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .map(str::len)
            .sum::<usize>()
    };
    let len = rendered
        .iter()
        .map(|(n, v)| encoded_len(n) + 1 + encoded_len(v))
        .sum::<usize>()
        + rendered.len().saturating_sub(1);
    let mut out = Zeroizing::new(String::with_capacity(len));
    for (i, (name, value)) in rendered.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(url::form_urlencoded::byte_serialize(name.as_bytes()));
        out.push('=');
        out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
    }
    Ok(out)
}

/// The error for a header whose rendered value holds `byte`: the secret whose value brings
/// it is named (never the value); a literal control character is the template's fault.
fn header_error(template: &Template, values: &Values, part: &str, byte: u8) -> Error {
    let culprit = template.names().iter().find(|name| {
        values
            .get(name.as_str())
            .is_some_and(|v| v.expose_secret().as_bytes().contains(&byte))
    });
    match culprit {
        Some(name) => Error::ValueNotAllowed {
            name: name.clone(),
            part: part.to_owned(),
            reason: if matches!(byte, b'\r' | b'\n' | b'\0') {
                "the value holds CR, LF or NUL, which would split or end the header"
            } else {
                "the value holds a control character a header cannot carry"
            },
        },
        None => Error::InvalidRequest {
            part: part.to_owned(),
            reason: "the value is not a valid header value".to_owned(),
        },
    }
}

/// A header value carrying rendered bytes, marked sensitive when it holds secrets.
pub(crate) fn header_value(bytes: &str, part: &str, sensitive: bool) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(bytes).map_err(|_| Error::InvalidRequest {
        part: part.to_owned(),
        reason: "the value is not a valid header value".to_owned(),
    })?;
    value.set_sensitive(sensitive);
    Ok(value)
}

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

/// Appends `value` escaped for the inside of a JSON string.
pub(crate) fn json_escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Written in place: `format!` would make a short-lived copy on the heap.
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
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

    #[test]
    fn each_part_is_encoded_as_it_needs() {
        let v = values(&[("k", "a b&c=d/é"), ("u", "user")]);
        let t = Template::parse("x/<<vault:k>>").unwrap();
        assert_eq!(
            *encode(Part::Url(&t), &v).unwrap(),
            "x/a%20b%26c%3Dd%2F%C3%A9"
        );
        let pairs = [(
            Template::parse("n m").unwrap(),
            Template::parse("<<vault:k>>").unwrap(),
        )];
        assert_eq!(
            *encode(Part::Pairs(&pairs), &v).unwrap(),
            "n+m=a+b%26c%3Dd%2F%C3%A9"
        );
        let header = Template::parse("<<vault:k>>").unwrap();
        let part = Part::Header {
            template: &header,
            part: "bearer token",
            prefix: "Bearer ",
        };
        assert_eq!(*encode(part, &v).unwrap(), "Bearer a b&c=d/é");
        let (user, password) = (
            Template::parse("<<vault:u>>").unwrap(),
            Template::parse("<<vault:k>>").unwrap(),
        );
        let basic = encode(
            Part::BasicAuth {
                user: &user,
                password: &password,
            },
            &v,
        )
        .unwrap();
        assert_eq!(
            *basic,
            format!("Basic {}", STANDARD.encode("user:a b&c=d/é"))
        );
        let json = Template::parse(r#"{"a": "<<vault:k>>"}"#).unwrap();
        assert_eq!(
            *encode(Part::Json(&json), &v).unwrap(),
            r#"{"a": "a b&c=d/é"}"#
        );
    }

    #[test]
    fn header_errors_name_the_secret_not_the_value() {
        let v = values(&[("k", "line\r\nX-Evil: 1")]);
        let t = Template::parse("<<vault:k>>").unwrap();
        let part = Part::Header {
            template: &t,
            part: "header `X-Key`",
            prefix: "",
        };
        let err = encode(part, &v).unwrap_err();
        assert_eq!(err.secret_name(), Some("k"));
        assert!(!err.to_string().contains("Evil"), "{err}");
    }
}
