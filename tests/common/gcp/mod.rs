//! A stand-in for Google Cloud Secret Manager and the token services it needs, over HTTPS
//! on 127.0.0.1 with the test CA in `tests/fixtures/gcp/` (and plain HTTP on a second port,
//! for the metadata server, URL-sourced subject tokens and a fault proxy), for tests and
//! benches. It follows Google's REST documentation:
//!
//! - Secret Manager (`secretmanager.googleapis.com`, regional
//!   `secretmanager.LOCATION.rep.googleapis.com`): `GET /v1/projects/P/[locations/L/]secrets/S/versions/V:access`
//!   with a bearer token, answering `{"name": "projects/NUMBER/…/versions/N", "payload":
//!   {"data": base64, "dataCrc32c": "decimal"}}`; `latest` is the highest version, aliases
//!   name versions. Errors are Google's (`{"error": {"code", "message", "status"}}`): 401
//!   `UNAUTHENTICATED`, 403 `PERMISSION_DENIED`, 404 `NOT_FOUND`, 400 `FAILED_PRECONDITION`
//!   for a disabled or destroyed version, 429 `RESOURCE_EXHAUSTED`, 503 `UNAVAILABLE`.
//! - OAuth 2.0 (`oauth2.googleapis.com/token`): the JWT bearer grant (the RS256 signature
//!   checked against the test key, `iss`, `aud` and `scope` too) and the refresh token
//!   grant; errors `{"error": "invalid_grant", "error_description": …}`.
//! - STS (`sts.googleapis.com/v1/token`): the token exchange grant for one audience and
//!   subject token.
//! - IAM Credentials (`iamcredentials.googleapis.com`): `generateAccessToken` for one
//!   service account, with a federated token.
//! - The metadata server (plain HTTP): the default service account's token, 403 without
//!   `Metadata-Flavor: Google`.

#![allow(dead_code)]

mod routes;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use request_vault::GcpSecretManagerBuilder;
use request_vault::provider::RetryPolicy;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub const PROJECT: &str = "test-project";
pub const PROJECT_NUMBER: &str = "123456789012";
pub const SERVICE_ACCOUNT: &str = "vault-reader@test-project.iam.gserviceaccount.com";
pub const USER_CLIENT_ID: &str = "764086051850-user.apps.googleusercontent.com";
pub const USER_CLIENT_SECRET: &str = "d-FL95Q19q7MQmFpd7hHD0Ty-PLANTED";
pub const REFRESH_TOKEN: &str = "1//0refresh-token-PLANTED-5a1e";
pub const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/oidc";
pub const SUBJECT_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.subject-token-PLANTED-77c1.sig";
pub const IMPERSONATED: &str = "federated-reader@test-project.iam.gserviceaccount.com";
/// Every access token the stand-in issues starts with this.
pub const TOKEN_PREFIX: &str = "ya29.stand-in-PLANTED";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcp")
}

/// The service account key file's text.
pub fn service_account_json() -> String {
    std::fs::read_to_string(fixtures().join("service-account.json")).unwrap()
}

/// The service account's private key, as the key file holds it.
pub fn private_key() -> String {
    std::fs::read_to_string(fixtures().join("service-account.key")).unwrap()
}

/// User credentials as `gcloud auth application-default login` writes them.
pub fn authorized_user_json() -> String {
    serde_json::json!({
        "account": "",
        "client_id": USER_CLIENT_ID,
        "client_secret": USER_CLIENT_SECRET,
        "quota_project_id": "quota-project",
        "refresh_token": REFRESH_TOKEN,
        "type": "authorized_user",
        "universe_domain": "googleapis.com"
    })
    .to_string()
}

/// A version's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Enabled,
    Disabled,
    Destroyed,
}

#[derive(Clone)]
struct Version {
    data: Vec<u8>,
    state: State,
}

/// A fault the next Secret Manager request meets (after authentication).
#[derive(Debug, Clone)]
pub enum Fault {
    /// A status with Google's error body for it, and `Retry-After` seconds if given.
    Status(u16, Option<u64>),
    /// The connection is closed without an answer.
    Drop,
    /// A redirect to `location`.
    Redirect(u16, String),
    /// A 200 of `bytes` bytes of filler, with or without `Content-Length`.
    Oversized { bytes: u64, declared: bool },
    /// A Google error body quoting the whole request.
    Echo(u16),
    /// The true answer with every JSON number replaced.
    Numbers(u64),
    /// The true answer with a wrong `dataCrc32c`.
    Corrupt,
    /// The true answer naming another secret.
    OtherSecret,
}

#[derive(Default)]
struct Data {
    /// (location or "", secret) → versions 1.., and aliases.
    secrets: HashMap<(String, String), Vec<Version>>,
    aliases: HashMap<(String, String, String), usize>,
    /// Secrets the identities may not read.
    denied: Vec<String>,
    /// Issued access tokens → identity.
    issued: HashMap<String, String>,
    token_lifetime: u64,
}

#[derive(Default)]
pub struct Counters {
    pub oauth: AtomicUsize,
    pub sts: AtomicUsize,
    pub iam: AtomicUsize,
    pub metadata: AtomicUsize,
    pub subject: AtomicUsize,
    pub accesses: AtomicUsize,
    pub unauthenticated: AtomicUsize,
}

struct Shared {
    data: Mutex<Data>,
    counters: Counters,
    faults: Mutex<VecDeque<Fault>>,
    log: Mutex<Vec<String>>,
    next: AtomicUsize,
    oversized_sent: Mutex<u64>,
}

pub struct GcpServer {
    /// The HTTPS port.
    pub addr: SocketAddr,
    /// The plain HTTP port (metadata server, subject token URL, fault proxy upstream).
    pub plain: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for GcpServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl GcpServer {
    pub async fn start() -> Self {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(fixtures().join("server.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(fixtures().join("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let shared = Arc::new(Shared {
            data: Mutex::new(Data {
                token_lifetime: 3599,
                ..Data::default()
            }),
            counters: Counters::default(),
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            next: AtomicUsize::new(1),
            oversized_sent: Mutex::new(0),
        });
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, plain_addr) = (tls.local_addr().unwrap(), plain.local_addr().unwrap());
        let state = Arc::clone(&shared);
        let tls_task = tokio::spawn(async move {
            while let Ok((stream, _)) = tls.accept().await {
                let _ = stream.set_nodelay(true);
                let (acceptor, state) = (acceptor.clone(), Arc::clone(&state));
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve(stream, state).await;
                    }
                });
            }
        });
        let state = Arc::clone(&shared);
        let plain_task = tokio::spawn(async move {
            while let Ok((stream, _)) = plain.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&state)));
            }
        });
        GcpServer {
            addr,
            plain: plain_addr,
            shared,
            tasks: vec![tls_task, plain_task],
        }
    }

    /// Adds a version of a global secret; returns its number.
    pub fn put(&self, secret: &str, value: &str) -> usize {
        self.put_in(None, secret, value.as_bytes(), State::Enabled)
    }

    /// Adds a version of a secret (regional when `location` is given) in `state`.
    pub fn put_in(&self, location: Option<&str>, secret: &str, data: &[u8], state: State) -> usize {
        let mut shared = self.shared.data.lock().unwrap();
        let versions = shared
            .secrets
            .entry((location.unwrap_or_default().to_owned(), secret.to_owned()))
            .or_default();
        versions.push(Version {
            data: data.to_vec(),
            state,
        });
        versions.len()
    }

    pub fn alias(&self, secret: &str, alias: &str, version: usize) {
        self.shared
            .data
            .lock()
            .unwrap()
            .aliases
            .insert((String::new(), secret.into(), alias.into()), version);
    }

    pub fn deny(&self, secret: &str) {
        self.shared.data.lock().unwrap().denied.push(secret.into());
    }

    pub fn set_token_lifetime(&self, seconds: u64) {
        self.shared.data.lock().unwrap().token_lifetime = seconds;
    }

    /// Every token issued so far stops working.
    pub fn revoke_tokens(&self) {
        self.shared.data.lock().unwrap().issued.clear();
    }

    pub fn fail(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push_back(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.lock().unwrap().clear();
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn count(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// Token requests of every kind (OAuth, STS, IAM, metadata).
    pub fn token_requests(&self) -> usize {
        let c = &self.shared.counters;
        [&c.oauth, &c.sts, &c.iam, &c.metadata]
            .iter()
            .map(|n| n.load(Ordering::SeqCst))
            .sum()
    }

    /// Authorized access requests (whatever their answer).
    pub fn accesses(&self) -> usize {
        self.shared.counters.accesses.load(Ordering::SeqCst)
    }

    pub fn reset_counts(&self) {
        let c = &self.shared.counters;
        for counter in [
            &c.oauth,
            &c.sts,
            &c.iam,
            &c.metadata,
            &c.subject,
            &c.accesses,
            &c.unauthenticated,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
        self.shared.log.lock().unwrap().clear();
    }

    /// Request lines and bodies, `METHOD host target body`.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn oversized_sent(&self) -> u64 {
        *self.shared.oversized_sent.lock().unwrap()
    }

    /// A client trusting only the test CA, resolving Google's host names to this server
    /// (HTTPS) and the metadata server's to its plain port; built as the docs tell users to,
    /// from the crate's policy (`HttpOptions::client_builder`: no redirects followed).
    pub fn client(&self) -> reqwest::Client {
        let builder = request_vault::provider::HttpOptions::new()
            .client_builder()
            .unwrap();
        self.reaching_this_server(builder)
    }

    /// As [`client`](Self::client), but from reqwest's defaults: a caller's client that
    /// follows redirects.
    pub fn following_client(&self) -> reqwest::Client {
        self.reaching_this_server(reqwest::Client::builder())
    }

    fn reaching_this_server(&self, builder: reqwest::ClientBuilder) -> reqwest::Client {
        let ca = std::fs::read(fixtures().join("ca.pem")).unwrap();
        let mut builder = builder
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .timeout(Duration::from_secs(10))
            .resolve("metadata.google.internal", self.plain);
        for host in [
            "secretmanager.googleapis.com",
            "oauth2.googleapis.com",
            "sts.googleapis.com",
            "iamcredentials.googleapis.com",
            "secretmanager.europe-west1.rep.googleapis.com",
            "secretmanager.us-central1.rep.googleapis.com",
        ] {
            builder = builder.resolve(host, self.addr);
        }
        builder.build().unwrap()
    }

    /// A builder with this server's client and quick retries.
    pub fn builder(&self) -> GcpSecretManagerBuilder {
        request_vault::GcpSecretManager::builder()
            .client(self.client())
            .retry(quick_retries())
    }

    /// An external account configuration whose subject token is in `token_file`.
    pub fn external_account_file(&self, token_file: &Path, impersonate: bool) -> String {
        let mut config = serde_json::json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "credential_source": {"file": token_file.to_str().unwrap()},
        });
        if impersonate {
            config["service_account_impersonation_url"] = format!(
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{IMPERSONATED}:generateAccessToken"
            )
            .into();
        }
        config.to_string()
    }

    /// An external account configuration whose subject token is served as JSON at this
    /// server's plain port.
    pub fn external_account_url(&self) -> String {
        serde_json::json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "credential_source": {
                "url": format!("http://{}/subject-token", self.plain),
                "headers": {"Metadata": "True"},
                "format": {"type": "json", "subject_token_field_name": "access_token"}
            },
        })
        .to_string()
    }
}

pub fn quick_retries() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_millis(50))
}

/// A copy of the stand-in `gcloud` (`tests/fixtures/gcp/gcloud`) in a directory of its own.
pub struct GcloudStandIn {
    pub dir: tempfile::TempDir,
}

impl GcloudStandIn {
    pub fn new(token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(fixtures().join("gcloud"), dir.path().join("gcloud")).unwrap();
        std::fs::write(dir.path().join("token"), token).unwrap();
        GcloudStandIn { dir }
    }

    pub fn program(&self) -> PathBuf {
        self.dir.path().join("gcloud")
    }

    pub fn set_token(&self, token: &str) {
        std::fs::write(self.dir.path().join("token"), token).unwrap();
    }

    pub fn sign_out(&self) {
        std::fs::write(self.dir.path().join("signed-out"), "").unwrap();
    }

    pub fn calls(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }
}

/// Issues a token for `identity`.
fn issue(shared: &Shared, identity: &str) -> String {
    let n = shared.next.fetch_add(1, Ordering::SeqCst);
    let token = format!("{TOKEN_PREFIX}-{n:06}");
    shared
        .data
        .lock()
        .unwrap()
        .issued
        .insert(token.clone(), identity.into());
    token
}

/// A token the stand-in accepts for `identity`, as the gcloud stand-in would print it.
pub fn issue_for(server: &GcpServer, identity: &str) -> String {
    issue(&server.shared, identity)
}

struct Request {
    method: String,
    target: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    raw: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn host(&self) -> String {
        let host = self.header("host").unwrap_or_default();
        host.rsplit_once(':')
            .map_or(host, |(h, _)| h)
            .to_ascii_lowercase()
    }

    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// What the server does with a request.
enum Action {
    Reply(Reply),
    Raw(Vec<u8>),
    Drop,
    Oversized { bytes: u64, declared: bool },
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    while let Some((head, body)) = super::http::read_request(&mut stream, &mut buffer).await {
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or_default().split(' ');
        let method = first.next().unwrap_or_default().to_owned();
        let target = first.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let path = target.split('?').next().unwrap_or_default().to_owned();
        let raw = format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body));
        let request = Request {
            method,
            target,
            path,
            headers,
            body,
            raw,
        };
        shared.log.lock().unwrap().push(format!(
            "{} {} {} {}",
            request.method,
            request.host(),
            request.target,
            String::from_utf8_lossy(&request.body)
        ));
        match routes::handle(&shared, &request) {
            Action::Drop => return,
            Action::Oversized { bytes, declared } => {
                let sent = oversized(&mut stream, bytes, declared).await;
                *shared.oversized_sent.lock().unwrap() = sent;
                return;
            }
            Action::Raw(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Action::Reply(reply) => {
                let mut response = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (k, v) in &reply.headers {
                    response.push_str(&format!("{k}: {v}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(&reply.body);
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        let _ = stream.flush().await;
    }
}

/// Writes a 200 of `bytes` bytes until done or the client stops reading; how many went out.
async fn oversized<S: AsyncWrite + Unpin>(stream: &mut S, bytes: u64, declared: bool) -> u64 {
    let head = if declared {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {bytes}\r\n\r\n"
        )
    } else {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n".to_owned()
    };
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let chunk = [b' '; 64 * 1024];
    let mut sent = 0u64;
    while sent < bytes {
        match tokio::time::timeout(Duration::from_secs(5), stream.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len() as u64,
            _ => break,
        }
    }
    let _ = stream.shutdown().await;
    sent
}

#[cfg(feature = "conformance")]
impl request_vault::provider::conformance::Faults for GcpServer {
    fn inject(&self, fault: request_vault::provider::conformance::Fault) -> bool {
        use request_vault::provider::conformance::Fault as F;
        let own = match fault {
            F::Status {
                status,
                retry_after,
            } => Fault::Status(status, retry_after),
            F::Drop => Fault::Drop,
            F::Redirect { status, location } => Fault::Redirect(status, location),
            F::Oversized { bytes, declared } => Fault::Oversized { bytes, declared },
            F::Echo { status } => Fault::Echo(status),
            F::Numbers(number) => Fault::Numbers(number),
            _ => return false,
        };
        self.fail(own);
        true
    }

    fn clear(&self) {
        self.clear_faults();
    }

    fn oversized_sent(&self) -> Option<u64> {
        Some(GcpServer::oversized_sent(self))
    }
}
