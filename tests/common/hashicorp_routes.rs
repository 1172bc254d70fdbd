//! The Vault stand-in's routes: what each `/v1/` path answers, from Vault's HTTP API
//! documentation (see `hashicorp.rs` for the list). Pure functions of the server's state.

use std::time::Instant;

use serde_json::{Value, json};

use super::{State, TokenDef};

/// A status, a JSON body and extra header lines.
pub type Answer = (u16, Value, String);

/// One request as the stand-in reads it.
pub struct Request<'a> {
    pub method: &'a str,
    pub target: &'a str,
    /// The namespace, without leading or trailing `/`.
    pub namespace: &'a str,
    pub token: Option<String>,
    pub body: &'a [u8],
}

/// The answer to `request`.
pub fn route(state: &mut State, request: &Request<'_>) -> Answer {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target, ""));
    let path = percent_decode(path.trim_start_matches("/v1/"));
    let version: Option<u64> = query
        .split('&')
        .find_map(|p| p.strip_prefix("version="))
        .and_then(|v| v.parse().ok());
    let body: Value = serde_json::from_slice(request.body).unwrap_or(Value::Null);
    if let Some(mount) = path
        .strip_prefix("auth/")
        .and_then(|p| p.strip_suffix("/login"))
        && request.method == "POST"
        && mount != "token"
    {
        return login(state, mount, &body);
    }
    let Some(token_name) = request.token.clone() else {
        return error(403, "permission denied");
    };
    let ns = request.namespace;
    let token = match state.tokens.get(&token_name) {
        Some(t) if t.ttl.is_none_or(|ttl| t.created.elapsed() < ttl) => t.clone(),
        _ => return denied(state),
    };
    if !(ns == token.namespace
        || token.namespace.is_empty()
        || ns.starts_with(&format!("{}/", token.namespace)))
    {
        return denied(state);
    }
    match (request.method, path.as_str()) {
        ("GET", "auth/token/lookup-self") => ok(
            json!({"data": {"accessor": "acc", "policies": ["default"], "ttl": 0, "namespace_path": token.namespace}}),
        ),
        ("POST", "auth/token/renew-self") => renew(state, &token_name),
        ("PUT", "sys/leases/revoke") => {
            let id = body
                .get("lease_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            state.revoked.push(id);
            (204, Value::Null, String::new())
        }
        ("GET", p) if p.starts_with("sys/internal/ui/mounts/") => mount_lookup(
            state,
            ns,
            &token,
            p.trim_start_matches("sys/internal/ui/mounts/"),
        ),
        ("GET", p) => read(state, ns, &token, p, version),
        _ => error(405, "unsupported operation"),
    }
}

fn ok(value: Value) -> Answer {
    (200, value, String::new())
}

fn error(status: u16, text: &str) -> Answer {
    (status, json!({"errors": [text]}), String::new())
}

fn not_found() -> Answer {
    (404, json!({"errors": []}), String::new())
}

/// A bad or expired token: `permission denied`, with `invalid token` on modern servers.
fn denied(state: &State) -> Answer {
    let text = if state.modern_errors {
        "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
    } else {
        "permission denied"
    };
    error(403, text)
}

fn renew(state: &mut State, token_name: &str) -> Answer {
    let Some(def) = state.tokens.get_mut(token_name) else {
        return denied(state);
    };
    def.created = Instant::now();
    let ttl = def.ttl.map_or(0, |t| t.as_secs());
    ok(
        json!({"auth": {"client_token": token_name, "accessor": "acc", "policies": ["default"], "lease_duration": ttl, "renewable": def.renewable}}),
    )
}

/// `sys/internal/ui/mounts/PATH`: the mount serving PATH when the token may do anything
/// under it; the same 403 whether the mount is missing or out of the token's policies, so
/// that the look-up cannot list mounts.
fn mount_lookup(state: &State, ns: &str, token: &TokenDef, path: &str) -> Answer {
    if state.no_mount_lookup {
        return not_found();
    }
    let wanted = format!("{}/", path.trim_end_matches('/'));
    match find_mount(state, ns, &wanted) {
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
        _ => error(
            403,
            &format!(
                "preflight capability check returned 403, please ensure client's policies grant access to path {wanted:?}"
            ),
        ),
    }
}

/// A read of `path` under whichever engine serves it.
fn read(state: &mut State, ns: &str, token: &TokenDef, path: &str, version: Option<u64>) -> Answer {
    if !token.allowed.iter().any(|a| path.starts_with(a.as_str())) {
        return error(403, "1 error occurred:\n\t* permission denied\n\n");
    }
    let Some((mount, kind, kv_version)) = find_mount(state, ns, path) else {
        return error(
            404,
            &format!("no handler for route \"{path}\". route entry not found."),
        );
    };
    let rest = &path[mount.len()..];
    match (kind, kv_version) {
        ("kv", Some("2")) => match rest.strip_prefix("data/") {
            Some(rest) => kv2(state, ns, &format!("{mount}{rest}"), version),
            None => not_found(),
        },
        ("kv", _) => match state
            .kv
            .get(&(ns.to_owned(), path.to_owned()))
            .and_then(|v| v.last())
        {
            Some(v) => ok(
                json!({"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 2764800,
                "data": v.data, "wrap_info": null, "warnings": null, "auth": null}),
            ),
            None => not_found(),
        },
        ("database", _) => match rest.strip_prefix("creds/") {
            Some(role) => creds(state, ns, path, role),
            None => not_found(),
        },
        _ => not_found(),
    }
}

/// KV v2 `MOUNT/data/REST`: `data.data` and `data.metadata`; a deleted or destroyed version
/// is 404 with its metadata.
fn kv2(state: &State, ns: &str, full: &str, version: Option<u64>) -> Answer {
    let Some(versions) = state.kv.get(&(ns.to_owned(), full.to_owned())) else {
        return not_found();
    };
    let n = version.unwrap_or(versions.len() as u64);
    let Some(v) = versions.get((n as usize).wrapping_sub(1)) else {
        return not_found();
    };
    let metadata = json!({"created_time": "2024-01-01T00:00:00Z", "custom_metadata": null,
        "deletion_time": if v.deleted { "2024-05-01T10:00:00Z" } else { "" },
        "destroyed": v.destroyed, "version": n});
    let (status, data) = if v.deleted || v.destroyed {
        (404, Value::Null)
    } else {
        (200, v.data.clone())
    };
    (
        status,
        json!({"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
        "data": {"data": data, "metadata": metadata}, "wrap_info": null, "warnings": null, "auth": null}),
        String::new(),
    )
}

/// database `MOUNT/creds/ROLE`: fresh credentials under a new lease.
fn creds(state: &mut State, ns: &str, path: &str, role: &str) -> Answer {
    let Some(ttl) = state.roles.get(&(ns.to_owned(), path.to_owned())).copied() else {
        return error(400, &format!("unknown role: {role}"));
    };
    state.issued += 1;
    let n = state.issued;
    ok(
        json!({"request_id": "r", "lease_id": format!("{path}/lease{n}"), "renewable": true, "lease_duration": ttl,
        "data": {"username": format!("v-{role}-{n}"), "password": format!("pw-{role}-{n}-secret")},
        "wrap_info": null, "warnings": null, "auth": null}),
    )
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
        return error(
            404,
            &format!("no handler for route \"auth/{mount}/login\". route entry not found."),
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
            "approle" => error(400, "invalid role or secret ID"),
            "jwt" => error(400, "error validating token: invalid audience (aud) claim"),
            _ => error(403, "permission denied"),
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
