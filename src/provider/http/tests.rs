//! The door's policy against scripted loopback servers: redirects (with the crate's client
//! and with a caller's client that follows them), the answer cap, scrubbing, and when a
//! request is sent again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;
use zeroize::Zeroizing;

use super::{HttpOptions, Outgoing, is_transient_status};
use crate::provider::{ProviderErrorKind, RetryPolicy};

/// What a scripted server does with one request.
#[derive(Clone)]
enum Answer {
    /// A whole HTTP answer, written as it is.
    Raw(String),
    /// Close the connection without answering.
    Drop,
    /// A 200 answer of this many filler bytes, written until the client stops reading.
    Endless(u64),
}

/// A loopback server answering requests from a script (the last answer repeats), keeping
/// every request it read.
struct Server {
    url: Url,
    requests: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
}

impl Server {
    async fn start(script: Vec<Answer>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (log, counter) = (Arc::clone(&requests), Arc::clone(&count));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = vec![0u8; 64 * 1024];
                let Ok(read) = socket.read(&mut buffer).await else {
                    continue;
                };
                let request = String::from_utf8_lossy(&buffer[..read]).into_owned();
                log.lock().unwrap().push(request);
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let answer = script[n.min(script.len() - 1)].clone();
                match answer {
                    Answer::Raw(text) => {
                        let _ = socket.write_all(text.as_bytes()).await;
                    }
                    Answer::Drop => drop(socket),
                    Answer::Endless(bytes) => {
                        let head = "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n";
                        let _ = socket.write_all(head.as_bytes()).await;
                        let chunk = [b'x'; 64 * 1024];
                        let mut sent = 0;
                        while sent < bytes && socket.write_all(&chunk).await.is_ok() {
                            sent += chunk.len() as u64;
                        }
                    }
                }
            }
        });
        Server {
            url,
            requests,
            count,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

fn ok(body: &str) -> Answer {
    Answer::Raw(format!(
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn redirect(status: u16, to: &Url) -> Answer {
    Answer::Raw(format!(
        "HTTP/1.1 {status} Moved\r\nlocation: {to}stolen\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    ))
}

const TOKEN: &str = "door-test-token-1234";
const BODY_SECRET: &str = "secret-id-in-the-body";

fn request(method: reqwest::Method, url: &Url) -> Outgoing {
    let request = Outgoing::new(method, url.clone(), "the test server")
        .bearer("test", &SecretString::from(TOKEN))
        .unwrap();
    request.body(
        "application/json",
        Zeroizing::new(format!(r#"{{"secret_id":"{BODY_SECRET}"}}"#).into_bytes()),
    )
}

fn quick() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(2))
}

#[tokio::test]
async fn the_crates_client_follows_no_redirect() {
    let elsewhere = Server::start(vec![ok("{}")]).await;
    for status in [301, 302, 303, 307, 308] {
        let server = Server::start(vec![redirect(status, &elsewhere.url)]).await;
        let http = HttpOptions::new().build("test", quick()).unwrap();
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let error = http
                .send(&request(method.clone(), &server.url))
                .await
                .unwrap_err();
            assert_eq!(error.kind(), ProviderErrorKind::Protocol);
            let origin = elsewhere.url.origin().ascii_serialization();
            assert!(error.message().contains(&origin), "{status} {method}: {error}");
            assert!(!error.message().contains("stolen"), "{error}");
        }
    }
    assert_eq!(elsewhere.count(), 0, "another origin received a request");
}

#[tokio::test]
async fn a_callers_following_client_carries_no_credential_or_body_elsewhere() {
    let elsewhere = Server::start(vec![ok("{}")]).await;
    for status in [301, 302, 303, 307, 308] {
        let server = Server::start(vec![redirect(status, &elsewhere.url)]).await;
        let http = HttpOptions::new()
            .client(reqwest::Client::new())
            .build("test", quick())
            .unwrap();
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let error = http
                .send(&request(method.clone(), &server.url))
                .await
                .unwrap_err();
            assert_eq!(error.kind(), ProviderErrorKind::Protocol, "{status} {method}");
        }
        // A GET without a body is not followed either.
        let bare = Outgoing::get(server.url.clone(), "the test server")
            .bearer("test", &SecretString::from(TOKEN))
            .unwrap();
        assert!(http.send(&bare).await.is_err());
    }
    // reqwest turns a 303 (and a 301 or 302 of a POST) into a GET without the body and
    // without `Authorization`: those five bare requests (POST 301, 302, 303, GET 303 twice)
    // reach the other origin, carrying nothing of the provider's, and their answers are
    // refused. Nothing else does.
    for seen in elsewhere.requests() {
        assert!(!seen.contains(TOKEN), "{seen}");
        assert!(!seen.contains(BODY_SECRET), "{seen}");
        assert!(seen.starts_with("GET "), "{seen}");
    }
    assert_eq!(elsewhere.count(), 5, "{:?}", elsewhere.requests());
}

#[tokio::test]
async fn answers_stop_at_the_cap() {
    let endless = Server::start(vec![Answer::Endless(1 << 30)]).await;
    let declared = Server::start(vec![Answer::Raw(
        "HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\nxx".to_owned(),
    )])
    .await;
    let within = Server::start(vec![ok(&"y".repeat(4096))]).await;
    let http = HttpOptions::new()
        .max_response_bytes(1024 * 1024)
        .build("test", RetryPolicy::never())
        .unwrap();
    for server in [&endless, &declared] {
        let error = http
            .send(&Outgoing::get(server.url.clone(), "the test server"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ProviderErrorKind::Protocol);
        assert!(error.message().contains("1048576 bytes"), "{error}");
        assert!(error.message().contains("max_response_bytes"), "{error}");
    }
    let reply = http
        .send(&Outgoing::get(within.url.clone(), "the test server"))
        .await
        .unwrap();
    assert_eq!(reply.body.len(), 4096);
}

#[tokio::test]
async fn server_text_in_errors_is_scrubbed() {
    let echo = format!(r#"{{"errors":["bad token {TOKEN}"]}}"#);
    let server = Server::start(vec![Answer::Raw(format!(
        "HTTP/1.1 503 Unavailable\r\ncontent-length: {}\r\n\r\n{echo}",
        echo.len()
    ))])
    .await;
    let http = HttpOptions::new().build("test", RetryPolicy::never()).unwrap();
    http.scrubber().add(&SecretString::from(TOKEN));
    let request = request(reqwest::Method::GET, &server.url);
    let error = http
        .call(&request, |reply| {
            is_transient_status(reply.status)
                .then(|| reply.error("test", std::str::from_utf8(&reply.body).unwrap()))
        })
        .await
        .unwrap_err();
    assert!(!format!("{error} {error:?}").contains(TOKEN), "{error}");
    assert!(error.message().contains("[credential]"), "{error}");
}

#[tokio::test]
async fn a_request_that_must_run_once_is_not_sent_again_after_a_lost_reply() {
    let server = Server::start(vec![Answer::Drop, ok("{}")]).await;
    let http = HttpOptions::new().build("test", quick()).unwrap();
    let once = request(reqwest::Method::POST, &server.url);
    let error = http.call(&once, |_| None).await.unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unavailable);
    assert_eq!(server.count(), 1, "the login was sent again after its reply was lost");

    // An idempotent one is retried.
    let server = Server::start(vec![Answer::Drop, ok("{}")]).await;
    let again = request(reqwest::Method::POST, &server.url).idempotent();
    http.call(&again, |_| None).await.unwrap();
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn a_request_that_must_run_once_is_retried_when_it_surely_did_not_run() {
    // Refused with 503: the server did not act on it.
    let server = Server::start(vec![
        Answer::Raw("HTTP/1.1 503 Sealed\r\ncontent-length: 0\r\n\r\n".to_owned()),
        ok("{}"),
    ])
    .await;
    let http = HttpOptions::new().build("test", quick()).unwrap();
    let once = request(reqwest::Method::POST, &server.url);
    let reply = http
        .call(&once, |reply| {
            is_transient_status(reply.status).then(|| reply.error("test", ""))
        })
        .await
        .unwrap();
    assert!(reply.is_success());
    assert_eq!(server.count(), 2);

    // Nobody listening: the connection failed, nothing was sent.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        url
    };
    let start = tokio::time::Instant::now();
    let error = http
        .call(&request(reqwest::Method::POST, &closed), |_| None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Unavailable);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn nested_retries_share_one_deadline() {
    let outer = RetryPolicy::default()
        .max_attempts(100)
        .initial_backoff(Duration::from_secs(1))
        .max_backoff(Duration::from_secs(1))
        .max_elapsed(Duration::from_secs(10));
    let inner_calls = AtomicUsize::new(0);
    let start = tokio::time::Instant::now();
    let _ = outer
        .run(|| async {
            // A token fetch inside the call, with a far longer limit of its own.
            RetryPolicy::default()
                .max_attempts(100)
                .initial_backoff(Duration::from_secs(1))
                .max_backoff(Duration::from_secs(1))
                .max_elapsed(Duration::from_secs(3600))
                .run(|| async {
                    inner_calls.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(crate::ProviderError::new(
                        "test",
                        ProviderErrorKind::Unavailable,
                        "down",
                    ))
                })
                .await
        })
        .await;
    assert!(start.elapsed() <= Duration::from_secs(11), "{:?}", start.elapsed());
    // Waits of 0.5 to 1 s (jitter) within the 10 s deadline.
    assert!(inner_calls.load(Ordering::SeqCst) <= 21);
}

#[tokio::test]
async fn a_framed_body_keeps_its_one_content_type() {
    let server = Server::start(vec![ok("{}")]).await;
    let http = HttpOptions::new().build("test", quick()).unwrap();
    let request = Outgoing::post(server.url.clone(), "the test server")
        .header(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("text/plain"),
        )
        .framed_body(
            reqwest::header::HeaderValue::from_str("application/x-amz-json-1.1").unwrap(),
            Zeroizing::new(b"{}".to_vec()),
        );
    assert!(http.send(&request).await.unwrap().is_success());
    let seen = server.requests().concat().to_ascii_lowercase();
    assert_eq!(seen.matches("content-type:").count(), 1, "{seen}");
    assert!(seen.contains("content-type: application/x-amz-json-1.1"), "{seen}");
    assert!(seen.ends_with("\r\n\r\n{}"), "{seen}");
}
