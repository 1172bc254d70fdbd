//! [`FaultProxy`]: an HTTP/1.1 proxy on 127.0.0.1 that injects transient faults between a
//! provider and its server, and [`check_faults`], the conformance cases that use it.
//!
//! The proxy forwards each request to the upstream server over a fresh connection, unless a
//! queued [`Fault`] answers it first: an error status with an optional `Retry-After`, a
//! dropped connection, or a delay before forwarding. It speaks plain HTTP only (point it at
//! a loopback stand-in or emulator), reads no more than it must, and stops when dropped.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::{Case, Expected};
use crate::provider::{ExternalProvider, ProviderErrorKind};

/// The most a request's head or body may hold before the proxy gives up on it.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

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
            None => {}
        }
        let response = tokio::time::timeout(UPSTREAM_TIMEOUT, forward(&request, upstream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream timed out"))??;
        client.write_all(&response).await?;
        if !is_framed(&response) {
            return Ok(()); // delimited by close: the client must see the close
        }
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

/// Where a message without `Content-Length` or chunked encoding ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// A request: it has no body.
    Empty,
    /// A response: at the close of the connection.
    ToEnd,
}

/// Reads one whole HTTP message (head, then a `Content-Length` or chunked body) from
/// `stream`, keeping what follows in `buffer`. `None` when the peer closed cleanly.
async fn read_message(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    unframed: Body,
) -> io::Result<Option<Vec<u8>>> {
    let head_end = loop {
        if let Some(i) = find(buffer, b"\r\n\r\n") {
            break i + 4;
        }
        if !fill(stream, buffer).await? {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.split("\r\n")
            .find_map(|line| line.strip_prefix(name).map(str::trim).map(str::to_owned))
    };
    let end = if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        loop {
            if let Some(i) = find(&buffer[head_end..], b"0\r\n\r\n")
                .filter(|&i| i == 0 || buffer[head_end + i - 2..head_end + i] == *b"\r\n")
            {
                break head_end + i + 5;
            }
            if !fill(stream, buffer).await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    } else if let Some(length) = header("content-length:") {
        let length: usize = length
            .parse()
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        if length > MAX_MESSAGE {
            return Err(io::ErrorKind::InvalidData.into());
        }
        while buffer.len() < head_end + length {
            if !fill(stream, buffer).await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        head_end + length
    } else if unframed == Body::ToEnd {
        while fill(stream, buffer).await? {}
        buffer.len()
    } else {
        head_end
    };
    let rest = buffer.split_off(end);
    Ok(Some(std::mem::replace(buffer, rest)))
}

/// Reads more into `buffer`; false at a clean end of stream.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<bool> {
    if buffer.len() > MAX_MESSAGE {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let mut chunk = [0u8; 8192];
    let read = stream.read(&mut chunk).await?;
    buffer.extend_from_slice(&chunk[..read]);
    Ok(read > 0)
}

/// Whether a response says where it ends (`Content-Length` or chunked) rather than ending
/// at the close of the connection.
fn is_framed(response: &[u8]) -> bool {
    let head_end = find(response, b"\r\n\r\n").unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    head.contains("\r\ncontent-length:") || head.contains("\r\ntransfer-encoding: chunked")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
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
