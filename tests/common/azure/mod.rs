//! A stand-in for Azure Key Vault and Microsoft Entra ID, over HTTPS on 127.0.0.1 with the
//! test CA in `tests/fixtures/azure/`, for tests and benches.
//!
//! One server answers every host name the provider uses (the client resolves
//! `*.vault.azure.net` and `login.microsoftonline.com` to it), following Microsoft's REST
//! documentation:
//! - Key Vault (host `{vault}.vault.azure.net`): `GET /secrets/{name}[/{version}]` and
//!   `GET /secrets?maxresults=N`, with `api-version` required; bundles `{"value", "id",
//!   "attributes": {"enabled", "nbf", "exp", "created", "updated", "recoveryLevel"}}`;
//!   errors `{"error": {"code", "message", "innererror": {"code"}}}` (401 `Unauthorized`
//!   with the `WWW-Authenticate: Bearer authorization="…/{tenant}", resource="https://vault.azure.net"`
//!   challenge, 403 `Forbidden`/`SecretDisabled` or `AccessDenied`, 404 `SecretNotFound`,
//!   429 `Throttled` with `Retry-After`).
//! - Entra ID v2.0: `POST /{tenant}/oauth2/v2.0/token`, client credentials with
//!   `client_secret` or `client_assertion`; errors `{"error", "error_description":
//!   "AADSTS…", "error_codes"}` (400 `invalid_request` AADSTS90002 for an unknown tenant, 401
//!   `invalid_client` AADSTS7000215 for a wrong secret).
//! - IMDS: `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…` with
//!   `Metadata: true` (400 otherwise; 400 `Identity not found` for an unknown client ID);
//!   numbers as strings.
//! - App Service: `GET /msi/token?api-version=2019-08-01&resource=…` with
//!   `X-IDENTITY-HEADER`.
//!
//! IMDS and App Service are also served over plain HTTP on a second port, as they are on
//! Azure hosts (`http://169.254.169.254`, `http://127.0.0.1:41xxx/msi/token`): the URLs this
//! stand-in hands out for them are that port's.
//!
//! Tokens are opaque strings bound to a tenant and scope; a vault accepts only tokens of
//! its own tenant for the resource its challenge names (`https://vault.azure.net/.default`
//! unless set). It counts requests by kind, injects faults from queues (`faults.rs`: the
//! transient ones and a hostile server's), and can revoke every token issued.

#![allow(dead_code)]

mod faults;
mod routes;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use request_vault::AzureKeyVaultBuilder;
use request_vault::provider::{HttpOptions, RetryPolicy};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub const TENANT: &str = "tenant-a";
pub const CLIENT_ID: &str = "app-client-id";
pub const CLIENT_SECRET: &str = "client-secret-PLANTED-7f3a";
pub const FEDERATED_TOKEN: &str = "federated-assertion-PLANTED-c4d2";
pub const IDENTITY_HEADER: &str = "identity-header-PLANTED-91be";
pub const USER_ASSIGNED: &str = "user-assigned-client-id";
pub const RESOURCE: &str = "https://vault.azure.net";
pub const SCOPE: &str = "https://vault.azure.net/.default";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure")
}

/// One version of a secret.
#[derive(Clone)]
pub struct Version {
    pub id: String,
    pub value: String,
    pub enabled: bool,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
}

use faults::Answer;
pub use faults::Fault;

#[derive(Default)]
struct Data {
    /// (vault, secret lowercase) → versions, the last current.
    secrets: HashMap<(String, String), Vec<Version>>,
    /// vault → tenant (default TENANT).
    tenants: HashMap<String, String>,
    /// vaults whose identity may not read (403 AccessDenied).
    denied: Vec<String>,
    /// token → (tenant, scope).
    issued: HashMap<String, (String, String)>,
    /// The resource the challenge names, when not `RESOURCE`.
    challenge_resource: Option<String>,
    token_lifetime: u64,
}

#[derive(Default)]
struct Counters {
    token_requests: AtomicUsize,
    imds_requests: AtomicUsize,
    app_service_requests: AtomicUsize,
    secret_reads: AtomicUsize,
    list_requests: AtomicUsize,
    challenges: AtomicUsize,
    vault_requests: AtomicUsize,
}

struct State {
    data: Mutex<Data>,
    counters: Counters,
    /// Token requests per tenant.
    per_tenant: Mutex<HashMap<String, usize>>,
    vault_faults: Mutex<VecDeque<Fault>>,
    token_faults: Mutex<VecDeque<Fault>>,
    /// Request lines and bodies, for tests that check what was sent.
    log: Mutex<Vec<String>>,
    next: AtomicUsize,
    /// Bytes of the last oversized answer written before the client stopped reading.
    oversized_sent: AtomicU64,
}

pub struct AzureServer {
    /// The HTTPS port: Key Vault, Entra ID, and the metadata endpoints too.
    pub addr: SocketAddr,
    /// The plain-HTTP port of the metadata endpoints (IMDS, App Service).
    pub metadata_addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
    metadata_task: tokio::task::JoinHandle<()>,
}

impl Drop for AzureServer {
    fn drop(&mut self) {
        self.task.abort();
        self.metadata_task.abort();
    }
}

impl AzureServer {
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
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            data: Mutex::new(Data {
                token_lifetime: 3599,
                ..Data::default()
            }),
            counters: Counters::default(),
            per_tenant: Mutex::new(HashMap::new()),
            vault_faults: Mutex::new(VecDeque::new()),
            token_faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            next: AtomicUsize::new(1),
            oversized_sent: AtomicU64::new(0),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        serve(tls, state).await;
                    }
                });
            }
        });
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metadata_addr = plain.local_addr().unwrap();
        let shared = Arc::clone(&state);
        let metadata_task = tokio::spawn(async move {
            while let Ok((stream, _)) = plain.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        AzureServer {
            addr,
            metadata_addr,
            state,
            task,
            metadata_task,
        }
    }

    /// Adds a version of a secret (the latest added is current); returns its version id.
    pub fn put(&self, vault: &str, secret: &str, value: &str) -> String {
        self.put_version(vault, secret, value, true, None, None)
    }

    pub fn put_version(
        &self,
        vault: &str,
        secret: &str,
        value: &str,
        enabled: bool,
        exp: Option<i64>,
        nbf: Option<i64>,
    ) -> String {
        let n = self.state.next.fetch_add(1, Ordering::SeqCst);
        let id = format!("{n:032x}");
        self.state
            .data
            .lock()
            .unwrap()
            .secrets
            .entry((vault.to_owned(), secret.to_ascii_lowercase()))
            .or_default()
            .push(Version {
                id: id.clone(),
                value: value.into(),
                enabled,
                exp,
                nbf,
            });
        id
    }

    pub fn set_tenant(&self, vault: &str, tenant: &str) {
        self.state
            .data
            .lock()
            .unwrap()
            .tenants
            .insert(vault.into(), tenant.into());
    }

    pub fn deny(&self, vault: &str) {
        self.state.data.lock().unwrap().denied.push(vault.into());
    }

    pub fn set_challenge_resource(&self, resource: &str) {
        self.state.data.lock().unwrap().challenge_resource = Some(resource.into());
    }

    pub fn set_token_lifetime(&self, seconds: u64) {
        self.state.data.lock().unwrap().token_lifetime = seconds;
    }

    /// Every token issued so far stops working.
    pub fn revoke_tokens(&self) {
        self.state.data.lock().unwrap().issued.clear();
    }

    /// A token as the CLI stand-in would print it, valid for `tenant`.
    pub fn issue(&self, tenant: &str) -> String {
        issue(&self.state, tenant, SCOPE)
    }

    pub fn fail_vault(&self, fault: Fault) {
        self.state.vault_faults.lock().unwrap().push_back(fault);
    }

    pub fn fail_token(&self, fault: Fault) {
        self.state.token_faults.lock().unwrap().push_back(fault);
    }

    /// Forgets the faults no request met yet.
    pub fn clear_faults(&self) {
        self.state.vault_faults.lock().unwrap().clear();
        self.state.token_faults.lock().unwrap().clear();
    }

    /// How many bytes of the last oversized answer went out before the client stopped
    /// reading.
    pub fn oversized_sent(&self) -> u64 {
        self.state.oversized_sent.load(Ordering::SeqCst)
    }

    pub fn token_requests(&self) -> usize {
        self.state.counters.token_requests.load(Ordering::SeqCst)
    }

    pub fn token_requests_for(&self, tenant: &str) -> usize {
        *self
            .state
            .per_tenant
            .lock()
            .unwrap()
            .get(tenant)
            .unwrap_or(&0)
    }

    pub fn imds_requests(&self) -> usize {
        self.state.counters.imds_requests.load(Ordering::SeqCst)
    }

    pub fn app_service_requests(&self) -> usize {
        self.state
            .counters
            .app_service_requests
            .load(Ordering::SeqCst)
    }

    /// Authorized Get Secret requests (whatever their answer).
    pub fn secret_reads(&self) -> usize {
        self.state.counters.secret_reads.load(Ordering::SeqCst)
    }

    pub fn list_requests(&self) -> usize {
        self.state.counters.list_requests.load(Ordering::SeqCst)
    }

    /// 401 challenges sent.
    pub fn challenges(&self) -> usize {
        self.state.counters.challenges.load(Ordering::SeqCst)
    }

    /// Every request to a vault host.
    pub fn vault_requests(&self) -> usize {
        self.state.counters.vault_requests.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn reset_counts(&self) {
        let c = &self.state.counters;
        for counter in [
            &c.token_requests,
            &c.imds_requests,
            &c.app_service_requests,
            &c.secret_reads,
            &c.list_requests,
            &c.challenges,
            &c.vault_requests,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
        self.state.per_tenant.lock().unwrap().clear();
        self.state.log.lock().unwrap().clear();
    }

    pub fn authority(&self) -> String {
        format!("https://login.microsoftonline.com:{}", self.addr.port())
    }

    pub fn vault_url(&self, vault: &str) -> String {
        format!("https://{vault}.vault.azure.net:{}", self.addr.port())
    }

    pub fn imds_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/metadata/identity/oauth2/token",
            self.metadata_addr.port()
        )
    }

    pub fn app_service_url(&self) -> String {
        format!("http://127.0.0.1:{}/msi/token", self.metadata_addr.port())
    }

    /// A client as the crate's docs say to build one (the crate's policy: no redirect
    /// followed), trusting only the test CA, resolving the given vaults' and Entra's host
    /// names to this server.
    pub fn client(&self, vaults: &[&str]) -> reqwest::Client {
        let builder = HttpOptions::new()
            .timeout(Duration::from_secs(10))
            .client_builder()
            .unwrap();
        self.resolving(builder, vaults).build().unwrap()
    }

    /// As [`client`](Self::client), but built with reqwest's defaults, which follow
    /// redirects: what a careless caller passes.
    pub fn following_client(&self, vaults: &[&str]) -> reqwest::Client {
        let builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
        self.resolving(builder, vaults).build().unwrap()
    }

    fn resolving(
        &self,
        builder: reqwest::ClientBuilder,
        vaults: &[&str],
    ) -> reqwest::ClientBuilder {
        let ca = std::fs::read(fixtures().join("ca.pem")).unwrap();
        let mut builder = builder
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .resolve("login.microsoftonline.com", self.addr)
            .resolve("localhost", self.addr);
        for vault in vaults {
            builder = builder.resolve(&format!("{vault}.vault.azure.net"), self.addr);
        }
        builder
    }

    /// A builder pointed at this server for `vaults`, with quick retries.
    pub fn builder(&self, vaults: &[&str]) -> AzureKeyVaultBuilder {
        let mut builder = request_vault::AzureKeyVault::builder()
            .client(self.client(vaults))
            .authority_host(self.authority())
            .imds_endpoint(self.imds_url())
            .retry(
                RetryPolicy::default()
                    .max_attempts(3)
                    .initial_backoff(Duration::from_millis(5))
                    .max_backoff(Duration::from_millis(50)),
            );
        for vault in vaults {
            builder = builder.vault_url(*vault, self.vault_url(vault));
        }
        builder
    }
}

/// A copy of the stand-in `az` (`tests/fixtures/azure/az`) in a directory of its own.
pub struct AzStandIn {
    pub dir: tempfile::TempDir,
}

impl AzStandIn {
    pub fn new(token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(fixtures().join("az"), dir.path().join("az")).unwrap();
        std::fs::write(dir.path().join("token"), token).unwrap();
        AzStandIn { dir }
    }

    pub fn program(&self) -> PathBuf {
        self.dir.path().join("az")
    }

    pub fn sign_out(&self) {
        std::fs::write(self.dir.path().join("signed-out"), "").unwrap();
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn issue(state: &State, tenant: &str, scope: &str) -> String {
    let n = state.next.fetch_add(1, Ordering::SeqCst);
    let token = format!("eyJ0eXAiOiJKV1QifQ.{tenant}.{n:08}-access-token");
    state
        .data
        .lock()
        .unwrap()
        .issued
        .insert(token.clone(), (tenant.into(), scope.into()));
    token
}

struct Request {
    /// The request line and headers, as sent.
    head: String,
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
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
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, state: Arc<State>) {
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
        let url = url::Url::parse(&format!("https://x{target}")).unwrap();
        let request = Request {
            head: head.clone(),
            method,
            path: url.path().to_owned(),
            query: url.query_pairs().into_owned().collect(),
            headers,
            body,
        };
        state.log.lock().unwrap().push(format!(
            "{} {} {} {}",
            request.method,
            request.host(),
            target,
            String::from_utf8_lossy(&request.body)
        ));
        let reply = match routes::handle(&state, &request) {
            Answer::Reply(reply) => reply,
            Answer::Drop => return,
            Answer::Oversized { bytes, declared } => {
                oversized(&mut stream, bytes, declared, &state.oversized_sent).await;
                return;
            }
        };
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
        let _ = stream.flush().await;
    }
}

/// Writes a 200 answer of `bytes` bytes of filler until done or the client stops reading,
/// keeping in `sent` how many bytes of it went out so far.
async fn oversized<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: u64,
    declared: bool,
    sent: &AtomicU64,
) {
    sent.store(0, Ordering::SeqCst);
    let head = if declared {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {bytes}\r\n\r\n"
        )
    } else {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_owned()
    };
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = [b' '; 64 * 1024];
    let mut written = 0u64;
    while written < bytes {
        let len = chunk
            .len()
            .min(usize::try_from(bytes - written).unwrap_or(chunk.len()));
        // A client that stopped reading leaves the write blocked: give up after a while.
        match tokio::time::timeout(Duration::from_secs(5), stream.write_all(&chunk[..len])).await {
            Ok(Ok(())) => written += len as u64,
            _ => break,
        }
        sent.store(written, Ordering::SeqCst);
    }
}
