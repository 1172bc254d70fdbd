//! The core's integration tests, one module per capability, through the public API only:
//! secrets and links, cache control, requests and redirects, redaction, the vault file,
//! references, the middleware, child processes and the built-in `env://` and `file://`
//! providers. A module whose capability is behind a cargo feature is built with it.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod cache_control;
mod layout;
mod local_stores;
#[cfg(feature = "middleware")]
mod middleware;
mod redact;
#[cfg(feature = "onepassword")]
mod reference;
#[cfg(feature = "onepassword")]
mod reference_api;
#[cfg(feature = "file")]
mod reliability;
mod request;
#[cfg(feature = "file")]
mod run;
#[cfg(feature = "file")]
mod store;
mod vault;
mod vault_faults;
