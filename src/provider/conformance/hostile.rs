//! [`check_hostile`]: the provider under a hostile server. A redirect to another origin
//! (which must receive nothing), an answer larger than any cap, a server that echoes the
//! request's credentials in an error body, and absurd numbers where the backend sends
//! lifetimes. [`Sink`] is the other origin; [`Faults`] is whatever can make the backend
//! misbehave ([`FaultProxy`] for an HTTP backend, a backend's own stand-in otherwise).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use super::case::{Case, Expected, Options};
use super::faults::{Fault, FaultProxy};
use super::wire::{Body, read_message};
use crate::provider::ExternalProvider;

/// How long one hostile case may take before the provider is said to hang.
const PATIENCE: Duration = Duration::from_secs(60);

/// Slack over the cap for bytes in flight (socket buffers) when a provider stops reading an
/// endless answer.
const IN_FLIGHT: u64 = 8 * 1024 * 1024;

/// What can make a provider's backend misbehave on its next exchange.
pub trait Faults: Send + Sync {
    /// Queues `fault` for the provider's next exchange with its backend. Returns `false`
    /// when this backend cannot play it (a command-line tool cannot redirect): the check
    /// then skips that case.
    fn inject(&self, fault: Fault) -> bool;

    /// Forgets the faults not met yet.
    fn clear(&self);

    /// How many bytes of the last [`Fault::Oversized`] answer went out before the provider
    /// stopped reading, when the backend can tell.
    fn oversized_sent(&self) -> Option<u64> {
        None
    }
}

impl Faults for FaultProxy {
    fn inject(&self, fault: Fault) -> bool {
        FaultProxy::inject(self, fault);
        true
    }

    fn clear(&self) {
        FaultProxy::clear(self);
    }

    fn oversized_sent(&self) -> Option<u64> {
        Some(FaultProxy::oversized_sent(self))
    }
}

/// A server on another origin (127.0.0.1, a port of its own) that records every request
/// reaching it and answers each with a small 200: where the hostile redirects point.
#[derive(Debug)]
pub struct Sink {
    addr: std::net::SocketAddr,
    requests: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
    task: AbortHandle,
}

impl Sink {
    /// Starts a sink on a free port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// The I/O error of binding the port.
    pub async fn start() -> io::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (Arc::clone(&requests), Arc::clone(&received));
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (count, log) = (Arc::clone(&count), Arc::clone(&log));
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    while let Ok(Some(request)) =
                        read_message(&mut socket, &mut buffer, Body::Empty).await
                    {
                        count.fetch_add(1, Ordering::SeqCst);
                        log.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend_from_slice(&request);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                        if socket.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        })
        .abort_handle();
        Ok(Sink {
            addr,
            requests,
            received,
            task,
        })
    }

    /// The sink's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests reached the sink.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every byte the sink received, requests one after another.
    pub fn received(&self) -> Vec<u8> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The hostile-server cases, through `faults` (which the provider must be built to reach)
/// with `sink` as the other origin, for `case` (a reference that resolves to a value):
///
/// - a 301, 302, 303, 307 and 308 to the sink each fail the resolve, and the sink receives
///   nothing at all;
/// - an endless answer, with and without `Content-Length`, fails the resolve within a minute,
///   and the provider stops reading soon after its cap ([`Options::max_response_bytes`]);
/// - an error body echoing the request (status 400 and 403) fails the resolve with an error
///   whose `Display`, `Debug` and sources show none of [`Options::credential`] and no value;
/// - every number of an answer replaced by `u64::MAX`, then `2^63 - 1`, panics nothing, in
///   the provider or in a [`Vault`](crate::Vault) caching what it returns.
///
/// A case the backend cannot play ([`Faults::inject`] returns `false`) is skipped. Returns a
/// description of every failure (empty when the provider conforms).
pub async fn check_hostile(
    provider: Arc<dyn ExternalProvider>,
    faults: &dyn Faults,
    sink: &Sink,
    case: &Case,
    options: &Options,
) -> Vec<String> {
    let mut failures = Vec::new();
    let Expected::Value(expected) = &case.expected else {
        failures.push("check_hostile needs a case that resolves to a value".to_owned());
        return failures;
    };
    let secrets: Vec<String> = options
        .credentials
        .iter()
        .chain([expected])
        .map(|s| s.expose_secret().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let run = Run {
        provider: &provider,
        faults,
        reference: &case.reference,
    };
    failures.extend(redirects(&run, sink, &secrets).await);
    failures.extend(oversized(&run, options).await);
    failures.extend(echoes(&run, &secrets).await);
    failures.extend(numbers(&run).await);
    faults.clear();
    provider.clear_cache();
    failures
}

/// One provider, its faults and the reference under test.
struct Run<'a> {
    provider: &'a Arc<dyn ExternalProvider>,
    faults: &'a dyn Faults,
    reference: &'a str,
}

impl Run<'_> {
    /// Injects `fault` into a fresh state and resolves; `None` when the backend cannot play
    /// the fault, `Some(Err(..))` for a resolve that outlived [`PATIENCE`].
    async fn resolve_under(
        &self,
        fault: Fault,
    ) -> Option<Result<Result<secrecy::SecretString, crate::ProviderError>, ()>> {
        self.provider.clear_cache();
        self.faults.clear();
        if !self.faults.inject(fault) {
            return None;
        }
        Some(
            tokio::time::timeout(PATIENCE, self.provider.resolve(self.reference))
                .await
                .map_err(drop),
        )
    }
}

async fn redirects(run: &Run<'_>, sink: &Sink, secrets: &[String]) -> Vec<String> {
    let mut failures = Vec::new();
    for status in [301, 302, 303, 307, 308] {
        let before = sink.requests();
        let location = format!("{}/elsewhere", sink.url());
        let outcome = run
            .resolve_under(Fault::Redirect { status, location })
            .await;
        match outcome {
            None => continue,
            Some(Err(())) => failures.push(format!("a {status} redirect made the resolve hang")),
            Some(Ok(Ok(_))) => failures.push(format!(
                "`{}` resolved through a {status} redirect to another origin",
                run.reference
            )),
            Some(Ok(Err(_))) => {}
        }
        if sink.requests() > before {
            failures.push(format!(
                "a {status} redirect sent {} request(s) to another origin",
                sink.requests() - before
            ));
        }
    }
    let received = String::from_utf8_lossy(&sink.received()).into_owned();
    if secrets.iter().any(|s| received.contains(s.as_str())) {
        failures.push("another origin received a credential or a value".to_owned());
    }
    failures
}

async fn oversized(run: &Run<'_>, options: &Options) -> Vec<String> {
    let mut failures = Vec::new();
    let bytes = 1 << 30;
    for declared in [true, false] {
        let how = if declared {
            "with its Content-Length"
        } else {
            "delimited by the close"
        };
        match run
            .resolve_under(Fault::Oversized { bytes, declared })
            .await
        {
            None => continue,
            Some(Err(())) => failures.push(format!("a 1 GiB answer {how} made the resolve hang")),
            Some(Ok(Ok(_))) => failures.push(format!("a 1 GiB answer {how} resolved to a value")),
            Some(Ok(Err(_))) => {}
        }
        let bound = (options.max_response_bytes as u64).saturating_add(IN_FLIGHT);
        if let Some(sent) = run.faults.oversized_sent()
            && sent > bound
        {
            failures.push(format!(
                "the provider read {sent} bytes of a 1 GiB answer {how}, past its cap of {}",
                options.max_response_bytes
            ));
        }
    }
    failures
}

async fn echoes(run: &Run<'_>, secrets: &[String]) -> Vec<String> {
    let mut failures = Vec::new();
    for status in [400, 403] {
        match run.resolve_under(Fault::Echo { status }).await {
            None => {}
            Some(Err(())) => failures.push(format!("an echoing {status} made the resolve hang")),
            Some(Ok(Ok(_))) => failures.push(format!(
                "`{}` resolved although the server answered {status}",
                run.reference
            )),
            Some(Ok(Err(e))) => {
                let mut shown = format!("{e} {e:?}");
                let mut source = std::error::Error::source(&e);
                while let Some(inner) = source {
                    shown.push_str(&format!(" {inner} {inner:?}"));
                    source = inner.source();
                }
                if secrets.iter().any(|s| shown.contains(s.as_str())) {
                    failures.push(format!(
                        "the error of an echoing {status} shows a credential or a value"
                    ));
                }
            }
        }
    }
    failures
}

async fn numbers(run: &Run<'_>) -> Vec<String> {
    let mut failures = Vec::new();
    for number in [u64::MAX, i64::MAX as u64] {
        // In a task of its own, so that a panic is seen rather than suffered.
        run.provider.clear_cache();
        run.faults.clear();
        if !run.faults.inject(Fault::Numbers(number)) {
            return failures;
        }
        let provider = Arc::clone(run.provider);
        let reference = run.reference.to_owned();
        let alone = tokio::spawn(async move {
            let _ = tokio::time::timeout(PATIENCE, provider.resolve(&reference)).await;
        });
        if alone.await.is_err() {
            failures.push(format!("an answer whose numbers are all {number} panicked"));
        }
        run.provider.clear_cache();
        run.faults.clear();
        run.faults.inject(Fault::Numbers(number));
        let vault = crate::Vault::new();
        vault.add_shared_provider(Arc::clone(run.provider));
        if vault.link("hostile", run.reference).is_err() {
            failures.push(format!("Vault::link refused `{}`", run.reference));
            return failures;
        }
        for attempt in ["first", "second"] {
            let vault = vault.clone();
            let resolved = tokio::spawn(async move {
                let _ = tokio::time::timeout(PATIENCE, vault.resolve("hostile")).await;
            });
            if resolved.await.is_err() {
                failures.push(format!(
                    "through a vault, the {attempt} resolve after an answer whose numbers are all {number} panicked"
                ));
            }
        }
    }
    failures
}
