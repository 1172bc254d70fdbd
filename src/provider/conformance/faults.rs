//! [`FaultProxy`]: an HTTP/1.1 proxy on 127.0.0.1 that injects faults between a provider
//! and its server, and [`check_faults`], the transient-fault cases that use it.
//!
//! The proxy forwards each request to the upstream server over a fresh connection, unless a
//! queued [`Fault`] answers it first: an error status with an optional `Retry-After`, a
//! dropped connection, a delay before forwarding, or the hostile answers of
//! [`check_hostile`](super::check_hostile) (a redirect, an endless body, an echo of the
//! request, absurd numbers). It speaks plain HTTP only (point it at a loopback stand-in or
//! emulator), reads no more than it must, and stops when dropped.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::case::{Case, Expected};
use super::wire::{Body, find, is_framed, read_message, split};
use crate::provider::{ExternalProvider, ProviderErrorKind};

/// How long the proxy waits for an upstream answer before it drops the connection.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// One fault, met by the next request that reaches the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status (and `Retry-After: seconds` when given) and a small JSON body,
    /// keeping the connection open.
    Status {
        /// The status code, such as 503 or 429.
        status: u16,
        /// The `Retry-After` header in seconds, if any.
        retry_after: Option<u64>,
    },
    /// Close the connection without answering.
    Drop,
    /// Wait this long, then forward the request.
    Delay(Duration),
    /// Answer with this redirect status (301, 302, 303, 307, 308) and `Location: location`.
    Redirect {
        /// The status code.
        status: u16,
        /// Where the redirect points: another origin, such as a [`Sink`](super::Sink)'s URL.
        location: String,
    },
    /// Answer 200 with a body of `bytes` bytes of JSON-looking filler, sent until the client
    /// stops reading; with `Content-Length` when `declared`, else delimited by the close.
    Oversized {
        /// How long the body is.
        bytes: u64,
        /// Whether the answer says its length up front.
        declared: bool,
    },
    /// Answer with this status and a JSON error body that quotes the whole request (head and
    /// body) in the fields backends read their error text from, as a server that echoes its
    /// input would: whatever credential the request carried comes back in the error body.
    Echo {
        /// The status code, such as 400 or 403.
        status: u16,
    },
    /// Forward the request, then answer with every JSON number in the upstream's answer
    /// replaced by this one (`u64::MAX` as a lease, an `expires_in`, a version).
    Numbers(u64),
}

impl Fault {
    /// An error status without `Retry-After`.
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    /// An error status with `Retry-After: seconds`.
    pub fn retry_after(status: u16, seconds: u64) -> Self {
        Fault::Status {
            status,
            retry_after: Some(seconds),
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Fault>,
    requests: usize,
    /// Bytes of the last oversized answer written before the client stopped reading.
    oversized_sent: u64,
}

/// A fault-injecting HTTP proxy on 127.0.0.1 in front of an upstream server.
///
/// ```no_run
/// use request_vault::provider::conformance::{Fault, FaultProxy};
///
/// # async fn example(upstream: std::net::SocketAddr) -> std::io::Result<()> {
/// let proxy = FaultProxy::start(upstream).await?;
/// proxy.inject(Fault::retry_after(503, 0));
/// proxy.inject(Fault::Drop);
/// // Build the provider against proxy.url(): its next two requests fail, the third passes.
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: AbortHandle,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("queued", &self.queue.len())
            .field("requests", &self.requests)
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `upstream`.
    ///
    /// # Errors
    ///
    /// The I/O error of binding the port.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    // A connection that breaks ends quietly: the client sees it dropped.
                    let _ = serve(client, upstream, state).await;
                });
            }
        })
        .abort_handle();
        Ok(FaultProxy { addr, state, task })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a fault for the next request that reaches the proxy.
    pub fn inject(&self, fault: Fault) {
        self.lock().queue.push_back(fault);
    }

    /// Forgets the faults not met yet.
    pub fn clear(&self) {
        self.lock().queue.clear();
    }

    /// How many queued faults no request has met yet.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    /// How many requests reached the proxy, faulted or forwarded.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// How many bytes of the last [`Fault::Oversized`] answer the proxy could write before the
    /// client stopped reading (socket buffers included).
    pub fn oversized_sent(&self) -> u64 {
        self.lock().oversized_sent
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one client connection, request by request.
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    state: Arc<Mutex<State>>,
) -> io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_message(&mut client, &mut buffer, Body::Empty).await? else {
            return Ok(());
        };
        let fault = {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            state.requests += 1;
            state.queue.pop_front()
        };
        match fault {
            Some(Fault::Status {
                status,
                retry_after,
            }) => {
                let body = format!(r#"{{"message":"injected fault","status":{status}}}"#);
                let mut head = format!(
                    "HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    body.len()
                );
                if let Some(seconds) = retry_after {
                    head.push_str(&format!("retry-after: {seconds}\r\n"));
                }
                head.push_str("\r\n");
                client.write_all(head.as_bytes()).await?;
                client.write_all(body.as_bytes()).await?;
                continue;
            }
            Some(Fault::Drop) => return Ok(()),
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::Redirect { status, location }) => {
                let head = format!(
                    "HTTP/1.1 {status} Moved\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                );
                client.write_all(head.as_bytes()).await?;
                continue;
            }
            Some(Fault::Oversized { bytes, declared }) => {
                let sent = oversized(&mut client, bytes, declared).await;
                state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .oversized_sent = sent;
                return Ok(());
            }
            Some(Fault::Echo { status }) => {
                let body = echo(&request);
                let head = format!(
                    "HTTP/1.1 {status} Echo\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                client.write_all(head.as_bytes()).await?;
                client.write_all(&body).await?;
                continue;
            }
            Some(Fault::Numbers(number)) => {
                let response = upstream_answer(&request, upstream).await?;
                client.write_all(&with_numbers(&response, number)).await?;
                continue;
            }
            None => {}
        }
        let response = upstream_answer(&request, upstream).await?;
        client.write_all(&response).await?;
        if !is_framed(&response) {
            return Ok(()); // delimited by close: the client must see the close
        }
    }
}

/// The upstream's answer to `request`, within [`UPSTREAM_TIMEOUT`].
async fn upstream_answer(request: &[u8], upstream: SocketAddr) -> io::Result<Vec<u8>> {
    tokio::time::timeout(UPSTREAM_TIMEOUT, forward(request, upstream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream timed out"))?
}

/// Writes a 200 answer of `bytes` bytes of filler until done or the client stops reading;
/// how many bytes of it went out.
async fn oversized(client: &mut TcpStream, bytes: u64, declared: bool) -> u64 {
    let head = if declared {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {bytes}\r\n\r\n"
        )
    } else {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n".to_owned()
    };
    if client.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let chunk = [b' '; 64 * 1024];
    let mut sent = 0u64;
    while sent < bytes {
        let len = chunk
            .len()
            .min(usize::try_from(bytes - sent).unwrap_or(chunk.len()));
        // A client that stopped reading leaves the write blocked: give up after a while.
        match tokio::time::timeout(Duration::from_secs(5), client.write_all(&chunk[..len])).await {
            Ok(Ok(())) => sent += len as u64,
            _ => break,
        }
    }
    sent
}

/// A JSON error body quoting the whole `request`, in the fields the crate's backends read
/// their error text from (`errors`, `error.message`, `message`, `error_description`).
fn echo(request: &[u8]) -> Vec<u8> {
    let (head, body) = split(request);
    let text = format!("{head}{}", String::from_utf8_lossy(&body));
    serde_json::json!({
        "errors": [text],
        "error": {"code": "Echo", "message": text, "status": "INVALID_ARGUMENT"},
        "message": text,
        "error_description": text,
    })
    .to_string()
    .into_bytes()
}

/// `response` with every number in its JSON body replaced by `number` (and its length
/// fixed). A body that is not JSON is passed on as it is.
fn with_numbers(response: &[u8], number: u64) -> Vec<u8> {
    let (head, body) = split(response);
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return response.to_vec();
    };
    replace_numbers(&mut json, number);
    let body = json.to_string().into_bytes();
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if !lower.starts_with("content-length:") && !lower.starts_with("transfer-encoding:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

fn replace_numbers(value: &mut serde_json::Value, number: u64) {
    match value {
        serde_json::Value::Number(n) => *n = number.into(),
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| replace_numbers(v, number))
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| replace_numbers(v, number)),
        _ => {}
    }
}

/// Sends one request upstream with `Connection: close` and reads the answer to its end.
async fn forward(request: &[u8], upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let head_end = find(request, b"\r\n\r\n").map_or(request.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&request[..head_end]);
    let mut rewritten = String::with_capacity(head.len() + 20);
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("connection: close\r\n\r\n");
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(rewritten.as_bytes()).await?;
    server.write_all(&request[head_end..]).await?;
    let mut buffer = Vec::new();
    read_message(&mut server, &mut buffer, Body::ToEnd)
        .await?
        .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
}

/// The transient-fault cases, through `proxy` (which the provider must be built to reach):
/// a 503 with `Retry-After: 0`, a 500, and a dropped connection are each retried so that
/// `case` still resolves to its value; a run of 429 answers longer than any retry policy
/// ends in [`ProviderErrorKind::RateLimited`]. Build the provider with a
/// [`RetryPolicy`](crate::provider::RetryPolicy) of short waits and at least 3 attempts.
///
/// Returns a description of every failure (empty when the provider conforms).
pub async fn check_faults(
    provider: Arc<dyn ExternalProvider>,
    proxy: &FaultProxy,
    case: &Case,
) -> Vec<String> {
    let mut failures = Vec::new();
    let Expected::Value(expected) = &case.expected else {
        failures.push("check_faults needs a case that resolves to a value".to_owned());
        return failures;
    };
    let reference = case.reference.as_str();
    for (what, fault) in [
        ("a 503 with Retry-After: 0", Fault::retry_after(503, 0)),
        ("a 500", Fault::status(500)),
        ("a dropped connection", Fault::Drop),
    ] {
        provider.clear_cache();
        proxy.clear();
        proxy.inject(fault);
        let before = proxy.requests();
        match provider.resolve(reference).await {
            Ok(value) if value.expose_secret() == expected.expose_secret() => {}
            Ok(_) => failures.push(format!(
                "after {what}, `{reference}` resolved to another value"
            )),
            Err(e) => failures.push(format!(
                "{what} was not retried: resolving `{reference}` failed: {e}"
            )),
        }
        if proxy.pending() > 0 || proxy.requests() == before {
            failures.push(format!(
                "{what} was never met: the provider sent no request through the proxy"
            ));
        }
    }

    provider.clear_cache();
    proxy.clear();
    for _ in 0..64 {
        proxy.inject(Fault::retry_after(429, 0));
    }
    match provider.resolve(reference).await {
        Ok(_) => failures.push(format!(
            "`{reference}` resolved although every answer was a 429 (is the proxy in the way?)"
        )),
        Err(e) if e.kind() != ProviderErrorKind::RateLimited => failures.push(format!(
            "a run of 429 answers ended in {:?}, not RateLimited: {e}",
            e.kind()
        )),
        Err(e) if e.reference() != Some(reference) => failures.push(format!(
            "the rate-limit error of `{reference}` does not carry its reference"
        )),
        Err(_) => {}
    }
    proxy.clear();
    provider.clear_cache();
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn faults_are_met_in_order_then_requests_pass() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = upstream.accept().await {
                let mut buffer = Vec::new();
                if read_message(&mut socket, &mut buffer, Body::Empty)
                    .await
                    .ok()
                    .flatten()
                    .is_some()
                {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                }
            }
        });
        let proxy = FaultProxy::start(upstream_addr).await.unwrap();
        proxy.inject(Fault::retry_after(503, 7));
        proxy.inject(Fault::Drop);
        let client = reqwest::Client::new();
        let first = client.get(proxy.url()).send().await.unwrap();
        assert_eq!(first.status(), 503);
        assert_eq!(first.headers()["retry-after"], "7");
        assert!(client.get(proxy.url()).send().await.is_err(), "dropped");
        let third = client
            .post(proxy.url())
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(third.text().await.unwrap(), "ok");
        assert_eq!(proxy.requests(), 3);
        assert_eq!(proxy.pending(), 0);
    }
}
