//! The provider door's HTTP policy: every request a backend makes to its server goes
//! through here, so that what a hostile or misconfigured server can do is decided once.
//!
//! - **Clients** ([`HttpOptions`]): timeouts, a CA bundle, a `User-Agent` of
//!   `request-vault/<version>`, the caller's own `reqwest::Client` when given, and a
//!   short-timeout variant for metadata endpoints. A client the crate builds never follows a
//!   redirect.
//! - **Redirects**: a provider never follows one. A 3xx answer is an error naming the origin
//!   it points to. A caller's client may follow redirects, so requests are sent in a shape it
//!   cannot re-send: a body it cannot clone (so a 307 or 308 is not followed) and credentials
//!   only in `Authorization` (which reqwest drops on any hop to another origin or scheme). A
//!   request that was redirected anyway is refused when its answer comes back.
//! - **Answer size**: answers are read as a stream up to
//!   [`MAX_RESPONSE_BYTES`](super::MAX_RESPONSE_BYTES) (or the provider's own cap), and the
//!   read stops as soon as the cap is passed.
//! - **Scrubbing**: server text copied into an error has every credential the provider
//!   holds replaced ([`Scrubber`]).
//! - **Retries**: transient failures are retried per the provider's
//!   [`RetryPolicy`](super::RetryPolicy), a request that must run once only when the backend
//!   surely did not act on it, and every request within the one deadline of the call.
//!
//! Errors made here name the provider and what was asked ("the request to Vault at
//! https://…"), never a URL with a query, a header value or a body that could hold a secret.

mod body;
mod client;
mod options;
mod reply;
mod scrub;

pub(crate) use body::OnceBody;
pub(crate) use client::{Http, Outgoing, is_transient_status};
pub use options::HttpOptions;
pub(crate) use reply::{Reply, bearer, parse_json, sensitive_header, status_kind};
pub(crate) use scrub::Scrubber;

#[cfg(test)]
mod tests;
