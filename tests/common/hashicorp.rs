//! A stand-in for a HashiCorp Vault server, on 127.0.0.1, for tests and benches.
//!
//! Written from Vault's HTTP API documentation: every path is under `/v1/`, requests carry
//! `X-Vault-Token` (or `Authorization: Bearer`) and optionally `X-Vault-Namespace`, and errors are `{"errors": [...]}`.
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
//! Vault (503 `Vault is sealed`), a dropped connection, a slow answer.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// A fault the next request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16, Option<u64>),
    Sealed,
    Drop,
    Slow(Duration),
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
    requests: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    state: Arc<Mutex<State>>,
    requests: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
}

type Answer = (u16, Value, String);

impl VaultServer {
    pub async fn start(state: State) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Arc::new(Mutex::new(state)),
            requests: Arc::default(),
            log: Arc::default(),
            faults: Arc::default(),
        });
        VaultServer {
            addr,
            state: Arc::clone(&shared.state),
            requests: Arc::clone(&shared.requests),
            log: Arc::clone(&shared.log),
            faults: Arc::clone(&shared.faults),
            task: tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move { shared.serve(stream).await });
                }
            }),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Each request as `METHOD /path [ns=NS]`.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests went to paths containing `part`.
    pub fn count(&self, part: &str) -> usize {
        self.log().iter().filter(|l| l.contains(part)).count()
    }

    pub fn reset_counts(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.log.lock().unwrap().clear();
    }

    pub fn fail_next(&self, fault: Fault) {
        self.faults.lock().unwrap().push_back(fault);
    }

    pub fn revoked(&self) -> Vec<String> {
        self.state.lock().unwrap().revoked.clone()
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
            let namespace = namespace.trim_matches('/').to_owned();
            self.requests.fetch_add(1, Ordering::SeqCst);
            self.log
                .lock()
                .unwrap()
                .push(format!("{method} {target} ns={namespace}"));
            let fault = self.faults.lock().unwrap().pop_front();
            let (status, value, extra) = match fault {
                Some(Fault::Drop) => return,
                Some(Fault::Slow(delay)) => {
                    tokio::time::sleep(delay).await;
                    self.route(&method, &target, &namespace, token, &body)
                }
                Some(Fault::Status(status, retry_after)) => (
                    status,
                    json!({"errors": ["injected fault"]}),
                    retry_after
                        .map(|s| format!("Retry-After: {s}\r\n"))
                        .unwrap_or_default(),
                ),
                Some(Fault::Sealed) => (503, json!({"errors": ["Vault is sealed"]}), String::new()),
                None => self.route(&method, &target, &namespace, token, &body),
            };
            let body = if status == 204 {
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

    fn route(
        &self,
        method: &str,
        target: &str,
        ns: &str,
        token: Option<String>,
        body: &[u8],
    ) -> Answer {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let path = percent_decode(path.trim_start_matches("/v1/"));
        let version: Option<u64> = query
            .split('&')
            .find_map(|p| p.strip_prefix("version="))
            .and_then(|v| v.parse().ok());
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut state = self.state.lock().unwrap();
        if let Some(mount) = path
            .strip_prefix("auth/")
            .and_then(|p| p.strip_suffix("/login"))
            && method == "POST"
            && mount != "token"
        {
            return login(&mut state, mount, &body);
        }
        let denied = |state: &State| {
            let text = if state.modern_errors {
                "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
            } else {
                "permission denied"
            };
            (403, json!({"errors": [text]}), String::new())
        };
        let Some(token_name) = token else {
            return (403, json!({"errors": ["permission denied"]}), String::new());
        };
        let token = match state.tokens.get(&token_name) {
            Some(t) if t.ttl.is_none_or(|ttl| t.created.elapsed() < ttl) => t.clone(),
            _ => return denied(&state),
        };
        if !(ns == token.namespace
            || token.namespace.is_empty()
            || ns.starts_with(&format!("{}/", token.namespace)))
        {
            return denied(&state);
        }
        let allowed = |p: &str| token.allowed.iter().any(|a| p.starts_with(a.as_str()));
        let forbidden = (
            403,
            json!({"errors": ["1 error occurred:\n\t* permission denied\n\n"]}),
            String::new(),
        );
        match (method, path.as_str()) {
            ("GET", "auth/token/lookup-self") => ok(
                json!({"data": {"accessor": "acc", "policies": ["default"], "ttl": 0, "namespace_path": token.namespace}}),
            ),
            ("POST", "auth/token/renew-self") => {
                let Some(def) = state.tokens.get_mut(&token_name) else {
                    return denied(&state);
                };
                def.created = Instant::now();
                let ttl = def.ttl.map_or(0, |t| t.as_secs());
                ok(
                    json!({"auth": {"client_token": token_name, "accessor": "acc", "policies": ["default"], "lease_duration": ttl, "renewable": def.renewable}}),
                )
            }
            ("PUT", "sys/leases/revoke") => {
                let id = body
                    .get("lease_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                state.revoked.push(id);
                (204, Value::Null, String::new())
            }
            ("GET", p) if p.starts_with("sys/internal/ui/mounts/") => {
                if state.no_mount_lookup {
                    return (404, json!({"errors": []}), String::new());
                }
                let wanted = format!(
                    "{}/",
                    p.trim_start_matches("sys/internal/ui/mounts/")
                        .trim_end_matches('/')
                );
                match find_mount(&state, ns, &wanted) {
                    // Vault answers when the token may do anything under the mount.
                    Some((mount, kind, version))
                        if token
                            .allowed
                            .iter()
                            .any(|a| a.starts_with(&mount) || mount.starts_with(a.as_str())) =>
                    {
                        ok(json!({
                        "request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
                        "data": {"accessor": format!("{kind}_1234"), "config": {"default_lease_ttl": 0, "max_lease_ttl": 0},
                                 "description": "", "external_entropy_access": false, "local": false,
                                 "options": version.map(|v| json!({"version": v})), "path": mount,
                                 "seal_wrap": false, "type": kind, "uuid": "u"},
                        "wrap_info": null, "warnings": null, "auth": null}))
                    }
                    // The same 403 whether the mount is missing or out of the token's
                    // policies, so that the look-up cannot list mounts.
                    _ => (
                        403,
                        json!({"errors": [format!(
                            "preflight capability check returned 403, please ensure client's policies grant access to path {wanted:?}"
                        )]}),
                        String::new(),
                    ),
                }
            }
            ("GET", p) => {
                if !allowed(p) {
                    return forbidden;
                }
                let Some((mount, kind, version_option)) = find_mount(&state, ns, p) else {
                    return (
                        404,
                        json!({"errors": ["no handler for route \"".to_owned() + p + "\". route entry not found."]}),
                        String::new(),
                    );
                };
                let rest = &p[mount.len()..];
                match (kind, version_option) {
                    ("kv", Some("2")) => {
                        let Some(rest) = rest.strip_prefix("data/") else {
                            return (404, json!({"errors": []}), String::new());
                        };
                        let full = format!("{mount}{rest}");
                        let Some(versions) = state.kv.get(&(ns.to_owned(), full)) else {
                            return (404, json!({"errors": []}), String::new());
                        };
                        let n = version.unwrap_or(versions.len() as u64);
                        let Some(v) = versions.get((n as usize).wrapping_sub(1)) else {
                            return (404, json!({"errors": []}), String::new());
                        };
                        let metadata = json!({"created_time": "2024-01-01T00:00:00Z", "custom_metadata": null,
                            "deletion_time": if v.deleted { "2024-05-01T10:00:00Z" } else { "" },
                            "destroyed": v.destroyed, "version": n});
                        if v.deleted || v.destroyed {
                            return (
                                404,
                                json!({"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
                                "data": {"data": null, "metadata": metadata}, "wrap_info": null, "warnings": null, "auth": null}),
                                String::new(),
                            );
                        }
                        ok(
                            json!({"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
                            "data": {"data": v.data, "metadata": metadata}, "wrap_info": null, "warnings": null, "auth": null}),
                        )
                    }
                    ("kv", _) => match state
                        .kv
                        .get(&(ns.to_owned(), p.to_owned()))
                        .and_then(|v| v.last())
                    {
                        Some(v) => ok(
                            json!({"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 2764800,
                            "data": v.data, "wrap_info": null, "warnings": null, "auth": null}),
                        ),
                        None => (404, json!({"errors": []}), String::new()),
                    },
                    ("database", _) => {
                        let Some(role) = rest.strip_prefix("creds/") else {
                            return (404, json!({"errors": []}), String::new());
                        };
                        let Some(ttl) = state.roles.get(&(ns.to_owned(), p.to_owned())).copied()
                        else {
                            return (
                                400,
                                json!({"errors": [format!("unknown role: {role}")]}),
                                String::new(),
                            );
                        };
                        state.issued += 1;
                        let n = state.issued;
                        ok(
                            json!({"request_id": "r", "lease_id": format!("{p}/lease{n}"), "renewable": true, "lease_duration": ttl,
                            "data": {"username": format!("v-{role}-{n}"), "password": format!("pw-{role}-{n}-secret")},
                            "wrap_info": null, "warnings": null, "auth": null}),
                        )
                    }
                    _ => (404, json!({"errors": []}), String::new()),
                }
            }
            _ => (
                405,
                json!({"errors": ["unsupported operation"]}),
                String::new(),
            ),
        }
    }
}

fn ok(value: Value) -> Answer {
    (200, value, String::new())
}

fn find_mount(
    state: &State,
    ns: &str,
    path: &str,
) -> Option<(String, &'static str, Option<&'static str>)> {
    state
        .mounts
        .iter()
        .filter(|(n, m, _, _)| n == ns && path.starts_with(m.as_str()))
        .max_by_key(|(_, m, _, _)| m.len())
        .map(|(_, m, k, v)| (m.clone(), *k, *v))
}

fn login(state: &mut State, mount: &str, body: &Value) -> Answer {
    let Some(def) = state.logins.iter().find(|l| l.mount == mount).cloned() else {
        return (
            404,
            json!({"errors": ["no handler for route \"auth/".to_owned() + mount + "/login\". route entry not found."]}),
            String::new(),
        );
    };
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (first, second) = match def.kind {
        "approle" => (field("role_id"), field("secret_id")),
        _ => (field("role"), field("jwt")),
    };
    if first != def.first || second != def.second {
        return match def.kind {
            "approle" => (
                400,
                json!({"errors": ["invalid role or secret ID"]}),
                String::new(),
            ),
            "jwt" => (
                400,
                json!({"errors": ["error validating token: invalid audience (aud) claim"]}),
                String::new(),
            ),
            _ => (403, json!({"errors": ["permission denied"]}), String::new()),
        };
    }
    state.issued += 1;
    let token = format!("hvs.login-{}-{}", def.kind, state.issued);
    state.tokens.insert(
        token.clone(),
        TokenDef {
            namespace: String::new(),
            allowed: def.allowed.clone(),
            ttl: Some(def.ttl),
            renewable: true,
            created: Instant::now(),
        },
    );
    ok(
        json!({"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0, "data": null,
        "auth": {"client_token": token, "accessor": "acc", "policies": ["default", "app"], "token_policies": ["default", "app"],
                 "metadata": {"role_name": def.first}, "lease_duration": def.ttl.as_secs(), "renewable": true,
                 "entity_id": "e", "token_type": "service", "orphan": true}}),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
