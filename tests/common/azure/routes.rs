//! The stand-in's routes: Key Vault (Get Secret, Get Secrets, the 401 challenge), the Entra
//! ID v2.0 token endpoint, IMDS and App Service, each with its documented answers and errors.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::faults::{Answer, Shape, answer};
use super::{
    CLIENT_ID, CLIENT_SECRET, Data, FEDERATED_TOKEN, Fault, IDENTITY_HEADER, RESOURCE, Reply,
    Request, State, TENANT, USER_ASSIGNED, issue,
};

fn json_reply(status: u16, body: Value) -> Option<Reply> {
    Some(Reply {
        status,
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: body.to_string(),
    })
}

fn kv_error(status: u16, code: &str, message: &str, inner: Option<&str>) -> Option<Reply> {
    let mut error = json!({"code": code, "message": message});
    if let Some(inner) = inner {
        error["innererror"] = json!({"code": inner});
    }
    json_reply(status, json!({ "error": error }))
}

pub(super) fn handle(state: &State, request: &Request) -> Answer {
    let host = request.host();
    if let Some(vault) = host.strip_suffix(".vault.azure.net") {
        return vault_request(state, vault, request);
    }
    let token_fault = || next_fault(&state.token_faults);
    let oauth_status = |status| {
        json_reply(
            status,
            json!({"error": "temporarily_unavailable", "error_description": "AADSTS50196: The server terminated an operation.", "error_codes": [50196]}),
        )
    };
    if request.path == "/metadata/identity/oauth2/token" {
        state.counters.imds_requests.fetch_add(1, Ordering::SeqCst);
        return answer(token_fault(), Shape::OAuth, request, oauth_status, || {
            imds(state, request)
        });
    }
    if request.path == "/msi/token" {
        state
            .counters
            .app_service_requests
            .fetch_add(1, Ordering::SeqCst);
        return answer(token_fault(), Shape::OAuth, request, oauth_status, || {
            app_service(state, request)
        });
    }
    if request.path.ends_with("/oauth2/v2.0/token") {
        count_token_request(state, request);
        return answer(token_fault(), Shape::OAuth, request, oauth_status, || {
            entra(state, request)
        });
    }
    kv_error(404, "NotFound", "no such endpoint", None).into()
}

fn next_fault(queue: &Mutex<VecDeque<Fault>>) -> Option<Fault> {
    queue.lock().unwrap().pop_front()
}

fn tenant_of(request: &Request) -> String {
    request
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn count_token_request(state: &State, request: &Request) {
    state.counters.token_requests.fetch_add(1, Ordering::SeqCst);
    *state
        .per_tenant
        .lock()
        .unwrap()
        .entry(tenant_of(request))
        .or_default() += 1;
}

fn entra(state: &State, request: &Request) -> Option<Reply> {
    let tenant = tenant_of(request);
    let aad = |status: u16, error: &str, code: u64, text: &str| {
        json_reply(
            status,
            json!({
                "error": error,
                "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0000\r\nCorrelation ID: 0000\r\nTimestamp: 2024-01-01 00:00:00Z"),
                "error_codes": [code],
                "timestamp": "2024-01-01 00:00:00Z",
                "trace_id": "0000",
                "correlation_id": "0000",
            }),
        )
    };
    if request.method != "POST" {
        return aad(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    if !["tenant-a", "tenant-b"].contains(&tenant.as_str()) {
        return aad(
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return aad(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return aad(
            400,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    let Some(scope) = form.get("scope").cloned() else {
        return aad(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };
    let secret_ok = form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    let assertion_ok = form.get("client_assertion").map(String::as_str) == Some(FEDERATED_TOKEN)
        && form.get("client_assertion_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    if !secret_ok && !assertion_ok {
        return aad(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    }
    let token = issue(state, &tenant, &scope);
    let lifetime = state.data.lock().unwrap().token_lifetime;
    json_reply(
        200,
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}),
    )
}

fn managed_reply(state: &State, request: &Request, strings: bool) -> Option<Reply> {
    let resource = request.query.get("resource").cloned().unwrap_or_default();
    if let Some(client_id) = request.query.get("client_id")
        && client_id != USER_ASSIGNED
    {
        return json_reply(
            400,
            json!({"error": "invalid_request", "error_description": "Identity not found"}),
        );
    }
    let token = issue(state, TENANT, &format!("{resource}/.default"));
    let lifetime = state.data.lock().unwrap().token_lifetime;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = if strings {
        json!({"access_token": token, "refresh_token": "", "expires_in": lifetime.to_string(), "expires_on": (now + lifetime).to_string(), "not_before": now.to_string(), "resource": resource, "token_type": "Bearer"})
    } else {
        json!({"access_token": token, "expires_on": (now + lifetime).to_string(), "resource": resource, "token_type": "Bearer", "client_id": USER_ASSIGNED})
    };
    json_reply(200, body)
}

fn imds(state: &State, request: &Request) -> Option<Reply> {
    if request.header("metadata") != Some("true") {
        return json_reply(
            400,
            json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
        );
    }
    if request.query.get("api-version").map(String::as_str) != Some("2018-02-01") {
        return json_reply(
            400,
            json!({"error": "invalid_request", "error_description": "Invalid version"}),
        );
    }
    managed_reply(state, request, true)
}

fn app_service(state: &State, request: &Request) -> Option<Reply> {
    if request.header("x-identity-header") != Some(IDENTITY_HEADER) {
        return json_reply(401, json!({"statusCode": 401, "message": "Unauthorized"}));
    }
    if request.query.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return json_reply(
            400,
            json!({"statusCode": 400, "message": "Invalid api-version"}),
        );
    }
    managed_reply(state, request, false)
}

fn vault_request(state: &State, vault: &str, request: &Request) -> Answer {
    state.counters.vault_requests.fetch_add(1, Ordering::SeqCst);
    let (tenant, challenge_resource) = {
        let data = state.data.lock().unwrap();
        (
            data.tenants
                .get(vault)
                .cloned()
                .unwrap_or_else(|| TENANT.to_owned()),
            data.challenge_resource
                .clone()
                .unwrap_or_else(|| RESOURCE.to_owned()),
        )
    };
    let authorized = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|t| state.data.lock().unwrap().issued.get(t).cloned())
        .is_some_and(|(t, scope)| t == tenant && scope == format!("{challenge_resource}/.default"));
    if !authorized {
        state.counters.challenges.fetch_add(1, Ordering::SeqCst);
        let mut reply = kv_error(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
            None,
        );
        if let Some(reply) = reply.as_mut() {
            reply.headers.push((
                "WWW-Authenticate".into(),
                format!(r#"Bearer authorization="https://login.microsoftonline.com/{tenant}", resource="{challenge_resource}""#),
            ));
        }
        return reply.into();
    }
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let listing = segments == ["secrets"];
    if listing {
        state.counters.list_requests.fetch_add(1, Ordering::SeqCst);
    } else {
        state.counters.secret_reads.fetch_add(1, Ordering::SeqCst);
    }
    let status = |status| {
        let code = if status == 429 {
            "Throttled"
        } else {
            "ServiceUnavailable"
        };
        kv_error(status, code, "Try again later.", None)
    };
    let fault = next_fault(&state.vault_faults);
    answer(fault, Shape::Vault, request, status, || {
        read_vault(state, vault, listing, &segments, request)
    })
}

fn read_vault(
    state: &State,
    vault: &str,
    listing: bool,
    segments: &[&str],
    request: &Request,
) -> Option<Reply> {
    if !request.query.contains_key("api-version") {
        return kv_error(
            400,
            "BadParameter",
            "The request URI contains an invalid api-version.",
            None,
        );
    }
    let data = state.data.lock().unwrap();
    if data.denied.iter().any(|d| d == vault) {
        return kv_error(
            403,
            "Forbidden",
            &format!(
                "The user, group or application 'appid={CLIENT_ID}' does not have secrets get permission on key vault '{vault}'."
            ),
            Some("AccessDenied"),
        );
    }
    if listing {
        return list(&data, vault, request);
    }
    get_secret(&data, vault, segments)
}

/// One page of Get Secrets.
fn list(data: &Data, vault: &str, request: &Request) -> Option<Reply> {
    let max: usize = request
        .query
        .get("maxresults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(25);
    let mut names: Vec<&String> = data
        .secrets
        .keys()
        .filter(|(v, _)| v == vault)
        .map(|(_, s)| s)
        .collect();
    names.sort();
    let items: Vec<Value> = names
        .iter()
        .take(max)
        .map(|name| json!({"id": format!("https://{vault}.vault.azure.net/secrets/{name}"), "attributes": {"enabled": true, "created": 1700000000, "updated": 1700000000, "recoveryLevel": "Recoverable+Purgeable"}, "tags": {}}))
        .collect();
    let next = (names.len() > max).then(|| format!("https://{vault}.vault.azure.net:443/secrets?api-version=7.5&$skiptoken=abc&maxresults={max}"));
    json_reply(200, json!({"value": items, "nextLink": next}))
}

/// Get Secret, current or pinned.
fn get_secret(data: &Data, vault: &str, segments: &[&str]) -> Option<Reply> {
    let (name, version) = match segments {
        ["secrets", name] => (*name, None),
        ["secrets", name, version] => (*name, Some(*version)),
        _ => return kv_error(404, "NotFound", "no such path", None),
    };
    let not_found = || {
        kv_error(
            404,
            "SecretNotFound",
            &format!(
                "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command."
            ),
            None,
        )
    };
    let Some(versions) = data
        .secrets
        .get(&(vault.to_owned(), name.to_ascii_lowercase()))
    else {
        return not_found();
    };
    let found = match version {
        Some(id) => versions.iter().find(|v| v.id.eq_ignore_ascii_case(id)),
        None => versions.last(),
    };
    let Some(found) = found else {
        return kv_error(
            404,
            "SecretNotFound",
            &format!(
                "A secret with (name/id) {name}/{} was not found in this key vault.",
                version.unwrap_or_default()
            ),
            None,
        );
    };
    if !found.enabled {
        return kv_error(
            403,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            Some("SecretDisabled"),
        );
    }
    let mut attributes = json!({"enabled": true, "created": 1700000000, "updated": 1700000000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90});
    if let Some(exp) = found.exp {
        attributes["exp"] = json!(exp);
    }
    if let Some(nbf) = found.nbf {
        attributes["nbf"] = json!(nbf);
    }
    json_reply(
        200,
        json!({"value": found.value, "id": format!("https://{vault}.vault.azure.net/secrets/{name}/{}", found.id), "attributes": attributes, "tags": {}}),
    )
}
