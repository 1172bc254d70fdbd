//! moto, the AWS emulator, in server mode on a free loopback port, and a counting,
//! fault-injecting HTTP proxy to put in front of it.
//!
//! moto runs in a child Python process that exits when this process does (it watches its
//! stdin, which closes then) and after five minutes in any case, so nothing outlives a run.
//! Without Python and moto the tests print why and skip; `REQUEST_VAULT_REQUIRE_EXTERNAL=1`
//! turns that into a failure.

// Shared by the tests and the bench, which each use a part.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "AKIAMOTOTESTKEY00001";
pub const SECRET_ACCESS_KEY: &str = "moto-test-secret-access-key-9f8e7d";

const SERVER: &str = r#"
import os, sys, threading
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
threading.Timer(300, lambda: os._exit(0)).start()
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

pub struct Moto {
    pub port: u16,
    child: Mutex<Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import moto.server, flask, werkzeug"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn skip(why: &str) -> Option<Moto> {
    if std::env::var("REQUEST_VAULT_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("{why}, and REQUEST_VAULT_REQUIRE_EXTERNAL=1 requires it");
    }
    eprintln!("skipping: {why} (install it with `pip install 'moto[server]'`)");
    None
}

impl Moto {
    /// A fresh moto server, or `None` (after saying why) when moto is not installed.
    pub fn start() -> Option<Moto> {
        let Some(python) = python() else {
            return skip("moto (Python package `moto[server]`) is not installed");
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(python)
            .args(["-c", SERVER, &port.to_string()])
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "true")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        // Keep stdin open for as long as the child lives: its closing stops moto.
        let stdin = child.stdin.take();
        std::mem::forget(stdin);
        let moto = Moto {
            port,
            child: Mutex::new(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let request =
                    "GET /moto-api/data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                if stream.write_all(request.as_bytes()).is_ok() {
                    let mut answer = [0u8; 12];
                    if std::io::Read::read(&mut stream, &mut answer).is_ok_and(|n| n > 0) {
                        return Some(moto);
                    }
                }
            }
            if let Ok(Some(status)) = moto.child.lock().unwrap().try_wait() {
                panic!("moto exited before answering: {status}");
            }
            assert!(Instant::now() < deadline, "moto did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The moto server shared by the tests of this process (each uses its own secret
    /// names).
    pub fn shared() -> Option<&'static Moto> {
        static SHARED: OnceLock<Option<Moto>> = OnceLock::new();
        SHARED.get_or_init(Moto::start).as_ref()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on moto checks signatures and IAM policies (after `count` more requests).
    pub async fn enforce_auth(&self, count: u32) {
        reqwest::Client::new()
            .post(format!("{}/moto-api/reset-auth", self.url()))
            .body(count.to_string())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    /// A query-protocol call (IAM, STS) with form parameters; the XML answer.
    pub async fn query(&self, service: &str, params: &[(&str, &str)]) -> String {
        let body: String = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20240101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
        );
        reqwest::Client::new()
            .post(self.url())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Authorization", authorization)
            .body(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The text of the first `<tag>` in `xml`.
pub fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// The test clients' HTTP: a plain reqwest client behind the SDK's connector trait (the
/// crate builds the SDK without an HTTP client of its own; its providers bring the door's).
#[derive(Debug, Clone)]
struct Plain(reqwest::Client);

impl aws_smithy_runtime_api::client::http::HttpConnector for Plain {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let client = self.0.clone();
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            let method = reqwest::Method::from_bytes(request.method().as_bytes()).unwrap();
            let mut outgoing = client.request(method, request.uri());
            for (name, value) in request.headers().iter() {
                outgoing = outgoing.header(name, value);
            }
            let body = request.body().bytes().unwrap_or_default().to_vec();
            let answer = outgoing
                .body(body)
                .send()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let status = answer.status().as_u16();
            let headers = answer.headers().clone();
            let bytes = answer
                .bytes()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            let mut response = aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                status.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from(bytes.to_vec()),
            );
            for (name, value) in &headers {
                response
                    .headers_mut()
                    .append(name.as_str().to_owned(), value.to_str().unwrap().to_owned());
            }
            Ok(response)
        })
    }
}

/// [`Plain`] as the SDK's HTTP client.
pub fn plain_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    let connector = aws_smithy_runtime_api::client::http::SharedHttpConnector::new(Plain(
        reqwest::Client::new(),
    ));
    aws_smithy_runtime_api::client::http::http_client_fn(move |_, _| connector.clone())
}

/// A Secrets Manager client for setting up test data in moto.
pub fn admin(url: &str) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::v2026_01_12())
        .region(aws_sdk_secretsmanager::config::Region::new(REGION))
        .endpoint_url(url)
        .http_client(plain_http_client())
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// A Parameter Store client for setting up test data in moto.
pub fn ssm_admin(url: &str) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::v2026_01_12())
        .region(aws_sdk_ssm::config::Region::new(REGION))
        .endpoint_url(url)
        .http_client(plain_http_client())
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

/// One request the proxy forwarded.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `X-Amz-Target`'s operation (`GetSecretValue`) or a form's `Action`.
    pub operation: String,
    pub authorization: String,
    pub body: String,
    /// Every header, names lower-cased.
    pub headers: Vec<(String, String)>,
}

/// A loopback HTTP proxy in front of moto that counts requests by operation and can answer
/// the next Secrets Manager requests with a throttling error, or every request of one
/// operation with an IAM denial, instead of forwarding them.
pub struct Proxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    rules: Arc<Rules>,
    task: tokio::task::JoinHandle<()>,
}

/// What the proxy does instead of forwarding, as the tests set it.
#[derive(Default)]
struct Rules {
    /// Secrets Manager requests still to answer with `ThrottlingException`.
    throttle: Mutex<u32>,
    /// The operation to answer with an IAM denial.
    denied: Mutex<Option<String>>,
    /// `GetSecretValue` for the first secret is forwarded for the second.
    swap: Mutex<Option<(String, String)>>,
    /// Requests still to answer with an AWS error whose message quotes the request.
    echo: Mutex<u32>,
    /// The operation to answer with this status and error code.
    failing: Mutex<Option<(String, u16, String)>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Rules::default());
        let (log, shared) = (Arc::clone(&seen), Arc::clone(&rules));
        let client = reqwest::Client::new();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(
                    stream,
                    client.clone(),
                    upstream.clone(),
                    Arc::clone(&log),
                    Arc::clone(&shared),
                ));
            }
        });
        Proxy {
            addr,
            seen,
            rules,
            task,
        }
    }

    /// Forwards every `GetSecretValue` for secret `asked` as a request for secret `other`,
    /// as a confused or hostile endpoint would: the answer names `other`.
    pub fn answer_for_another(&self, asked: &str, other: &str) {
        *self.rules.swap.lock().unwrap() = Some((asked.to_owned(), other.to_owned()));
    }

    /// Answers every request of `operation` (`AssumeRole`) with `status` and an error of
    /// `code`, in the protocol's shape: XML for query operations (STS), JSON otherwise.
    pub fn fail(&self, operation: &str, status: u16, code: &str) {
        *self.rules.failing.lock().unwrap() = Some((operation.to_owned(), status, code.to_owned()));
    }

    /// Answers the next `count` requests with 400 `UnrecognizedClientException` whose
    /// message quotes the whole request (head and body), as an echoing server would.
    pub fn echo_next(&self, count: u32) {
        *self.rules.echo.lock().unwrap() = count;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next `count` Secrets Manager requests with `ThrottlingException`.
    pub fn throttle_next(&self, count: u32) {
        *self.rules.throttle.lock().unwrap() = count;
    }

    /// Answers every request of `operation` (`BatchGetSecretValue`) as AWS answers a caller
    /// whose IAM policy does not allow it: 400 `AccessDeniedException`.
    pub fn deny(&self, operation: &str) {
        *self.rules.denied.lock().unwrap() = Some(operation.to_owned());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests of each operation went through (throttled ones included).
    pub fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for seen in self.seen() {
            *counts.entry(seen.operation).or_default() += 1;
        }
        counts
    }

    pub fn count(&self, operation: &str) -> usize {
        self.counts().get(operation).copied().unwrap_or(0)
    }

    pub fn reset(&self) {
        self.seen.lock().unwrap().clear();
    }
}

async fn serve(
    mut stream: TcpStream,
    client: reqwest::Client,
    upstream: String,
    log: Arc<Mutex<Vec<Seen>>>,
    rules: Arc<Rules>,
) {
    let mut buffer = Vec::new();
    while let Some((head, body)) = super::http::read_request(&mut stream, &mut buffer).await {
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut body_text = String::from_utf8_lossy(&body).into_owned();
        let target = header("x-amz-target");
        let operation = match &target {
            Some(target) => target.rsplit('.').next().unwrap_or_default().to_owned(),
            None => body_text
                .split('&')
                .find_map(|p| p.strip_prefix("Action="))
                .unwrap_or("?")
                .to_owned(),
        };
        let deny = rules.denied.lock().unwrap().as_deref() == Some(operation.as_str());
        let echo = {
            let mut left = rules.echo.lock().unwrap();
            let hit = *left > 0;
            *left = left.saturating_sub(1);
            hit
        };
        log.lock().unwrap().push(Seen {
            operation: operation.clone(),
            authorization: header("authorization").unwrap_or_default(),
            body: body_text.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
        });
        let mut body = body;
        if operation == "GetSecretValue"
            && let Some((asked, other)) = rules.swap.lock().unwrap().clone()
        {
            let from = format!(r#""SecretId":"{asked}""#);
            if body_text.contains(&from) {
                body_text = body_text.replace(&from, &format!(r#""SecretId":"{other}""#));
                body = body_text.clone().into_bytes();
            }
        }

        let throttled = target.is_some() && {
            let mut left = rules.throttle.lock().unwrap();
            let hit = *left > 0;
            *left = left.saturating_sub(1);
            hit
        };
        let failing = rules
            .failing
            .lock()
            .unwrap()
            .clone()
            .filter(|(failing, _, _)| *failing == operation);
        let (status, reply_headers, reply_body) = if let Some((_, status, code)) = failing {
            if target.is_some() {
                (
                    status,
                    vec![(
                        "Content-Type".to_owned(),
                        "application/x-amz-json-1.1".to_owned(),
                    )],
                    format!(r#"{{"__type":"{code}","message":"injected"}}"#).into_bytes(),
                )
            } else {
                (
                    status,
                    vec![("Content-Type".to_owned(), "text/xml".to_owned())],
                    format!(
                        "<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code>\
                         <Message>injected</Message></Error><RequestId>x</RequestId></ErrorResponse>"
                    )
                    .into_bytes(),
                )
            }
        } else if echo {
            let quoted = serde_json::to_string(&format!("{head}\r\n\r\n{body_text}")).unwrap();
            (
                400,
                vec![(
                    "Content-Type".to_owned(),
                    "application/x-amz-json-1.1".to_owned(),
                )],
                format!(r#"{{"__type":"UnrecognizedClientException","message":{quoted}}}"#)
                    .into_bytes(),
            )
        } else if deny {
            // The JSON 1.1 protocol's error shape, as IAM denials come back from AWS.
            let message = format!(
                "User: arn:aws:iam::123456789012:user/test is not authorized to perform: \
                 secretsmanager:{operation} because no identity-based policy allows the \
                 secretsmanager:{operation} action"
            );
            (
                400,
                vec![
                    (
                        "Content-Type".to_owned(),
                        "application/x-amz-json-1.1".to_owned(),
                    ),
                    (
                        "x-amzn-ErrorType".to_owned(),
                        "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/".to_owned(),
                    ),
                ],
                format!(r#"{{"__type":"AccessDeniedException","Message":"{message}"}}"#)
                    .into_bytes(),
            )
        } else if throttled {
            (
                400,
                vec![(
                    "Content-Type".to_owned(),
                    "application/x-amz-json-1.1".to_owned(),
                )],
                br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_vec(),
            )
        } else {
            let mut parts = request_line.split(' ');
            let method = parts.next().unwrap_or("GET");
            let path = parts.next().unwrap_or("/");
            let mut forward = client.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{upstream}{path}"),
            );
            for (k, v) in &headers {
                if !["content-length", "connection", "transfer-encoding"]
                    .contains(&k.to_ascii_lowercase().as_str())
                {
                    forward = forward.header(k, v);
                }
            }
            match forward.body(body).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response
                        .headers()
                        .iter()
                        .filter(|(k, _)| {
                            !["content-length", "connection", "transfer-encoding"]
                                .contains(&k.as_str())
                        })
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                        .collect();
                    let body = response.bytes().await.unwrap_or_default().to_vec();
                    (status, headers, body)
                }
                Err(_) => (502, Vec::new(), Vec::new()),
            }
        };
        let mut response = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n",
            reply_body.len()
        );
        for (k, v) in &reply_headers {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("\r\n");
        let mut bytes = response.into_bytes();
        bytes.extend_from_slice(&reply_body);
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}
