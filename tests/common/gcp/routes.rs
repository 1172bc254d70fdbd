//! The stand-in's routes: Secret Manager's `versions.access`, Google's OAuth 2.0 token
//! endpoint, STS, IAM Credentials, the metadata server and a subject token URL, each with
//! its documented answers and errors.

use std::sync::atomic::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::{
    AUDIENCE, Action, Fault, IMPERSONATED, PROJECT, PROJECT_NUMBER, REFRESH_TOKEN, Reply, Request,
    SERVICE_ACCOUNT, SUBJECT_TOKEN, Shared, State, USER_CLIENT_ID, USER_CLIENT_SECRET, issue,
};

fn json_reply(status: u16, body: Value) -> Action {
    Action::Reply(Reply {
        status,
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=UTF-8".into(),
        )],
        body: body.to_string(),
    })
}

/// Google's error body for a canonical code.
fn google_error(status: u16, code: &str, message: &str) -> Action {
    json_reply(
        status,
        json!({"error": {"code": status, "message": message, "status": code}}),
    )
}

fn oauth_error(status: u16, error: &str, description: &str) -> Action {
    json_reply(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn canonical(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => (
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        ),
        403 => ("PERMISSION_DENIED", "The caller does not have permission"),
        404 => ("NOT_FOUND", "Requested entity was not found."),
        429 => (
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute per project' of service 'secretmanager.googleapis.com'.",
        ),
        500 => ("INTERNAL", "Internal error encountered."),
        504 => ("DEADLINE_EXCEEDED", "The request timed out."),
        _ => ("UNAVAILABLE", "The service is currently unavailable."),
    }
}

pub(super) fn handle(shared: &Shared, request: &Request) -> Action {
    let host = request.host();
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/token") if host == "oauth2.googleapis.com" => oauth(shared, request),
        ("POST", "/v1/token") if host == "sts.googleapis.com" => sts(shared, request),
        ("POST", path) if host == "iamcredentials.googleapis.com" => iam(shared, request, path),
        ("GET", "/computeMetadata/v1/instance/service-accounts/default/token") => {
            metadata(shared, request)
        }
        ("GET", "/subject-token") => {
            shared.counters.subject.fetch_add(1, Ordering::SeqCst);
            json_reply(
                200,
                json!({"access_token": SUBJECT_TOKEN, "expires_in": 3599}),
            )
        }
        ("GET", path) if path.starts_with("/v1/projects/") && path.ends_with(":access") => {
            access(shared, request, &host, path)
        }
        _ => google_error(
            404,
            "NOT_FOUND",
            "The requested URL was not found on this server.",
        ),
    }
}

fn lifetime(shared: &Shared) -> u64 {
    shared.data.lock().unwrap().token_lifetime
}

fn token_answer(shared: &Shared, identity: &str) -> Action {
    let token = issue(shared, identity);
    json_reply(
        200,
        json!({"access_token": token, "expires_in": lifetime(shared), "token_type": "Bearer"}),
    )
}

fn oauth(shared: &Shared, request: &Request) -> Action {
    shared.counters.oauth.fetch_add(1, Ordering::SeqCst);
    let form = request.form();
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            match check_assertion(form.get("assertion").map(String::as_str).unwrap_or("")) {
                Ok(()) => token_answer(shared, SERVICE_ACCOUNT),
                Err(description) => oauth_error(400, "invalid_grant", description),
            }
        }
        Some("refresh_token") => {
            let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
            if field("client_id") != USER_CLIENT_ID || field("client_secret") != USER_CLIENT_SECRET
            {
                return oauth_error(401, "invalid_client", "The OAuth client was not found.");
            }
            if field("refresh_token") != REFRESH_TOKEN {
                return oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
            }
            token_answer(shared, "user@example.com")
        }
        _ => oauth_error(400, "unsupported_grant_type", "Invalid grant_type: "),
    }
}

/// Checks a service account's assertion as Google does: RS256 by the account's key, for
/// this token endpoint, with the scope and a lifetime of an hour at most.
fn check_assertion(assertion: &str) -> Result<(), &'static str> {
    use aws_lc_rs::signature::{
        KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey,
    };
    use tokio_rustls::rustls::pki_types::PrivateKeyDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    };
    let key = PrivateKeyDer::from_pem_file(super::fixtures().join("service-account.key")).unwrap();
    let key = RsaKeyPair::from_pkcs8(key.secret_der()).unwrap();
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "Invalid JWT Signature.")?;
    public
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.")?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap_or_default())
        .map_err(|_| "Invalid JWT header.")?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap_or_default())
        .map_err(|_| "Invalid JWT claims.")?;
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    let ok = header["alg"] == "RS256"
        && claims["iss"] == SERVICE_ACCOUNT
        && claims["aud"] == "https://oauth2.googleapis.com/token"
        && claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
        && exp > iat
        && exp - iat <= 3600;
    if ok {
        Ok(())
    } else {
        Err(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        )
    }
}

fn sts(shared: &Shared, request: &Request) -> Action {
    shared.counters.sts.fetch_add(1, Ordering::SeqCst);
    let form = request.form();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if field("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange"
        || field("requested_token_type") != "urn:ietf:params:oauth:token-type:access_token"
    {
        return oauth_error(400, "invalid_request", "Invalid value for \"grant_type\".");
    }
    if field("audience") != AUDIENCE {
        return oauth_error(
            400,
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid.",
        );
    }
    if field("subject_token") != SUBJECT_TOKEN {
        return oauth_error(
            400,
            "invalid_grant",
            "The audience in ID Token does not match the expected audience.",
        );
    }
    let token = issue(shared, "principal://federated");
    json_reply(
        200,
        json!({
            "access_token": token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": lifetime(shared),
        }),
    )
}

fn bearer_identity(shared: &Shared, request: &Request) -> Option<String> {
    let token = request.header("authorization")?.strip_prefix("Bearer ")?;
    shared.data.lock().unwrap().issued.get(token).cloned()
}

fn iam(shared: &Shared, request: &Request, path: &str) -> Action {
    shared.counters.iam.fetch_add(1, Ordering::SeqCst);
    if bearer_identity(shared, request).is_none() {
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let expected = format!("/v1/projects/-/serviceAccounts/{IMPERSONATED}:generateAccessToken");
    if path != expected {
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        );
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    if body["scope"][0] != "https://www.googleapis.com/auth/cloud-platform" {
        return google_error(400, "INVALID_ARGUMENT", "Scope is required.");
    }
    let token = issue(shared, IMPERSONATED);
    json_reply(
        200,
        json!({"accessToken": token, "expireTime": "2999-01-01T00:00:00Z"}),
    )
}

fn metadata(shared: &Shared, request: &Request) -> Action {
    shared.counters.metadata.fetch_add(1, Ordering::SeqCst);
    if request.header("metadata-flavor") != Some("Google") {
        return Action::Reply(Reply {
            status: 403,
            headers: vec![("Content-Type".into(), "text/html; charset=UTF-8".into())],
            body: "Missing required header \"Metadata-Flavor\": \"Google\"".into(),
        });
    }
    match token_answer(shared, "default-compute@developer.gserviceaccount.com") {
        Action::Reply(mut reply) => {
            reply
                .headers
                .push(("Metadata-Flavor".into(), "Google".into()));
            Action::Reply(reply)
        }
        other => other,
    }
}

/// `GET /v1/projects/P/[locations/L/]secrets/S/versions/V:access`.
fn access(shared: &Shared, request: &Request, host: &str, path: &str) -> Action {
    if bearer_identity(shared, request).is_none() {
        shared
            .counters
            .unauthenticated
            .fetch_add(1, Ordering::SeqCst);
        return json_reply(
            401,
            json!({"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", "status": "UNAUTHENTICATED"}}),
        );
    }
    shared.counters.accesses.fetch_add(1, Ordering::SeqCst);
    let fault = shared.faults.lock().unwrap().pop_front();
    let answer = match fault {
        Some(Fault::Status(status, retry_after)) => {
            let (code, message) = canonical(status);
            let mut action = google_error(status, code, message);
            if let (Action::Reply(reply), Some(after)) = (&mut action, retry_after) {
                reply
                    .headers
                    .push(("Retry-After".into(), after.to_string()));
            }
            return action;
        }
        Some(Fault::Drop) => return Action::Drop,
        Some(Fault::Redirect(status, location)) => {
            return Action::Reply(Reply {
                status,
                headers: vec![("Location".into(), location)],
                body: String::new(),
            });
        }
        Some(Fault::Oversized { bytes, declared }) => return Action::Oversized { bytes, declared },
        Some(Fault::Echo(status)) => {
            return google_error(status, "INVALID_ARGUMENT", &request.raw);
        }
        other => (other, read(shared, host, path)),
    };
    match answer {
        (_, Err(action)) => action,
        (Some(Fault::Numbers(number)), Ok(mut body)) => {
            replace_numbers(&mut body, number);
            json_reply(200, body)
        }
        (Some(Fault::Corrupt), Ok(mut body)) => {
            body["payload"]["dataCrc32c"] = "12345".into();
            json_reply(200, body)
        }
        (Some(Fault::OtherSecret), Ok(mut body)) => {
            body["name"] =
                format!("projects/{PROJECT_NUMBER}/secrets/another-secret/versions/1").into();
            json_reply(200, body)
        }
        (_, Ok(body)) => json_reply(200, body),
    }
}

/// `projects/P/[locations/L/]secrets/S/versions/V` of an access path: (P, L, S, V).
fn parse_name(path: &str) -> Option<(&str, Option<&str>, &str, &str)> {
    let name = path.strip_prefix("/v1/")?.strip_suffix(":access")?;
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "secrets", s, "versions", v] => Some((*p, None, *s, *v)),
        ["projects", p, "locations", l, "secrets", s, "versions", v] => {
            Some((*p, Some(*l), *s, *v))
        }
        _ => None,
    }
}

/// Whether `host` serves a secret of `location`: the regional endpoint its own region's
/// only, the global endpoint global secrets only (another host is the builder's endpoint).
fn served_here(host: &str, location: Option<&str>) -> bool {
    let regional_host = host
        .strip_prefix("secretmanager.")
        .and_then(|h| h.strip_suffix(".rep.googleapis.com"));
    match (regional_host, location) {
        (Some(region), Some(location)) => region == location,
        (Some(_), None) => false,
        (None, Some(_)) => host != "secretmanager.googleapis.com",
        (None, None) => true,
    }
}

/// The access answer for `path` on `host`, or the error Secret Manager gives.
fn read(shared: &Shared, host: &str, path: &str) -> Result<Value, Action> {
    let Some((project, location, secret, version)) = parse_name(path) else {
        return Err(google_error(
            400,
            "INVALID_ARGUMENT",
            "Invalid resource field value in the request.",
        ));
    };
    let name = path
        .strip_prefix("/v1/")
        .and_then(|p| p.strip_suffix(":access"))
        .unwrap_or_default();
    let served_here = served_here(host, location);
    let secret_name = match location {
        Some(l) => format!("projects/{PROJECT_NUMBER}/locations/{l}/secrets/{secret}"),
        None => format!("projects/{PROJECT_NUMBER}/secrets/{secret}"),
    };
    let data = shared.data.lock().unwrap();
    if data.denied.iter().any(|d| d == secret) || (project != PROJECT && project != PROJECT_NUMBER)
    {
        return Err(google_error(
            403,
            "PERMISSION_DENIED",
            &format!(
                "Permission 'secretmanager.versions.access' denied for resource '{name}' (or it may not exist)."
            ),
        ));
    }
    let not_found = || {
        google_error(
            404,
            "NOT_FOUND",
            &format!("Secret [{secret_name}] not found or has no versions."),
        )
    };
    let key = (location.unwrap_or_default().to_owned(), secret.to_owned());
    let versions = match data.secrets.get(&key) {
        Some(versions) if served_here && !versions.is_empty() => versions,
        _ => return Err(not_found()),
    };
    let number = match version {
        "latest" => versions.len(),
        v if v.bytes().all(|b| b.is_ascii_digit()) => v.parse().unwrap_or(0),
        alias => match data
            .aliases
            .get(&(key.0.clone(), key.1.clone(), alias.to_owned()))
        {
            Some(n) => *n,
            None => {
                return Err(google_error(
                    404,
                    "NOT_FOUND",
                    &format!("Alias [{alias}] not found on secret [{secret_name}]."),
                ));
            }
        },
    };
    answer(
        &format!("{secret_name}/versions/{number}"),
        number,
        versions,
    )
}

/// Version `number` of `versions`, as `name`: its payload, or why it cannot be read.
fn answer(name: &str, number: usize, versions: &[super::Version]) -> Result<Value, Action> {
    let Some(found) = number.checked_sub(1).and_then(|i| versions.get(i)) else {
        return Err(google_error(
            404,
            "NOT_FOUND",
            &format!("Secret Version [{name}] not found."),
        ));
    };
    let state = match found.state {
        State::Enabled => {
            return Ok(json!({
                "name": name,
                "payload": {
                    "data": STANDARD.encode(&found.data),
                    "dataCrc32c": crc32c(&found.data).to_string(),
                }
            }));
        }
        State::Disabled => "DISABLED",
        State::Destroyed => "DESTROYED",
    };
    Err(google_error(
        400,
        "FAILED_PRECONDITION",
        &format!("Secret Version [{name}] is in {state} state."),
    ))
}

/// CRC32C, bit by bit (independent of the crate's table-driven one).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn replace_numbers(value: &mut Value, number: u64) {
    match value {
        Value::Number(n) => *n = number.into(),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_numbers(v, number)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_numbers(v, number)),
        _ => {}
    }
}
