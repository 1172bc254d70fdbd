//! The one door for secret bytes on the render path: every per-part encoder (URL path, query
//! and fragment, header, basic auth, JSON, form, raw) behind [`encode`], whose output is
//! zeroized when dropped, and the checks of what a value may not become there (a header
//! split by CR/LF, a URL path segment `..`).
//!
//! `request/` only assembles what comes out of here. Buffers that hold secret bytes are
//! sized exactly (or for the worst case) before the first byte is written, so that none is
//! grown by reallocation, which would free an unwiped copy. Values are found by position
//! (`values.rs`); JSON bodies are checked once, when parsed (`json.rs`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::template::{Template, release};

mod json;
mod values;

pub(crate) use json::{check_json, json_escape};
pub(crate) use values::Values;
#[cfg(test)]
pub(crate) use values::values;

/// Everything but RFC 3986's unreserved characters: a value encoded with it stays exactly
/// one path segment or query component.
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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
pub(crate) fn encode(part: Part<'_>, values: &Values<'_>) -> Result<Zeroizing<String>> {
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
            let value = template.render_as_is_after(prefix, &values.of(template)?);
            if let Some(bad) = value.bytes().position(|b| !is_header_byte(b)) {
                return Err(header_error(template, values, part, value.as_bytes()[bad]));
            }
            Ok(value)
        }
        Part::BasicAuth { user, password } => {
            let user = user.render_as_is(&values.of(user)?);
            let password = password.render_as_is(&values.of(password)?);
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
            let text = String::from_utf8(release(out)).unwrap_or_default();
            Ok(Zeroizing::new(text))
        }
        // The template was found to be JSON when it was parsed ([`check_json`]), and a
        // JSON-escaped value inside a JSON string keeps it so.
        Part::Json(template) => render(template, values, json_escape),
        Part::Raw(template) => Ok(template.render_as_is(&values.of(template)?)),
        Part::FormText(template) => render(template, values, |value, out| {
            out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()))
        }),
    }
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

/// The door itself: renders `template`, each value written by `escape`, into a zeroizing
/// buffer of exactly its size.
fn render(
    template: &Template,
    values: &Values<'_>,
    escape: impl FnMut(&str, &mut String),
) -> Result<Zeroizing<String>> {
    Ok(template.render_found(&values.of(template)?, escape))
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
fn form(pairs: &[(Template, Template)], values: &Values<'_>) -> Result<Zeroizing<String>> {
    let mut rendered = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        rendered.push((
            name.render_as_is(&values.of(name)?),
            value.render_as_is(&values.of(value)?),
        ));
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
fn header_error(template: &Template, values: &Values<'_>, part: &str, byte: u8) -> Error {
    let culprit = template.names().iter().find(|name| {
        values
            .get(name)
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

/// Whether `byte` may stand in a header value (what `HeaderValue` accepts: no control
/// character but tab).
fn is_header_byte(byte: u8) -> bool {
    byte >= 0x20 && byte != 0x7f || byte == b'\t'
}

/// A header value made of rendered bytes, marked sensitive when it holds secrets. The buffer
/// moves into the value without a copy once it is found valid (what the request holds is
/// the caller's from there, as a body is); an invalid one is wiped here.
pub(crate) fn header_value(
    text: Zeroizing<String>,
    part: &str,
    sensitive: bool,
) -> Result<HeaderValue> {
    let invalid = || Error::InvalidRequest {
        part: part.to_owned(),
        reason: "the value is not a valid header value".to_owned(),
    };
    if !text.bytes().all(is_header_byte) {
        return Err(invalid());
    }
    let bytes = bytes::Bytes::from(release(text).into_bytes());
    let mut value = HeaderValue::from_maybe_shared(bytes).map_err(|_| invalid())?;
    value.set_sensitive(sensitive);
    Ok(value)
}

/// A header value without placeholders, checked once when the request is parsed.
pub(crate) fn literal_header_value(text: &str, part: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(text).map_err(|_| Error::InvalidRequest {
        part: part.to_owned(),
        reason: "the value is not a valid header value".to_owned(),
    })
}

#[cfg(test)]
mod tests;
