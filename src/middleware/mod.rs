//! [`VaultMiddleware`]: `<<vault:NAME>>` placeholders rendered into the requests of a
//! [`reqwest_middleware`] client, with the guarantees of [`Vault::send`].
//!
//! Build the client as usual and add the middleware; then write placeholders where the
//! secrets go, in the URL's path and query, in header values and in the body:
//!
//! ```no_run
//! use request_vault::Vault;
//! use request_vault::middleware::VaultMiddleware;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let vault = Vault::new();
//! vault.set("api-key", "s3cr3t")?;
//! vault.set_allowed_domains("api-key", ["api.example.com"])?;
//!
//! let client = reqwest_middleware::ClientBuilder::new(
//!         reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?)
//!     .with(VaultMiddleware::new(vault.clone()))
//!     .build();
//! client.get("https://api.example.com/v1/items?key=<<vault:api-key>>") // reqwest encodes it as %3C%3Cvault:…%3E%3E
//!     .header("X-Api-Key", "<<vault:api-key>>")
//!     .send().await?;
//! # Ok(()) }
//! ```
//!
//! # What is rendered, and how
//!
//! | part | a value is inserted… |
//! |---|---|
//! | URL path | percent-encoded, as one segment; a segment that would read `.` or `..` is refused |
//! | URL query and fragment | percent-encoded, as one component |
//! | header values | as it is; CR, LF and NUL are refused; the header is marked sensitive |
//! | basic auth (`RequestBuilder::basic_auth`) | as `base64(user:password)` |
//! | JSON body (`application/json`, `…+json`) | JSON-escaped, inside JSON strings only |
//! | form body (`application/x-www-form-urlencoded`) | form-urlencoded |
//! | `text/*` body | as it is |
//!
//! reqwest has parsed the URL before a middleware sees it, so a placeholder there arrives
//! percent-encoded (`%3C%3Cvault:NAME%3E%3E`, the colon also as `%3A` from a form
//! serializer); both forms are recognised. A literal `<<vault:` is written `\<<vault:` as in
//! templates, in a URL path as `%5C<<vault:` (the URL parser turns a raw `\` into `/` there).
//! A placeholder in a body of any other type, in a body that is not UTF-8, or outside a
//! JSON string is an error: the placeholder is never sent. A streaming body is sent as it
//! is, unread.
//!
//! # Where the request goes
//!
//! A request with no secret in it (none, or only `\<<vault:` literals) goes on through the
//! rest of the middleware chain and the client, as it would without this middleware.
//!
//! A request that carries secrets is sent as [`Vault::send`] sends it, through the vault's
//! own client ([`VaultBuilder::client`](crate::VaultBuilder::client); set TLS roots,
//! proxies and DNS overrides there), not through the middleware after this one nor the
//! client the chain was built on. That client's redirect policy is out of the
//! middleware's sight, and a client that follows redirects (reqwest's default) re-sends
//! every custom header, and a 307/308's body, to whatever origin a server names; so the
//! secrets never go near it. Instead, every guarantee of [`Vault::send`] holds:
//!
//! - each secret's allowed domains are checked against the host before anything is
//!   fetched, and an unknown name fails the request, listing every unknown name;
//! - redirects are followed hop by hop: a secret only crosses to another origin when its
//!   allowed domains name that host, and never from HTTPS down to HTTP;
//! - after a 401 or 403, linked values served from the cache are fetched again and the
//!   request is sent once more (unless its body is a stream, which cannot be re-sent).
//!
//! Middleware added before this one sees the placeholders, never the values: a logging
//! middleware there logs no secret.
//!
//! # Errors
//!
//! Errors are [`reqwest_middleware::Error::Middleware`] around the crate's [`Error`]; a
//! request that fails in the middleware is not sent:
//!
//! ```
//! # use request_vault::{Error, ErrorKind, Vault};
//! # use request_vault::middleware::VaultMiddleware;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//! #     .with(VaultMiddleware::new(Vault::new()))
//! #     .build();
//! let err = client.get("https://api.example.com/?key=<<vault:missing>>").send().await.unwrap_err();
//! let reqwest_middleware::Error::Middleware(err) = err else { panic!("{err}") };
//! let err = err.downcast_ref::<Error>().unwrap();
//! assert_eq!(err.kind(), ErrorKind::NotFound);
//! # }
//! ```

mod encoded;
mod read;

use reqwest_middleware::{Middleware, Next};

use crate::error::Error;
use crate::escape::Values;
use crate::vault::Vault;
use read::{Read, read};

/// A [`reqwest_middleware::Middleware`] that renders `<<vault:NAME>>` placeholders in each
/// request's URL path and query, header values and UTF-8 body, with the guarantees of
/// [`Vault::send`]; see the [module](self) for what is rendered where and how requests
/// that carry secrets are sent.
///
/// ```
/// use request_vault::Vault;
/// use request_vault::middleware::VaultMiddleware;
///
/// let vault = Vault::new();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(VaultMiddleware::new(vault))
///     .build();
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct VaultMiddleware {
    vault: Vault,
}

impl VaultMiddleware {
    /// A middleware that renders placeholders with `vault`'s secrets (a handle: the vault
    /// itself is shared, not copied).
    pub fn new(vault: Vault) -> Self {
        VaultMiddleware { vault }
    }

    /// Renders and sends `request`, or hands it on when it carries no secret.
    async fn handle_request<'a>(
        &self,
        request: reqwest::Request,
        extensions: &'a mut http::Extensions,
        next: Next<'a>,
    ) -> Result<reqwest_middleware::Result<reqwest::Response>, Error> {
        let parsed = match read(request)? {
            Read::Untouched(request) => return Ok(next.run(request, extensions).await),
            Read::Parsed(parsed) => parsed,
        };
        let client = self.vault.client()?;
        if parsed.names().is_empty() {
            // Only `\<<vault:` literals: nothing secret, so the chain sends it.
            let request = parsed.render(client, &Values::new(&[], Vec::new()))?;
            return Ok(next.run(request, extensions).await);
        }
        Ok(Ok(self.vault.send_parsed(client, &parsed).await?))
    }
}

#[crate::async_trait]
impl Middleware for VaultMiddleware {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        self.handle_request(request, extensions, next)
            .await
            .unwrap_or_else(|err| Err(reqwest_middleware::Error::middleware(err)))
    }
}
