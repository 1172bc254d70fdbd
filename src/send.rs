//! Rendering templates with the vault's secrets, and sending requests safely.
//!
//! Every render checks the allowed domains of the secrets it uses against the request's
//! host before fetching any of them, then resolves them all at once (one batch per
//! provider). [`Vault::send`] follows redirects itself: each hop is checked again, and a
//! secret only crosses to another origin (in a header or a body) when its allowed domains
//! name the new host, and never from HTTPS down to plain HTTP.

use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderName, LOCATION, PROXY_AUTHORIZATION,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use url::Url;

use crate::domain;
use crate::error::{Error, Result};
use crate::escape::Values;
use crate::request::{Parsed, RequestTemplate};
use crate::resolve::all_found;
use crate::template::Template;
use crate::vault::{Entry, Vault};

/// How many redirects [`Vault::send`] follows.
pub const MAX_REDIRECTS: usize = 10;

impl Vault {
    /// Renders plain text: each placeholder is replaced by its secret's value, as it is.
    ///
    /// The text is parsed once: the vault keeps the parsed templates of the texts it renders
    /// (a template holds the text and secret names, never a value), so that rendering a text
    /// again costs a look-up (the whole text compared) and the render. At most 256 are kept,
    /// holding at most 2 MiB of text, those used least recently dropped first; a text over
    /// 256 KiB is parsed every time.
    ///
    /// ```
    /// use request_vault::{ExposeSecret, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("api-key", "s3cr3t")?;
    /// let text = vault.render("Bearer <<vault:api-key>>").await?;
    /// assert_eq!(text.expose_secret(), "Bearer s3cr3t");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidTemplate`] with the byte offset of a malformed placeholder;
    /// - the errors of [`resolve_all`](Self::resolve_all), every failing name at once (an
    ///   unknown name fails the whole render: the placeholder text is never returned).
    pub async fn render(&self, text: &str) -> Result<SecretString> {
        let template = self.inner.templates.get_or_parse(text)?;
        self.render_template(&template).await
    }

    /// Renders a template parsed beforehand (parse once, render many).
    ///
    /// ```
    /// use request_vault::{ExposeSecret, Template, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("user", "alice")?;
    /// let greeting = Template::parse("Hello, <<vault:user>>!")?;
    /// let text = vault.render_template(&greeting).await?;
    /// assert_eq!(text.expose_secret(), "Hello, alice!");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`render`](Self::render), parsing aside.
    pub async fn render_template(&self, template: &Template) -> Result<SecretString> {
        self.render_plain(template).await
    }

    /// Renders a request template into a [`reqwest::Request`] for `client`.
    ///
    /// Allowed domains are checked before any secret is fetched.
    ///
    /// ```
    /// use request_vault::{RequestTemplate, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("token", "t0k3n")?;
    /// vault.set_allowed_domains("token", ["api.example.com"])?;
    /// let template = RequestTemplate::new(reqwest::Method::GET, "https://api.example.com/items")
    ///     .bearer_auth("<<vault:token>>");
    /// let request = vault.render_request(&reqwest::Client::new(), &template).await?;
    /// assert_eq!(request.headers()["authorization"], "Bearer t0k3n");
    /// assert!(request.headers()["authorization"].is_sensitive());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidTemplate`] / [`Error::InvalidRequest`] for a malformed part (a
    ///   placeholder in the host, a placeholder outside a JSON string, a bad header name);
    /// - [`Error::DomainNotAllowed`] for each secret not allowed for the URL's host;
    /// - the errors of [`resolve_all`](Self::resolve_all);
    /// - [`Error::ValueNotAllowed`] when a value cannot go where it is put (CR, LF or NUL in
    ///   a header; a URL path segment it would make `.` or `..`), naming the secret and the
    ///   part, never the value.
    pub async fn render_request(
        &self,
        client: &reqwest::Client,
        template: &RequestTemplate,
    ) -> Result<reqwest::Request> {
        self.render_parsed(client, template.parsed()?).await
    }

    /// Renders `parsed` for `client`: the allowed domains of its secrets are checked before
    /// any of them is fetched, then every value is resolved at once. A request whose secrets
    /// are all local or cached is rendered under the read lock that checked them, local
    /// values as they are (no copy made), nothing to await.
    async fn render_parsed(
        &self,
        client: &reqwest::Client,
        parsed: &Parsed,
    ) -> Result<reqwest::Request> {
        let (scheme, host) = parsed.destination();
        let names = parsed.names();
        {
            let state = self.read();
            let entries: Vec<Option<&Entry>> = names
                .iter()
                .map(|name| state.entries.get(name.as_str()))
                .collect();
            check_entries(names, &entries, scheme, host)?;
            let found = self.warm(&state, entries);
            if let Some(values) = all_found(&found) {
                return parsed.render(client, &Values::new(names, values));
            }
        }
        let outcomes = self.resolve_names(names).await;
        let mut values = Vec::with_capacity(outcomes.len());
        let mut errors = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(value) => values.push(value),
                Err(error) => errors.push(error),
            }
        }
        Error::gather(errors)?;
        parsed.render(client, &Values::new(names, values.iter().collect()))
    }

    /// Checks every secret among `names` that the vault holds against a request to `host`
    /// over `scheme`; all violations are reported together. Fetches nothing.
    fn check_domains(&self, names: &[String], scheme: &str, host: &str) -> Result<()> {
        let state = self.read();
        let entries: Vec<Option<&Entry>> = names
            .iter()
            .map(|name| state.entries.get(name.as_str()))
            .collect();
        check_entries(names, &entries, scheme, host)
    }

    /// Those of `names` that may not follow a redirect from `current` to `next`, another
    /// origin: all of them on a downgrade from HTTPS to HTTP, else those whose allowed
    /// domains do not name the new host explicitly.
    fn barred<'a>(&self, names: &'a [String], current: &Url, next: &Url) -> Vec<&'a str> {
        let downgrade = current.scheme() == "https" && next.scheme() != "https";
        let host = next.host_str().unwrap_or_default();
        let state = self.read();
        names
            .iter()
            .filter(|name| {
                downgrade
                    || !state.entries.get(name.as_str()).is_some_and(|e| {
                        domain::names_host(&e.allowed_domains, next.scheme(), host)
                    })
            })
            .map(String::as_str)
            .collect()
    }

    /// The client [`send`](Self::send) uses: one that follows no redirect itself.
    pub(crate) fn client(&self) -> Result<&reqwest::Client> {
        if let Some(client) = self.inner.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::http)?;
        Ok(self.inner.client.get_or_init(|| client))
    }

    /// Renders and sends a request, following up to [`MAX_REDIRECTS`] redirects itself.
    ///
    /// On each hop every secret the request uses is checked against the new host (fail
    /// closed). On a hop to another origin, `Authorization`, `Cookie` and every header that
    /// carried a secret are dropped, unless every secret in that header is explicitly allowed
    /// for the new host; a body carrying secrets (a 307 or 308 re-sends it) is only sent on
    /// when each of them is explicitly allowed there, and the redirect is refused otherwise.
    /// A hop from HTTPS to plain HTTP carries no secret at all: secret headers are dropped
    /// and a body with secrets is refused. 303 (and 301/302 after a POST) become a GET
    /// without a body. If the final response is 401 or 403 and the request used linked
    /// secrets served from the cache, those are fetched again once and the request is sent
    /// once more, so that a rotated secret recovers by itself.
    ///
    /// Secrets belong in headers and bodies rather than in the URL: `reqwest::Request`'s and
    /// `reqwest::Response`'s own `Debug` print the URL, and servers log it.
    ///
    /// ```no_run
    /// use request_vault::{RequestTemplate, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("token", "t0k3n")?;
    /// vault.set_allowed_domains("token", ["api.example.com"])?;
    /// let template = RequestTemplate::new(reqwest::Method::GET, "https://api.example.com/items")
    ///     .bearer_auth("<<vault:token>>");
    /// let response = vault.send(&template).await?;
    /// println!("{}", response.status());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`render_request`](Self::render_request), [`Error::Http`] when sending
    /// fails, [`Error::TooManyRedirects`], and [`Error::DomainNotAllowed`] for a redirect to
    /// a host a secret is not allowed for, or that a body's secret would reach without being
    /// explicitly allowed there (the host is written `http://host` for a downgrade from
    /// HTTPS). [`Error::InvalidRequest`] when the vault's client followed a redirect to
    /// another origin by itself (one given to
    /// [`VaultBuilder::client`](crate::VaultBuilder::client) without
    /// `reqwest::redirect::Policy::none()`).
    pub async fn send(&self, template: &RequestTemplate) -> Result<reqwest::Response> {
        let parsed = template.parsed()?;
        self.send_parsed(self.client()?, parsed).await
    }

    /// What [`send`](Self::send) does once the request is parsed, for every way a request
    /// comes in (a [`RequestTemplate`], or a request read by the middleware): domains checked,
    /// values fetched and rendered, redirects followed hop by hop, one refetch after a
    /// 401/403 when the request used cached linked values and can be sent again.
    pub(crate) async fn send_parsed(
        &self,
        client: &reqwest::Client,
        parsed: &Parsed,
    ) -> Result<reqwest::Response> {
        let cached = self.cached_keys(parsed.names());
        let request = self.render_parsed(client, parsed).await?;
        let response = self.follow(client, parsed, request).await?;
        if matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) && !cached.is_empty()
            && parsed.replayable()
        {
            tracing::debug!(
                status = response.status().as_u16(),
                secrets = cached.len(),
                "refused with cached secrets: fetching them again and resending once"
            );
            self.forget(&cached);
            let request = self.render_parsed(client, parsed).await?;
            return self.follow(client, parsed, request).await;
        }
        Ok(response)
    }

    async fn follow(
        &self,
        client: &reqwest::Client,
        parsed: &Parsed,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response> {
        // What a hop to another origin checks, worked out on the first such hop.
        let mut secret_headers: Option<Vec<(HeaderName, Vec<String>)>> = None;
        for hop in 0..=MAX_REDIRECTS {
            let replay = request.try_clone();
            let current = request.url().clone();
            let method = request.method().clone();
            let response = client.execute(request).await.map_err(Error::http)?;
            if response.url().origin() != current.origin() {
                // Too late for this hop, but never silent: the vault's client is meant to
                // leave every redirect to this loop.
                return Err(Error::InvalidRequest {
                    part: "HTTP client".to_owned(),
                    reason: "the client followed a redirect to another origin by itself; give the vault a client built with reqwest::redirect::Policy::none(), so that each hop is checked".to_owned(),
                });
            }
            let status = response.status();
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok());
            let (Some(location), true) = (location, status.is_redirection()) else {
                return Ok(response);
            };
            if status == StatusCode::NOT_MODIFIED || status == StatusCode::MULTIPLE_CHOICES {
                return Ok(response);
            }
            if hop == MAX_REDIRECTS {
                return Err(Error::TooManyRedirects { max: MAX_REDIRECTS });
            }
            let next = current.join(location).map_err(|e| Error::InvalidRequest {
                part: "redirect".to_owned(),
                reason: format!("the Location header is not a valid URL: {e}"),
            })?;
            let host = next.host_str().unwrap_or_default().to_owned();
            self.check_domains(parsed.names(), next.scheme(), &host)?;
            let Some(mut next_request) = replay else {
                // A streaming body cannot be replayed; bodies rendered here always can.
                return Ok(response);
            };
            *next_request.url_mut() = next.clone();
            let becomes_get = status == StatusCode::SEE_OTHER
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && method == Method::POST);
            if becomes_get {
                *next_request.method_mut() = if method == Method::HEAD {
                    Method::HEAD
                } else {
                    Method::GET
                };
                *next_request.body_mut() = None;
                next_request.headers_mut().remove(CONTENT_TYPE);
                next_request.headers_mut().remove(CONTENT_LENGTH);
            }
            if next.origin() != current.origin() {
                if next_request.body().is_some() {
                    // A 307/308 re-sends the body: its secrets go only where they may.
                    let shown = if current.scheme() == "https" && next.scheme() != "https" {
                        format!("{}://{host}", next.scheme())
                    } else {
                        host.clone()
                    };
                    Error::gather(
                        self.barred(&parsed.body_names(), &current, &next)
                            .into_iter()
                            .map(|name| Error::DomainNotAllowed {
                                name: name.to_owned(),
                                host: shown.clone(),
                            })
                            .collect(),
                    )?;
                }
                let secret_headers = secret_headers.get_or_insert_with(|| parsed.secret_headers());
                let headers = next_request.headers_mut();
                for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
                    let carries_allowed_secrets = secret_headers.iter().any(|(h, names)| {
                        *h == name && self.barred(names, &current, &next).is_empty()
                    });
                    if !carries_allowed_secrets {
                        headers.remove(&name);
                    }
                }
                secret_headers.retain(|(name, names)| {
                    let keep = self.barred(names, &current, &next).is_empty();
                    if !keep {
                        headers.remove(name);
                    }
                    keep
                });
            }
            tracing::debug!(status = status.as_u16(), host = %host, "following a redirect");
            request = next_request;
        }
        Err(Error::TooManyRedirects { max: MAX_REDIRECTS })
    }
}

/// Checks the entries of `names` (`entries[i]` that of `names[i]`, if the vault holds it)
/// against a request to `host` over `scheme`; all violations are reported together.
fn check_entries(
    names: &[String],
    entries: &[Option<&Entry>],
    scheme: &str,
    host: &str,
) -> Result<()> {
    let secrets = names.iter().zip(entries).map(|(name, entry)| {
        (
            name.as_str(),
            entry.map(|entry| entry.allowed_domains.as_slice()),
        )
    });
    domain::check(secrets, scheme, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn rendered_texts_keep_their_templates_and_never_a_value() {
        use futures_util::FutureExt;
        use secrecy::ExposeSecret;

        let vault = Vault::new();
        vault.set("token", "s3cr3t-value").unwrap();
        let text = r"Bearer <<vault:token>> and \<<vault:literal>>";
        for value in ["s3cr3t-value", "r0tated-value"] {
            vault.set("token", value).unwrap();
            let rendered = vault.render(text).now_or_never().unwrap().unwrap();
            // A kept template renders the value of now, never one it saw.
            assert_eq!(
                rendered.expose_secret(),
                format!("Bearer {value} and <<vault:literal>>")
            );
        }
        let kept = vault.inner.templates.kept();
        assert_eq!(kept.len(), 1, "parsed once, kept once");
        for (text, literal, names) in kept {
            for secret in ["s3cr3t", "r0tated"] {
                assert!(!text.contains(secret) && !literal.contains(secret));
            }
            assert_eq!(names, ["token"]);
        }
        let err = vault.render("<<vault:bad name>>").now_or_never().unwrap();
        assert!(err.is_err());
        assert_eq!(
            vault.inner.templates.kept().len(),
            1,
            "a failed parse is not kept"
        );
    }

    #[test]
    fn nothing_secret_crosses_to_plain_http() {
        let vault = Vault::new();
        vault.set("bound", "b").unwrap();
        vault
            .set_allowed_domains("bound", ["api.example.com"])
            .unwrap();
        vault.set("free", "f").unwrap();
        let names = ["bound".to_owned(), "free".to_owned()];
        let https = url("https://api.example.com/a");
        // Another origin: only a secret whose domains name the host may follow.
        let other = url("https://api.example.com:8443/b");
        assert_eq!(vault.barred(&names, &https, &other), ["free"]);
        // HTTPS to HTTP: none, even one bound to that host with no scheme.
        let plain = url("http://api.example.com/b");
        assert_eq!(vault.barred(&names, &https, &plain), ["bound", "free"]);
        // HTTP to HTTPS is no downgrade.
        assert_eq!(vault.barred(&names, &plain, &https), ["free"]);
    }
}
