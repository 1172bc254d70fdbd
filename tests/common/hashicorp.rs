//! A stand-in for a HashiCorp Vault server, on 127.0.0.1, for tests and benches.
//!
//! Written from Vault's HTTP API documentation: every path is under `/v1/`, requests carry
//! `X-Vault-Token` (or `Authorization: Bearer`) and optionally `X-Vault-Namespace`, and
//! errors are `{"errors": [...]}`. The routes (`hashicorp_routes.rs`):
//! - `GET /v1/sys/internal/ui/mounts/PATH`: the mount serving PATH (`path`, `type`,
//!   `options.version`); 403 `permission denied` when no mount matches or the token is bad.
//! - KV v2 `GET /v1/MOUNT/data/PATH[?version=N]`: `data.data` and `data.metadata`
//!   (`version`, `created_time`, `deletion_time`, `destroyed`); a deleted or destroyed
//!   version is 404 *with* its metadata and `data.data: null`; a missing one 404
//!   `{"errors":[]}`.
//! - KV v1 `GET /v1/MOUNT/PATH`: `data`, with `lease_duration` 2764800 and an empty
//!   `lease_id` (a refresh hint, not a lease).
//! - database `GET /v1/MOUNT/creds/ROLE`: fresh `username`/`password` under a new
//!   `lease_id` (`MOUNT/creds/ROLE/<n>`) with `lease_duration` and `renewable: true`; an
//!   unknown role is 400 `unknown role: ROLE`.
//! - `POST /v1/auth/MOUNT/login` for approle (`role_id`, `secret_id`; 400 `invalid role or
//!   secret ID`), jwt (`role`, `jwt`; 400 `error validating token: …`) and kubernetes
//!   (`role`, `jwt`; 403 `permission denied`): `auth.client_token`, `lease_duration`,
//!   `renewable`.
//! - `POST /v1/auth/token/renew-self`, `GET /v1/auth/token/lookup-self`,
//!   `PUT /v1/sys/leases/revoke` (204).
//!
//! A bad or expired token gets 403 `permission denied` (or, with `modern_errors`, the
//! `permission denied` + `invalid token` text of Vault 1.12 and later). It counts requests,
//! logs them, and injects faults from a queue: a status (with `Retry-After`), a sealed
//! Vault (503 `Vault is sealed`), a dropped connection, a slow answer, and a hostile
//! server's answers (a redirect, an endless body, an error that echoes credentials). It can
//! also hold every answer until a number of requests are in flight at once.

#![allow(dead_code)]

#[path = "hashicorp_delay.rs"]
pub mod delay;
#[path = "hashicorp_routes.rs"]
mod routes;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use routes::{Answer, Request};

/// A fault the next request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16, Option<u64>),
    Sealed,
    Drop,
    Slow(Duration),
    /// This status (301, 302, 303, 307, 308) with `Location: URL`.
    Redirect(u16, String),
    /// 200 with a 1 GiB body of filler, with its `Content-Length` when `declared`, else
    /// delimited by the close; sent until the client stops reading.
    Oversized {
        declared: bool,
    },
    /// This status with an error naming the token the request carried and the secret IDs
    /// of the AppRole logins, as a server that echoes what it knows would.
    Echo(u16),
}

/// A token the server knows.
#[derive(Clone)]
pub struct TokenDef {
    /// The namespace the token lives in ("" for root); it works there and below.
    pub namespace: String,
    /// Path prefixes its policies allow (`""` allows everything).
    pub allowed: Vec<String>,
    pub ttl: Option<Duration>,
    pub renewable: bool,
    created: Instant,
}

/// An auth method mount and the credentials it accepts.
#[derive(Clone)]
pub struct LoginDef {
    pub mount: String,
    /// `approle`, `jwt` or `kubernetes`.
    pub kind: &'static str,
    /// approle: (role_id, secret_id); jwt/kubernetes: (role, jwt).
    pub first: String,
    pub second: String,
    pub ttl: Duration,
    /// What the token it issues may read.
    pub allowed: Vec<String>,
}

#[derive(Clone)]
pub struct KvVersion {
    pub data: Value,
    pub deleted: bool,
    pub destroyed: bool,
}

/// Everything the server serves; change it through [`VaultServer::state`].
#[derive(Default)]
pub struct State {
    /// (namespace, mount path with `/`) → (type, KV version).
    pub mounts: Vec<(String, String, &'static str, Option<&'static str>)>,
    /// (namespace, full path) → versions (KV v1 keeps only the last).
    pub kv: HashMap<(String, String), Vec<KvVersion>>,
    /// (namespace, `MOUNT/creds/ROLE`) → lease duration in seconds.
    pub roles: HashMap<(String, String), u64>,
    pub tokens: HashMap<String, TokenDef>,
    pub logins: Vec<LoginDef>,
    pub modern_errors: bool,
    /// Whether `sys/internal/ui/mounts` exists (false: 404, as Vault before 0.10).
    pub no_mount_lookup: bool,
    pub revoked: Vec<String>,
    pub issued: usize,
    /// Holds each answer but mount look-ups until this many requests are in flight at once
    /// (or 10 s passed).
    pub gather: Option<usize>,
}

impl State {
    pub fn mount(
        &mut self,
        namespace: &str,
        path: &str,
        kind: &'static str,
        version: Option<&'static str>,
    ) {
        self.mounts.push((
            namespace.into(),
            format!("{}/", path.trim_end_matches('/')),
            kind,
            version,
        ));
    }

    pub fn put(&mut self, namespace: &str, path: &str, data: Value) {
        self.kv
            .entry((namespace.into(), path.into()))
            .or_default()
            .push(KvVersion {
                data,
                deleted: false,
                destroyed: false,
            });
    }

    pub fn token(&mut self, token: &str, namespace: &str, allowed: &[&str]) {
        self.tokens.insert(
            token.into(),
            TokenDef {
                namespace: namespace.into(),
                allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
                ttl: None,
                renewable: false,
                created: Instant::now(),
            },
        );
    }

    pub fn login(
        &mut self,
        mount: &str,
        kind: &'static str,
        first: &str,
        second: &str,
        ttl: Duration,
    ) {
        self.logins.push(LoginDef {
            mount: mount.into(),
            kind,
            first: first.into(),
            second: second.into(),
            ttl,
            allowed: vec![String::new()],
        });
    }

    /// Forgets every token issued by a login (as if they expired or were revoked).
    pub fn revoke_login_tokens(&mut self) {
        self.tokens
            .retain(|token, _| !token.starts_with("hvs.login-"));
    }
}

pub struct VaultServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Shared {
    state: Arc<Mutex<State>>,
    requests: AtomicUsize,
    log: Mutex<Vec<String>>,
    faults: Mutex<VecDeque<Fault>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    oversized_sent: AtomicU64,
}

impl VaultServer {
    pub async fn start(state: State) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Arc::new(Mutex::new(state)),
            ..Shared::default()
        });
        let serving = Arc::clone(&shared);
        VaultServer {
            addr,
            state: Arc::clone(&shared.state),
            shared,
            task: tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&serving);
                    tokio::spawn(async move { shared.serve(stream).await });
                }
            }),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Each request as `METHOD /path [ns=NS]`.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// How many requests went to paths containing `part`.
    pub fn count(&self, part: &str) -> usize {
        self.log().iter().filter(|l| l.contains(part)).count()
    }

    pub fn reset_counts(&self) {
        self.shared.requests.store(0, Ordering::SeqCst);
        self.shared.most_in_flight.store(0, Ordering::SeqCst);
        self.shared.oversized_sent.store(0, Ordering::SeqCst);
        self.shared.log.lock().unwrap().clear();
    }

    pub fn fail_next(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push_back(fault);
    }

    pub fn revoked(&self) -> Vec<String> {
        self.state.lock().unwrap().revoked.clone()
    }

    /// The most requests that were in flight at once.
    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::SeqCst)
    }

    /// How many bytes of the last [`Fault::Oversized`] answer went out before the client
    /// stopped reading (socket buffers included).
    pub fn oversized_sent(&self) -> u64 {
        self.shared.oversized_sent.load(Ordering::SeqCst)
    }
}

impl Shared {
    async fn serve(&self, mut stream: TcpStream) {
        let mut buffer = Vec::new();
        while let Some((head, body)) = super::http::read_request(&mut stream, &mut buffer).await {
            let mut lines = head.split("\r\n");
            let mut request_line = lines.next().unwrap_or_default().split(' ');
            let method = request_line.next().unwrap_or_default().to_owned();
            let target = request_line.next().unwrap_or("/").to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            // Vault takes the token from `X-Vault-Token`, or else from `Authorization: Bearer`.
            let token = header("x-vault-token").or_else(|| {
                header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
            });
            let namespace = header("x-vault-namespace").unwrap_or_default();
            let request = Request {
                method: &method,
                target: &target,
                namespace: namespace.trim_matches('/'),
                token,
                body: &body,
            };
            self.requests.fetch_add(1, Ordering::SeqCst);
            self.log
                .lock()
                .unwrap()
                .push(format!("{method} {target} ns={}", request.namespace));
            let fault = self.faults.lock().unwrap().pop_front();
            if let Some(Fault::Oversized { declared }) = fault {
                let sent = oversized(&mut stream, declared).await;
                self.oversized_sent.store(sent, Ordering::SeqCst);
                return;
            }
            let Some((status, value, extra)) = self.answer(fault, &request).await else {
                return;
            };
            let body = if status == 204 || value.is_null() {
                Vec::new()
            } else {
                value.to_string().into_bytes()
            };
            let mut response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n",
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(&body);
            if stream.write_all(&response).await.is_err() {
                return;
            }
        }
    }

    /// The answer to `request` under `fault`; `None` to drop the connection.
    async fn answer(&self, fault: Option<Fault>, request: &Request<'_>) -> Option<Answer> {
        let answer = match fault {
            Some(Fault::Drop) => return None,
            Some(Fault::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                self.route(request).await
            }
            Some(Fault::Status(status, retry_after)) => (
                status,
                json!({"errors": ["injected fault"]}),
                retry_after
                    .map(|s| format!("Retry-After: {s}\r\n"))
                    .unwrap_or_default(),
            ),
            Some(Fault::Sealed) => (503, json!({"errors": ["Vault is sealed"]}), String::new()),
            Some(Fault::Redirect(status, location)) => {
                (status, Value::Null, format!("Location: {location}\r\n"))
            }
            Some(Fault::Echo(status)) => (status, self.echo(request), String::new()),
            Some(Fault::Oversized { .. }) | None => self.route(request).await,
        };
        Some(answer)
    }

    /// Routes `request`, first waiting for the gathering when one is set.
    async fn route(&self, request: &Request<'_>) -> Answer {
        // Mount look-ups are answered at once: reads wait for them.
        let gather = Some(self.state.lock().unwrap().gather)
            .flatten()
            .filter(|_| !request.target.contains("/sys/internal/ui/mounts/"));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(wanted) = gather {
            let until = Instant::now() + Duration::from_secs(10);
            while self.most_in_flight.load(Ordering::SeqCst) < wanted && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let answer = routes::route(&mut self.state.lock().unwrap(), request);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        answer
    }

    /// An error body naming the request's token and every AppRole secret ID.
    fn echo(&self, request: &Request<'_>) -> Value {
        let state = self.state.lock().unwrap();
        let secret_ids: Vec<&str> = state
            .logins
            .iter()
            .filter(|l| l.kind == "approle")
            .map(|l| l.second.as_str())
            .collect();
        json!({"errors": [format!(
            "1 error occurred:\n\t* invalid request: token {} with secret_id {}\n\n",
            request.token.as_deref().unwrap_or("none"),
            secret_ids.join(", ")
        )]})
    }
}

/// Writes a 200 answer of 1 GiB of filler until done or the client stops reading; how many
/// bytes of it went out.
async fn oversized(stream: &mut TcpStream, declared: bool) -> u64 {
    const BYTES: u64 = 1 << 30;
    let head = if declared {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {BYTES}\r\n\r\n"
        )
    } else {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_owned()
    };
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let chunk = [b' '; 64 * 1024];
    let mut sent = 0u64;
    while sent < BYTES {
        // A client that stopped reading leaves the write blocked: give up after a while.
        match tokio::time::timeout(Duration::from_secs(5), stream.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len() as u64,
            _ => break,
        }
    }
    sent
}

// --- Fixtures shared by the HashiCorp test files ---------------------------------------

/// The root token the fixture server accepts.
pub const TOKEN: &str = "hvs.root-token-for-tests";

/// The fixture server's secrets, mounts, roles and tokens, shared by the test files.
pub fn state() -> State {
    let mut s = State::default();
    s.mount("", "secret", "kv", Some("2"));
    s.mount("", "kv1", "kv", Some("1"));
    s.mount("", "database", "database", None);
    s.put(
        "",
        "secret/myapp/db",
        json!({"username": "admin", "password": "v1-pa55"}),
    );
    s.put(
        "",
        "secret/myapp/db",
        json!({"username": "admin", "password": "v2-pa55", "nested": {"port": 5432, "host": "db"}}),
    );
    s.put("", "secret/single", json!({"api-key": "only-value"}));
    s.put("", "kv1/legacy/app", json!({"token": "legacy-token-value"}));
    s.roles
        .insert(("".into(), "database/creds/app".into()), 3600);
    s.token(TOKEN, "", &[""]);
    s.token("hvs.narrow", "", &["secret/data/myapp/"]);
    s
}

/// A provider builder for `server` with quick retries.
pub fn builder(server: &VaultServer) -> request_vault::HashiCorpVaultBuilder {
    request_vault::HashiCorpVault::builder(&server.url()).retry(
        request_vault::provider::RetryPolicy::default()
            .initial_backoff(Duration::from_millis(1))
            .max_backoff(Duration::from_millis(5)),
    )
}

/// The fixture server and a provider signed in with the root token.
pub async fn provider() -> (VaultServer, request_vault::HashiCorpVault) {
    let server = VaultServer::start(state()).await;
    let provider = builder(&server).token(TOKEN).unwrap();
    (server, provider)
}

/// The kind of an expected failure.
pub fn kind(
    result: Result<impl Sized, request_vault::ProviderError>,
) -> request_vault::ProviderErrorKind {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}
