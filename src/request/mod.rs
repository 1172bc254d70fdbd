//! RequestTemplate: an HTTP request with placeholders, and the escaping each part needs.

mod parsed;

use std::sync::{Arc, OnceLock};

use reqwest::Method;
use reqwest::header::HeaderName;
use url::Url;

use crate::error::{Error, Result};
use crate::escape::{check_json, literal_header_value};
use crate::template::{Template, parse_in};

#[cfg(feature = "middleware")]
pub(crate) use parsed::Base;
pub(crate) use parsed::{Body, Header, Parsed, UrlParts};

/// A request with `<<vault:NAME>>` placeholders, and the escaping each part needs.
///
/// | part | placeholder rules | a value is inserted… |
/// |---|---|---|
/// | URL scheme, host, port | none allowed: the host is known before any secret is fetched | — |
/// | URL path and query | anywhere | percent-encoded: it stays one path segment or query component; a path segment it would make `.` or `..` is refused |
/// | extra query pairs | in names and values | form-urlencoded |
/// | header values | anywhere (names are literal) | as it is; CR, LF and NUL are refused; the header is marked sensitive |
/// | basic auth | in user and password | as `base64(user:password)` |
/// | bearer token | anywhere | as `Bearer <value>` |
/// | JSON body | only inside JSON strings | JSON-escaped |
/// | form body | in names and values | form-urlencoded |
/// | raw body | anywhere | as it is |
///
/// Put secrets in headers or bodies rather than in the URL: the URL of a
/// `reqwest::Request` (and `reqwest::Response`) shows in its own `Debug` output, and servers
/// and proxies log it.
///
/// Building never fails, as with reqwest's builders: a malformed part is reported by
/// [`Vault::render_request`](crate::Vault::render_request) and
/// [`Vault::send`](crate::Vault::send). Each part is parsed once, on first use.
///
/// ```
/// use request_vault::{RequestTemplate, Vault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), request_vault::Error> {
/// let vault = Vault::new();
/// vault.set("api-key", "k&y=1/2")?;
/// let template = RequestTemplate::new(reqwest::Method::GET, "https://api.example.com/v1/<<vault:api-key>>?key=<<vault:api-key>>")
///     .header("Authorization", "Bearer <<vault:api-key>>");
/// let request = vault.render_request(&reqwest::Client::new(), &template).await?;
/// assert_eq!(request.url().as_str(), "https://api.example.com/v1/k%26y%3D1%2F2?key=k%26y%3D1%2F2");
/// assert!(request.headers()["authorization"].is_sensitive());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    basic_auth: Option<(String, String)>,
    bearer: Option<String>,
    body: Option<BodySource>,
    parsed: OnceLock<std::result::Result<Arc<Parsed>, Failure>>,
}

#[derive(Debug, Clone)]
enum BodySource {
    Raw(String),
    Json(String),
    Form(Vec<(String, String)>),
}

impl RequestTemplate {
    /// A request for `method` and `url`. The URL may hold placeholders in its path and
    /// query, not in its scheme, host or port.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        RequestTemplate {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            basic_auth: None,
            bearer: None,
            body: None,
            parsed: OnceLock::new(),
        }
    }

    fn changed(mut self) -> Self {
        self.parsed = OnceLock::new();
        self
    }

    /// Appends a query pair; both may hold placeholders (form-urlencoded).
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self.changed()
    }

    /// Adds a header; the value may hold placeholders, the name may not.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self.changed()
    }

    /// Sets `Authorization: Basic base64(user:password)`; both may hold placeholders.
    #[must_use]
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self.changed()
    }

    /// Sets `Authorization: Bearer <token>`; the token may hold placeholders.
    #[must_use]
    pub fn bearer_auth(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(token.into());
        self.changed()
    }

    /// Sets a raw body; values are inserted as they are.
    #[must_use]
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(BodySource::Raw(body.into()));
        self.changed()
    }

    /// Sets a JSON body (and `Content-Type: application/json`); placeholders may only stand
    /// inside JSON strings, where values are JSON-escaped.
    #[must_use]
    pub fn json(mut self, json: impl Into<String>) -> Self {
        self.body = Some(BodySource::Json(json.into()));
        self.changed()
    }

    /// Sets a form body (and `Content-Type: application/x-www-form-urlencoded`); names and
    /// values may hold placeholders.
    #[must_use]
    pub fn form<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.body = Some(BodySource::Form(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ));
        self.changed()
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The parsed parts, parsed on first use.
    pub(crate) fn parsed(&self) -> Result<&Parsed> {
        match self.parsed.get_or_init(|| self.parse().map(Arc::new)) {
            Ok(parsed) => Ok(parsed),
            Err(failure) => Err(failure.clone().into_error()),
        }
    }

    fn parse(&self) -> std::result::Result<Parsed, Failure> {
        let (origin, url) = split_url(&self.url)?;
        let pairs = |pairs: &[(String, String)],
                     what: &str|
         -> std::result::Result<Vec<(Template, Template)>, Failure> {
            pairs
                .iter()
                .map(|(k, v)| {
                    let part = format!("{what} `{k}`");
                    Ok((parse_in(k, &part)?, parse_in(v, &part)?))
                })
                .collect::<Result<_>>()
                .map_err(Failure::from)
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let part = format!("header `{name}`");
            if name.contains("<<vault:") {
                return Err(Failure::request(
                    part,
                    "placeholders are not allowed in header names",
                ));
            }
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Failure::request(part.clone(), "not a valid header name"))?;
            let template = parse_in(value, &part)?;
            // A value without placeholders is made once, here, and shared by every render.
            headers.push(if template.is_literal() {
                Header::Literal {
                    value: literal_header_value(template.literal(), &part)?,
                    name: header,
                }
            } else {
                Header::Template {
                    name: header,
                    part,
                    template,
                }
            });
        }
        let basic = match &self.basic_auth {
            Some((user, password)) => Some((
                parse_in(user, "basic auth user")?,
                parse_in(password, "basic auth password")?,
            )),
            None => None,
        };
        let bearer = self
            .bearer
            .as_deref()
            .map(|t| parse_in(t, "bearer token"))
            .transpose()?;
        let body = match &self.body {
            None => None,
            Some(BodySource::Raw(text)) => Some(Body::Raw(parse_in(text, "body")?)),
            Some(BodySource::Json(text)) => {
                let template = parse_in(text, "JSON body")?;
                check_json(&template)?;
                Some(Body::Json(template))
            }
            Some(BodySource::Form(form)) => Some(Body::Form(pairs(form, "form field")?)),
        };
        let parsed = Parsed {
            method: self.method.clone(),
            origin,
            url,
            query: pairs(&self.query, "query parameter")?,
            headers,
            basic,
            bearer,
            body,
            base: None,
            names: Vec::new(),
        };
        Ok(parsed.indexed())
    }
}

/// Parses the literal origin (`scheme://host:port`) of an absolute URL, once, and the
/// templates of its path, query and fragment, which are rendered into that parsed origin.
fn split_url(url: &str) -> std::result::Result<(Url, UrlParts), Failure> {
    let part = "URL".to_owned();
    let Some(scheme_end) = url.find("://") else {
        return Err(Failure::request(
            part,
            "the URL must be absolute (scheme://host/…)",
        ));
    };
    let scheme = &url[..scheme_end];
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return Err(Failure::request(
            part,
            "only http:// and https:// URLs can be sent",
        ));
    }
    let authority_start = scheme_end + 3;
    // As the URL standard reads an http(s) URL: `\` ends the authority like `/`.
    let authority_end = url[authority_start..]
        .find(['/', '\\', '?', '#'])
        .map_or(url.len(), |at| authority_start + at);
    let origin = &url[..authority_end];
    if origin.contains("<<vault:") {
        return Err(Failure::request(
            part,
            "placeholders are not allowed in the scheme, host or port: the host must be known before any secret is fetched",
        ));
    }
    let parsed = Url::parse(origin).map_err(|e| {
        Failure::request(
            part.clone(),
            format!("`{origin}` is not a valid URL origin: {e}"),
        )
    })?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Failure::request(part, "the URL has no host"));
    }
    // Placeholders hold no `?` or `#`, so the literal ones split the rest for good.
    let rest = &url[authority_end..];
    let query_start = rest
        .find(['?', '#'])
        .filter(|&at| rest.as_bytes()[at] == b'?');
    let fragment_start = rest.find('#');
    let path_end = query_start.or(fragment_start).unwrap_or(rest.len());
    let template = |from: usize, to: usize| {
        parse_in(&rest[from..to], "URL").map_err(|e| Failure::shift(e, authority_end + from))
    };
    let parts = UrlParts {
        path: template(0, path_end)?,
        query: query_start
            .map(|at| template(at + 1, fragment_start.unwrap_or(rest.len())))
            .transpose()?,
        fragment: fragment_start
            .map(|at| template(at + 1, rest.len()))
            .transpose()?,
    };
    Ok((parsed, parts))
}

/// A parse failure kept by the template (errors are not `Clone`; this is).
#[derive(Debug, Clone)]
enum Failure {
    Template {
        part: String,
        offset: usize,
        reason: &'static str,
    },
    Request {
        part: String,
        reason: String,
    },
}

impl Failure {
    fn request(part: String, reason: impl Into<String>) -> Self {
        Failure::Request {
            part,
            reason: reason.into(),
        }
    }

    /// Moves a template error's offset by `by` bytes (for templates cut out of a larger one).
    fn shift(error: Error, by: usize) -> Self {
        match Failure::from(error) {
            Failure::Template {
                part,
                offset,
                reason,
            } => Failure::Template {
                part,
                offset: offset + by,
                reason,
            },
            other => other,
        }
    }

    fn into_error(self) -> Error {
        match self {
            Failure::Template {
                part,
                offset,
                reason,
            } => Error::InvalidTemplate {
                part,
                offset,
                reason,
            },
            Failure::Request { part, reason } => Error::InvalidRequest { part, reason },
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidTemplate {
                part,
                offset,
                reason,
            } => Failure::Template {
                part,
                offset,
                reason,
            },
            Error::InvalidRequest { part, reason } => Failure::Request { part, reason },
            other => Failure::Request {
                part: "template".to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
