//! Reads a `reqwest::Request` into the parts the vault renders: placeholders in the URL's
//! path, query and fragment (percent-encoded by reqwest), in header values and basic auth,
//! and in a UTF-8 body escaped as its `Content-Type` says; the rest is sent as it came.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
};
use zeroize::Zeroizing;

use super::encoded::{decode, mentions_placeholder, mentions_raw_placeholder};
use crate::error::{Error, Result};
use crate::escape::check_json;
use crate::request::{Base, Body, Header, Parsed, UrlParts};
use crate::template::{Template, parse_in};

/// A request as the middleware reads it.
#[expect(
    clippy::large_enum_variant,
    reason = "made once per request and taken apart at once: boxing would only add an allocation"
)]
pub(crate) enum Read {
    /// No placeholder anywhere: the request goes on exactly as it came.
    Untouched(reqwest::Request),
    /// Parts to render, and the rest of the request.
    Parsed(Parsed),
}

/// How a body's placeholders are escaped, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// `application/json` or `…+json`: values JSON-escaped inside JSON strings.
    Json,
    /// `application/x-www-form-urlencoded`: values form-urlencoded.
    Form,
    /// `text/*`: values as they are.
    Text,
    /// Anything else, or no `Content-Type`: a placeholder there is refused.
    Other,
}

impl BodyKind {
    fn of(content_type: Option<&HeaderValue>) -> Self {
        let Some(essence) = content_type
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
        else {
            return BodyKind::Other;
        };
        let is = |other: &str| essence.eq_ignore_ascii_case(other);
        let ends_with = |suffix: &str| {
            essence.len() >= suffix.len()
                && essence.as_bytes()[essence.len() - suffix.len()..]
                    .eq_ignore_ascii_case(suffix.as_bytes())
        };
        let starts_with = |prefix: &str| {
            essence.len() > prefix.len()
                && essence.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        };
        if is("application/json") || ends_with("+json") {
            BodyKind::Json
        } else if is("application/x-www-form-urlencoded") {
            BodyKind::Form
        } else if starts_with("text/") {
            BodyKind::Text
        } else {
            BodyKind::Other
        }
    }

    /// Whether `bytes` holds a placeholder as this kind of body writes one: JSON and text
    /// are not percent-encoded; a form, or a body of unknown kind, may be.
    fn mentions(self, bytes: &[u8]) -> bool {
        match self {
            BodyKind::Json | BodyKind::Text => mentions_raw_placeholder(bytes),
            BodyKind::Form | BodyKind::Other => mentions_placeholder(bytes),
        }
    }
}

/// Reads `request`.
///
/// # Errors
///
/// [`Error::InvalidTemplate`] for a malformed placeholder, [`Error::InvalidRequest`] for a
/// placeholder in the URL's user info, in a header value or body that is not UTF-8, in a
/// body whose `Content-Type` is not JSON, a form or `text/*`, or outside a JSON string.
pub(crate) fn read(mut request: reqwest::Request) -> Result<Read> {
    let url_marked = mentions_placeholder(request.url().as_str().as_bytes());
    let marked_headers = marked_headers(request.headers());
    let basic = match marked_headers.contains(&AUTHORIZATION) {
        true => None,
        false => basic_auth(request.headers())?,
    };
    let kind = BodyKind::of(request.headers().get(CONTENT_TYPE));
    let body_marked = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .is_some_and(|bytes| kind.mentions(bytes));
    if !url_marked && marked_headers.is_empty() && basic.is_none() && !body_marked {
        return Ok(Read::Untouched(request));
    }

    let url = request.url();
    if mentions_placeholder(url.username().as_bytes())
        || url
            .password()
            .is_some_and(|p| mentions_placeholder(p.as_bytes()))
    {
        return Err(Error::InvalidRequest {
            part: "URL".to_owned(),
            reason: "placeholders are not allowed in the URL's user info".to_owned(),
        });
    }
    let template = |text: &str, part: &str| parse_in(&decode(text), part);
    let parts = UrlParts {
        path: template(url.path(), "URL path")?,
        query: url.query().map(|q| template(q, "URL query")).transpose()?,
        fragment: url
            .fragment()
            .map(|f| template(f, "URL fragment"))
            .transpose()?,
    };
    let mut origin = url.clone();
    origin.set_path("");
    origin.set_query(None);
    origin.set_fragment(None);

    let mut headers = Vec::new();
    for name in marked_headers {
        headers.extend(header_values(request.headers(), &name)?);
        request.headers_mut().remove(&name);
    }
    if basic.is_some() {
        request.headers_mut().remove(AUTHORIZATION);
    }

    let taken = request.body_mut().take();
    let body = match (
        body_marked,
        taken.as_ref().and_then(reqwest::Body::as_bytes),
    ) {
        (true, Some(bytes)) => Some(body(bytes, kind, request.headers().get(CONTENT_TYPE))?),
        _ => None,
    };
    if body.is_some() {
        // The rendered body has a length of its own.
        request.headers_mut().remove(CONTENT_LENGTH);
    }
    let mut stream = None;
    if body.is_none() {
        match taken {
            Some(reusable) if reusable.as_bytes().is_some() => {
                *request.body_mut() = Some(reusable);
            }
            other => stream = other,
        }
    }
    let parsed = Parsed {
        method: request.method().clone(),
        origin,
        url: parts,
        query: Vec::new(),
        headers,
        basic,
        bearer: None,
        body,
        base: Some(Base::new(request, stream)),
        names: Vec::new(),
    };
    Ok(Read::Parsed(parsed.indexed()))
}

/// The names of the headers with a placeholder in any of their values.
fn marked_headers(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = Vec::new();
    for (name, value) in headers {
        if mentions_raw_placeholder(value.as_bytes()) && !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Every value of header `name`, in order: a template where it holds a placeholder, as it
/// is otherwise.
fn header_values(headers: &HeaderMap, name: &HeaderName) -> Result<Vec<Header>> {
    let part = format!("header `{name}`");
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        if !mentions_raw_placeholder(value.as_bytes()) {
            values.push(Header::Literal {
                name: name.clone(),
                value: value.clone(),
            });
            continue;
        }
        let text = std::str::from_utf8(value.as_bytes()).map_err(|_| Error::InvalidRequest {
            part: part.clone(),
            reason: "the value holds a placeholder but is not UTF-8".to_owned(),
        })?;
        values.push(Header::Template {
            name: name.clone(),
            part: part.clone(),
            template: parse_in(text, &part)?,
        });
    }
    Ok(values)
}

/// The user and password of a single `Authorization: Basic …` header whose decoded
/// `user:password` holds a placeholder (reqwest's `basic_auth` encodes it before any
/// middleware runs).
fn basic_auth(headers: &HeaderMap) -> Result<Option<(Template, Template)>> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let prefix = b"basic ";
    if bytes.len() < prefix.len() || !bytes[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return Ok(None);
    }
    // The decoded text may hold a literal password: it is wiped when dropped.
    let Ok(decoded) = STANDARD.decode(bytes[prefix.len()..].trim_ascii()) else {
        return Ok(None);
    };
    let decoded = Zeroizing::new(decoded);
    if !mentions_raw_placeholder(&decoded) {
        return Ok(None);
    }
    let invalid = |reason: &str| Error::InvalidRequest {
        part: "basic auth".to_owned(),
        reason: reason.to_owned(),
    };
    let text = std::str::from_utf8(&decoded)
        .map_err(|_| invalid("the credentials hold a placeholder but are not UTF-8"))?;
    // The first `:` that is not a placeholder's own ends the user name.
    let colon = text
        .match_indices(':')
        .map(|(at, _)| at)
        .find(|&at| !text[..at].ends_with("<<vault"))
        .ok_or_else(|| invalid("the credentials are not `user:password`"))?;
    Ok(Some((
        parse_in(&text[..colon], "basic auth user")?,
        parse_in(&text[colon + 1..], "basic auth password")?,
    )))
}

/// The body's template, escaped as `kind` says (`content_type` is what `kind` comes from).
fn body(bytes: &[u8], kind: BodyKind, content_type: Option<&HeaderValue>) -> Result<Body> {
    let text = || {
        std::str::from_utf8(bytes).map_err(|_| Error::InvalidRequest {
            part: "body".to_owned(),
            reason: "the body holds a placeholder but is not UTF-8".to_owned(),
        })
    };
    Ok(match kind {
        BodyKind::Json => {
            let text = text()?;
            let template = parse_in(text, "JSON body")?;
            check_json(&template)?;
            Body::Json(template)
        }
        BodyKind::Form => Body::FormText(parse_in(&decode(text()?), "form body")?),
        BodyKind::Text => Body::Raw(parse_in(text()?, "text body")?),
        BodyKind::Other => {
            let shown = match content_type.map(HeaderValue::to_str) {
                None => "no Content-Type".to_owned(),
                Some(Ok(text)) => format!("Content-Type `{text}`"),
                Some(Err(_)) => "a Content-Type that is not text".to_owned(),
            };
            return Err(Error::InvalidRequest {
                part: "body".to_owned(),
                reason: format!(
                    "the body holds a placeholder but has {shown}: placeholders are rendered in JSON, form and text/* bodies only, where their escaping is known"
                ),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escape::values;

    fn parsed(request: reqwest::Request) -> Parsed {
        match read(request).unwrap() {
            Read::Parsed(parsed) => parsed,
            Read::Untouched(request) => panic!("untouched: {request:?}"),
        }
    }

    #[test]
    fn content_types_pick_the_escaping() {
        for (content_type, kind) in [
            ("application/json", BodyKind::Json),
            ("Application/JSON; charset=utf-8", BodyKind::Json),
            ("application/vnd.api+json", BodyKind::Json),
            ("application/x-www-form-urlencoded", BodyKind::Form),
            ("text/plain", BodyKind::Text),
            ("TEXT/csv; header=present", BodyKind::Text),
            ("text/", BodyKind::Other),
            ("application/xml", BodyKind::Other),
            ("application/jsonx", BodyKind::Other),
        ] {
            let value = HeaderValue::from_static(content_type);
            assert_eq!(BodyKind::of(Some(&value)), kind, "{content_type}");
        }
        assert_eq!(BodyKind::of(None), BodyKind::Other);
    }

    #[test]
    fn requests_without_placeholders_are_untouched() {
        let client = reqwest::Client::new();
        let request = client
            .post("https://api.example.com/vault/x?vault=1")
            .header("X-Vault", "vault: <<not")
            .basic_auth("user", Some("vault:pw"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body("%3Cvault%3E")
            .build()
            .unwrap();
        assert!(matches!(read(request).unwrap(), Read::Untouched(_)));
    }

    #[test]
    fn rendered_headers_are_sensitive_and_the_rest_stays() {
        let client = reqwest::Client::new();
        let request = client
            .get("https://api.example.com/")
            .header("X-Key", "<<vault:k>>")
            .header("X-Multi", "first")
            .header("X-Multi", "k=<<vault:k>>")
            .header("Accept", "text/plain")
            .timeout(std::time::Duration::from_secs(7))
            .build()
            .unwrap();
        let parsed = parsed(request);
        assert_eq!(parsed.names(), ["k"]);
        let request = parsed
            .render(&client, &values(&[("k", "v")]).get())
            .unwrap();
        let headers = request.headers();
        assert_eq!(headers["x-key"], "v");
        assert!(headers["x-key"].is_sensitive());
        let multi: Vec<_> = headers.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["first", "k=v"], "values keep their order");
        assert!(!multi[0].is_sensitive() && multi[1].is_sensitive());
        assert!(!headers["accept"].is_sensitive());
        assert_eq!(request.timeout(), Some(&std::time::Duration::from_secs(7)));
        assert!(!format!("{request:?}").contains("k=v"));
    }

    #[test]
    fn basic_auth_splits_at_the_first_colon_outside_a_placeholder() {
        let client = reqwest::Client::new();
        for (user, password, expected) in [
            ("<<vault:u>>", "<<vault:p>>", "U:P:1"),
            ("name", "<<vault:p>>", "name:P:1"),
            ("<<vault:u>>", "literal:colon", "U:literal:colon"),
        ] {
            let request = client
                .get("https://api.example.com/")
                .basic_auth(user, Some(password))
                .build()
                .unwrap();
            let parsed = parsed(request);
            let request = parsed
                .render(&client, &values(&[("u", "U"), ("p", "P:1")]).get())
                .unwrap();
            let header = request.headers()["authorization"].clone();
            assert!(header.is_sensitive());
            let encoded = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
            assert_eq!(STANDARD.decode(encoded).unwrap(), expected.as_bytes());
        }
    }

    #[test]
    fn placeholders_in_the_user_info_are_refused() {
        let mut request = reqwest::Request::new(
            reqwest::Method::GET,
            "https://user:%3C%3Cvault:pw%3E%3E@api.example.com/?k=%3C%3Cvault:k%3E%3E"
                .parse()
                .unwrap(),
        );
        let err = read(request).err().unwrap();
        assert!(err.to_string().contains("user info"), "{err}");
        request = reqwest::Request::new(
            reqwest::Method::GET,
            "https://api.example.com/%3C%3Cvault:k".parse().unwrap(),
        );
        let err = read(request).err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidTemplate, "{err}");
    }
}
