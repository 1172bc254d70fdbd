//! A request's parts, parsed into templates, and their assembly into a `reqwest::Request`.
//!
//! [`RequestTemplate`](super::RequestTemplate) parses into a [`Parsed`]; so does a request
//! that the middleware reads (feature `middleware`), which also carries the parts it sends
//! as they came ([`Base`]). Rendering, sending and following redirects then run the same
//! code for both.

use std::sync::Mutex;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use url::Url;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::escape::{self, Part, Values};
use crate::template::{Template, release};

/// The templates of a URL's path, query (after `?`) and fragment (after `#`).
#[derive(Debug)]
pub(crate) struct UrlParts {
    pub(crate) path: Template,
    pub(crate) query: Option<Template>,
    pub(crate) fragment: Option<Template>,
}

/// One header of a parsed request.
#[derive(Debug)]
pub(crate) enum Header {
    /// A value rendered from a template; `part` names the header in errors (as written).
    Template {
        name: HeaderName,
        part: String,
        template: Template,
    },
    /// A value sent as it is: a header without placeholders (made once, when the request is
    /// parsed), or one of several values of a header whose other values hold placeholders,
    /// kept in its place among them.
    Literal {
        name: HeaderName,
        value: HeaderValue,
    },
}

/// A request body with placeholders.
#[derive(Debug)]
pub(crate) enum Body {
    /// Values inserted as they are.
    Raw(Template),
    /// Values JSON-escaped inside JSON strings.
    Json(Template),
    /// Form pairs, each name and value form-urlencoded.
    Form(Vec<(Template, Template)>),
    /// Form-urlencoded text as a client wrote it: values form-urlencoded where they stand.
    #[cfg_attr(
        not(feature = "middleware"),
        allow(dead_code, reason = "only requests read by the middleware have them")
    )]
    FormText(Template),
}

/// What a request read by the middleware sends as it came: its version, timeout, the
/// headers without placeholders and a body without any. Rendered parts are added to a copy.
#[derive(Debug)]
pub(crate) struct Base {
    /// The request with its rendered parts taken out (and no streaming body).
    request: reqwest::Request,
    /// A streaming body: it can be sent once, and never re-sent.
    stream: Mutex<Option<reqwest::Body>>,
    streaming: bool,
}

impl Base {
    /// `request` without the parts rendered from templates, and its streaming body if any.
    #[cfg_attr(
        not(feature = "middleware"),
        allow(dead_code, reason = "only the middleware reads requests")
    )]
    pub(crate) fn new(request: reqwest::Request, stream: Option<reqwest::Body>) -> Self {
        Base {
            request,
            streaming: stream.is_some(),
            stream: Mutex::new(stream),
        }
    }

    /// A copy of the request for `url`, with the streaming body moved into it.
    fn start(&self, url: Url) -> Result<reqwest::Request> {
        let mut request = self
            .request
            .try_clone()
            .ok_or_else(|| Error::InvalidRequest {
                part: "body".to_owned(),
                reason: "the body cannot be copied".to_owned(),
            })?;
        *request.url_mut() = url;
        if self.streaming {
            let body = self
                .stream
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .ok_or_else(|| Error::InvalidRequest {
                    part: "body".to_owned(),
                    reason: "a streaming body can only be sent once".to_owned(),
                })?;
            *request.body_mut() = Some(body);
        }
        Ok(request)
    }
}

/// The parts of a request template, parsed.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) method: Method,
    /// Scheme, host and port: parsed once, checked against allowed domains, and the very
    /// value the rendered URL is built on.
    pub(crate) origin: Url,
    pub(crate) url: UrlParts,
    pub(crate) query: Vec<(Template, Template)>,
    pub(crate) headers: Vec<Header>,
    pub(crate) basic: Option<(Template, Template)>,
    pub(crate) bearer: Option<Template>,
    pub(crate) body: Option<Body>,
    /// What a request read by the middleware sends as it came.
    pub(crate) base: Option<Base>,
    /// Every distinct secret name, filled by [`indexed`](Self::indexed).
    pub(crate) names: Vec<String>,
}

impl Parsed {
    /// Fills in the secret names the parts use, and binds each part's template to them (so
    /// that a render finds values by position).
    pub(crate) fn indexed(mut self) -> Self {
        let names = self.collect_names();
        self.for_each_template(|template| template.bind(&names));
        self.names = names;
        self
    }

    /// Calls `visit` with each template of the request, to change it.
    fn for_each_template(&mut self, mut visit: impl FnMut(&mut Template)) {
        visit(&mut self.url.path);
        self.url.query.iter_mut().for_each(&mut visit);
        self.url.fragment.iter_mut().for_each(&mut visit);
        for (name, value) in &mut self.query {
            visit(name);
            visit(value);
        }
        for header in &mut self.headers {
            if let Header::Template { template, .. } = header {
                visit(template);
            }
        }
        if let Some((user, password)) = &mut self.basic {
            visit(user);
            visit(password);
        }
        self.bearer.iter_mut().for_each(&mut visit);
        match &mut self.body {
            Some(Body::Raw(t) | Body::Json(t) | Body::FormText(t)) => visit(t),
            Some(Body::Form(pairs)) => {
                for (name, value) in pairs {
                    visit(name);
                    visit(value);
                }
            }
            None => {}
        }
    }

    fn templates(&self) -> Vec<&Template> {
        let mut all = vec![&self.url.path];
        all.extend(self.url.query.iter());
        all.extend(self.url.fragment.iter());
        all.extend(self.query.iter().flat_map(|(k, v)| [k, v]));
        all.extend(self.headers.iter().filter_map(|header| match header {
            Header::Template { template, .. } => Some(template),
            Header::Literal { .. } => None,
        }));
        all.extend(self.basic.iter().flat_map(|(u, p)| [u, p]));
        all.extend(self.bearer.iter());
        match &self.body {
            Some(Body::Raw(t) | Body::Json(t) | Body::FormText(t)) => all.push(t),
            Some(Body::Form(pairs)) => all.extend(pairs.iter().flat_map(|(k, v)| [k, v])),
            None => {}
        }
        all
    }

    fn collect_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for template in self.templates() {
            for name in template.names() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// Every distinct secret name the request uses.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The scheme and host the request goes to, known before any secret is fetched.
    pub(crate) fn destination(&self) -> (&str, &str) {
        (
            self.origin.scheme(),
            self.origin.host_str().unwrap_or_default(),
        )
    }

    /// Whether the request can be rendered and sent again (a streaming body cannot).
    pub(crate) fn replayable(&self) -> bool {
        !self.base.as_ref().is_some_and(|base| base.streaming)
    }

    /// Builds the request from resolved values. Every secret byte is encoded by
    /// [`escape::encode`]; this only puts the parts together. `client` starts the request as
    /// it starts any (a user name and password in the URL become basic auth); the rendered
    /// parts then go straight into it, without a builder's moves.
    pub(crate) fn render(
        &self,
        client: &reqwest::Client,
        values: &Values<'_>,
    ) -> Result<reqwest::Request> {
        let url = self.render_url(values)?;
        let mut request = match &self.base {
            Some(base) => base.start(url)?,
            None => client
                .request(self.method.clone(), url)
                .build()
                .map_err(Error::http)?,
        };
        let headers = request.headers_mut();
        headers.reserve(self.headers.len() + 2);
        for header in &self.headers {
            match header {
                Header::Template {
                    name,
                    part,
                    template,
                } => {
                    let text = escape::encode(
                        Part::Header {
                            template,
                            part,
                            prefix: "",
                        },
                        values,
                    )?;
                    let value = escape::header_value(text, part, !template.is_literal())?;
                    headers.append(name, value);
                }
                Header::Literal { name, value } => {
                    headers.append(name, value.clone());
                }
            }
        }
        // One the request came with (a middleware's), or one of the headers given.
        let has_content_type = headers.contains_key(CONTENT_TYPE);
        let authorization = reqwest::header::AUTHORIZATION;
        if let Some((user, password)) = &self.basic {
            let text = escape::encode(Part::BasicAuth { user, password }, values)?;
            headers.append(
                &authorization,
                escape::header_value(text, "basic auth", true)?,
            );
        }
        if let Some(token) = &self.bearer {
            let part = Part::Header {
                template: token,
                part: "bearer token",
                prefix: "Bearer ",
            };
            let text = escape::encode(part, values)?;
            headers.append(
                &authorization,
                escape::header_value(text, "bearer token", !token.is_literal())?,
            );
        }
        let (body, content_type) = match &self.body {
            None => (None, None),
            Some(Body::Raw(template)) => (Some(escape::encode(Part::Raw(template), values)?), None),
            Some(Body::Json(template)) => (
                Some(escape::encode(Part::Json(template), values)?),
                Some("application/json"),
            ),
            Some(Body::Form(pairs)) => (
                Some(escape::encode(Part::Pairs(pairs), values)?),
                Some("application/x-www-form-urlencoded"),
            ),
            Some(Body::FormText(template)) => (
                Some(escape::encode(Part::FormText(template), values)?),
                Some("application/x-www-form-urlencoded"),
            ),
        };
        if let Some(content_type) = content_type.filter(|_| !has_content_type) {
            headers.append(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(body) = body {
            // The text moves into the request without a copy; what reqwest holds is the
            // caller's from here.
            *request.body_mut() = Some(release(body).into_bytes().into());
        }
        Ok(request)
    }

    /// Each header that carries secrets, with the names of those secrets: what a redirect
    /// to another origin must check. Known from the templates alone.
    pub(crate) fn secret_headers(&self) -> Vec<(HeaderName, Vec<String>)> {
        let mut secret = Vec::new();
        for header in &self.headers {
            if let Header::Template { name, template, .. } = header
                && !template.is_literal()
            {
                secret.push((name.clone(), template.names().to_vec()));
            }
        }
        let authorization = reqwest::header::AUTHORIZATION;
        if let Some((user, password)) = &self.basic {
            let mut names = user.names().to_vec();
            names.extend(password.names().iter().cloned());
            secret.push((authorization.clone(), names));
        }
        if let Some(token) = &self.bearer {
            secret.push((authorization, token.names().to_vec()));
        }
        secret
    }

    /// The secrets the body carries.
    pub(crate) fn body_names(&self) -> Vec<String> {
        match &self.body {
            None => Vec::new(),
            Some(Body::Raw(t) | Body::Json(t) | Body::FormText(t)) => t.names().to_vec(),
            Some(Body::Form(pairs)) => {
                let mut names: Vec<String> = Vec::new();
                for name in pairs
                    .iter()
                    .flat_map(|(k, v)| k.names().iter().chain(v.names()))
                {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                names
            }
        }
    }

    /// Renders the path, query and fragment into the parsed origin: the URL sent is the one
    /// whose scheme and host were checked, whatever the values hold.
    pub(crate) fn render_url(&self, values: &Values<'_>) -> Result<Url> {
        let mut url = self.origin.clone();
        url.set_path(&escape::encode(Part::Path(&self.url.path), values)?);
        let query = self
            .url
            .query
            .as_ref()
            .map(|t| escape::encode(Part::Url(t), values))
            .transpose()?;
        let pairs = (!self.query.is_empty())
            .then(|| escape::encode(Part::Pairs(&self.query), values))
            .transpose()?;
        match (query, pairs) {
            (None, None) => {}
            (Some(text), None) | (None, Some(text)) => url.set_query(Some(&text)),
            (Some(query), Some(pairs)) => {
                let separator = if query.is_empty() { "" } else { "&" };
                let mut joined =
                    Zeroizing::new(String::with_capacity(query.len() + 1 + pairs.len()));
                joined.push_str(&query);
                joined.push_str(separator);
                joined.push_str(&pairs);
                url.set_query(Some(&joined));
            }
        }
        if let Some(fragment) = &self.url.fragment {
            url.set_fragment(Some(&escape::encode(Part::Url(fragment), values)?));
        }
        let same_origin = url.scheme() == self.origin.scheme()
            && url.host() == self.origin.host()
            && url.port() == self.origin.port();
        if !same_origin {
            return Err(Error::InvalidRequest {
                part: "URL".to_owned(),
                reason: "the rendered URL would leave the checked origin".to_owned(),
            });
        }
        Ok(url)
    }
}
