//! Vault's errors into [`ProviderError`]s, and the provider id they carry: which statuses
//! are retried, which kind each status and error body stands for, and the messages, always
//! built through the reply so that server text is scrubbed of every credential the provider
//! holds.
//!
//! - 403 on a read is [`Unauthorized`] when the token itself is refused and
//!   [`Forbidden`] when its policies do not allow the path (the caller tells which, see
//!   `auth`); a refused login (400, 401, 403) is [`Unauthorized`], a login at a mount that
//!   does not exist (404) is [`Configuration`].
//! - 404 on a read is [`NotFound`], saying when a KV v2 version was deleted or destroyed;
//!   400 `unknown role` from a dynamic engine is [`NotFound`] too.
//! - 412 (a performance standby not caught up yet), 429 and 5xx are retried; 412 and 503
//!   (sealed, standby) are [`Unavailable`], 429 [`RateLimited`].
//!
//! [`Unauthorized`]: ProviderErrorKind::Unauthorized
//! [`Forbidden`]: ProviderErrorKind::Forbidden
//! [`Configuration`]: ProviderErrorKind::Configuration
//! [`NotFound`]: ProviderErrorKind::NotFound
//! [`Unavailable`]: ProviderErrorKind::Unavailable
//! [`RateLimited`]: ProviderErrorKind::RateLimited

use reqwest::StatusCode;
use serde_json::Value;

use super::wire::ErrorBody;
use crate::provider::field::wipe;
use crate::provider::http::{Reply, status_kind};
use crate::provider::{ProviderError, ProviderErrorKind};

/// The id of the HashiCorp Vault provider.
pub const PROVIDER_ID: &str = "hashicorp";

/// An error of the provider whose message holds no server text.
pub(crate) fn error(kind: ProviderErrorKind, message: String) -> ProviderError {
    ProviderError::new(PROVIDER_ID, kind, message)
}

/// Whether a status is worth retrying: 429, 412 (a performance standby not caught up yet),
/// and 5xx (503 is a sealed or standby node).
pub(crate) fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 412 | 429 | 500..=599)
}

/// The error kind of a status: as the door reads it, and 412 Unavailable.
pub(crate) fn kind_of(status: StatusCode) -> ProviderErrorKind {
    match status.as_u16() {
        412 => ProviderErrorKind::Unavailable,
        _ => status_kind(status),
    }
}

/// Vault's error texts, joined and shortened; empty when the body is not Vault's error
/// shape. Not scrubbed: it goes into an error only through [`failure_of_kind`].
pub(crate) fn error_text(reply: &Reply) -> String {
    let Ok(body) = serde_json::from_slice::<ErrorBody>(&reply.body) else {
        return String::new();
    };
    let mut text = body
        .errors
        .iter()
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if text.len() > 300 {
        let mut end = 300;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The error for a non-2xx reply to `what` (a phrase such as "reading `secret/app`"), with
/// the kind the status stands for.
pub(crate) fn failure(reply: &Reply, what: &str) -> ProviderError {
    failure_of_kind(reply, kind_of(reply.status), what)
}

/// As [`failure`] with a chosen kind. Vault's text is scrubbed by the reply.
pub(crate) fn failure_of_kind(reply: &Reply, kind: ProviderErrorKind, what: &str) -> ProviderError {
    let text = error_text(reply);
    let message = if text.is_empty() {
        format!("Vault refused {what}")
    } else {
        format!("Vault refused {what}: {text}")
    };
    reply.error_of_kind(PROVIDER_ID, kind, &message)
}

/// A refused login (`what`, such as "the approle login at `auth/approle/login`") at the auth
/// mount `mount`: refused credentials are Unauthorized, a missing mount Configuration.
pub(crate) fn login_failure(reply: &Reply, what: &str, mount: &str) -> ProviderError {
    match reply.status.as_u16() {
        // Vault answers refused credentials with 400 (AppRole), 401 or 403.
        400 | 401 | 403 => failure_of_kind(reply, ProviderErrorKind::Unauthorized, what),
        404 => failure_of_kind(
            reply,
            ProviderErrorKind::Configuration,
            &format!("{what} (is the auth method mounted at `{mount}`?)"),
        ),
        _ => failure(reply, what),
    }
}

/// A refused `auth/token/lookup-self`: 401 and 403 mean the token (or its namespace).
pub(crate) fn lookup_failure(reply: &Reply) -> ProviderError {
    match reply.status.as_u16() {
        401 | 403 => failure_of_kind(
            reply,
            ProviderErrorKind::Unauthorized,
            "the token look-up (the token is invalid, expired, or not of this namespace)",
        ),
        _ => failure(reply, "the token look-up"),
    }
}

/// A 403 on `what`: Unauthorized when the token itself was refused (`token_refused`),
/// Forbidden when its policies do not allow the request.
pub(crate) fn refusal(reply: &Reply, what: &str, token_refused: bool) -> ProviderError {
    if token_refused {
        failure_of_kind(
            reply,
            ProviderErrorKind::Unauthorized,
            &format!("{what} (the token is invalid or expired)"),
        )
    } else {
        failure_of_kind(
            reply,
            ProviderErrorKind::Forbidden,
            &format!("{what} (the token's policies do not allow it)"),
        )
    }
}

/// Whether Vault's text says the token itself is unknown (Vault 1.12 and later add
/// `invalid token` to the 403 of a token it does not know).
pub(crate) fn says_invalid_token(reply: &Reply) -> bool {
    error_text(reply).contains("invalid token")
}

/// What a read asked for, for its error messages.
pub(crate) struct Asked<'a> {
    /// The logical path (`secret/app`).
    pub(crate) path: &'a str,
    pub(crate) version: Option<u64>,
    /// The mount, described (`` `secret/` (KV version 2) ``).
    pub(crate) mount: &'a str,
    pub(crate) kv2: bool,
}

/// The error for a read answered with a non-2xx status other than 403.
pub(crate) fn read_failure(reply: &Reply, asked: &Asked<'_>) -> ProviderError {
    let path = asked.path;
    match reply.status.as_u16() {
        404 => not_found(reply, asked),
        // The database and other engines answer 400 `unknown role` for a role that does
        // not exist.
        400 if error_text(reply).contains("unknown role") => failure_of_kind(
            reply,
            ProviderErrorKind::NotFound,
            &format!("reading `{path}`"),
        ),
        _ => failure(reply, &format!("reading `{path}`")),
    }
}

/// A 404: a KV v2 version that was deleted or destroyed says so (Vault answers those with
/// 404 and the version's metadata), anything else is simply not there.
fn not_found(reply: &Reply, asked: &Asked<'_>) -> ProviderError {
    if asked.kv2
        && let Ok(mut body) = serde_json::from_slice::<Value>(&reply.body)
    {
        let data = body.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        wipe(&mut body);
        if data.get("metadata").is_some() {
            return kv2_gone(reply, &data, asked.path, asked.version);
        }
    }
    let at = match asked.version {
        Some(n) => format!("version {n} of `{}`", asked.path),
        None => format!("`{}`", asked.path),
    };
    failure_of_kind(
        reply,
        ProviderErrorKind::NotFound,
        &format!("reading {at}: no secret there (mount {})", asked.mount),
    )
}

/// The error for a KV v2 version whose data is gone, from its `metadata` (in a 404, or in a
/// 200 whose `data.data` is null).
pub(crate) fn kv2_gone(
    reply: &Reply,
    data: &Value,
    path: &str,
    asked: Option<u64>,
) -> ProviderError {
    let metadata = data.get("metadata").unwrap_or(&Value::Null);
    let version = metadata
        .get("version")
        .and_then(Value::as_u64)
        .or(asked)
        .map(|n| format!("version {n} of "))
        .unwrap_or_default();
    let destroyed = metadata.get("destroyed").and_then(Value::as_bool) == Some(true);
    let deleted = metadata
        .get("deletion_time")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let message = match (destroyed, deleted) {
        (true, _) => format!("{version}`{path}` was destroyed"),
        (false, Some(time)) => {
            format!("{version}`{path}` was deleted at {time} (it can be undeleted)")
        }
        (false, None) => format!("{version}`{path}` holds no data"),
    };
    reply.error_of_kind(PROVIDER_ID, ProviderErrorKind::NotFound, &message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProviderErrorKind::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply::fake(status, body)
    }

    const KV2: Asked<'static> = Asked {
        path: "secret/app",
        version: None,
        mount: "`secret/` (KV version 2)",
        kv2: true,
    };

    #[test]
    fn statuses_retried_and_their_kinds() {
        let table = [
            (412, true, Unavailable),
            (429, true, RateLimited),
            (500, true, Unavailable),
            (503, true, Unavailable),
            (504, true, Timeout),
            (400, false, Protocol),
            (403, false, Forbidden),
            (404, false, NotFound),
        ];
        for (status, transient, kind) in table {
            let code = StatusCode::from_u16(status).unwrap();
            assert_eq!(is_transient(code), transient, "{status}");
            assert_eq!(kind_of(code), kind, "{status}");
        }
    }

    #[test]
    fn read_errors_by_status_and_body() {
        let gone = r#"{"data":{"data":null,"metadata":{"deletion_time":"2024-05-01T10:00:00Z","destroyed":false,"version":2}}}"#;
        let destroyed = r#"{"data":{"data":null,"metadata":{"deletion_time":"","destroyed":true,"version":1}}}"#;
        let table: [(u16, &str, Asked<'_>, ProviderErrorKind, &str); 7] = [
            (
                404,
                r#"{"errors":[]}"#,
                KV2,
                NotFound,
                "no secret there (mount `secret/` (KV version 2))",
            ),
            (
                404,
                gone,
                KV2,
                NotFound,
                "version 2 of `secret/app` was deleted at 2024-05-01T10:00:00Z",
            ),
            (
                404,
                destroyed,
                KV2,
                NotFound,
                "version 1 of `secret/app` was destroyed",
            ),
            (
                404,
                r#"{"errors":[]}"#,
                Asked {
                    version: Some(3),
                    ..KV2
                },
                NotFound,
                "version 3 of `secret/app`",
            ),
            (
                400,
                r#"{"errors":["unknown role: app"]}"#,
                KV2,
                NotFound,
                "unknown role: app (HTTP 400)",
            ),
            (
                400,
                r#"{"errors":["bad request"]}"#,
                KV2,
                Protocol,
                "bad request",
            ),
            (
                500,
                "<html>",
                KV2,
                Unavailable,
                "Vault refused reading `secret/app` (HTTP 500)",
            ),
        ];
        for (status, body, asked, kind, says) in table {
            let e = read_failure(&reply(status, body), &asked);
            assert_eq!(e.kind(), kind, "{status} {body}");
            assert!(
                e.message().contains(says),
                "{status} {body}: {}",
                e.message()
            );
        }
    }

    #[test]
    fn login_and_token_errors_by_status() {
        let what = "the approle login at `auth/approle/login`";
        let table = [
            (400, Unauthorized),
            (401, Unauthorized),
            (403, Unauthorized),
            (404, Configuration),
            (503, Unavailable),
        ];
        for (status, kind) in table {
            let e = login_failure(&reply(status, r#"{"errors":["no"]}"#), what, "approle");
            assert_eq!(e.kind(), kind, "{status}");
        }
        let missing = login_failure(&reply(404, "{}"), what, "ci");
        assert!(missing.message().contains("mounted at `ci`"), "{missing}");
        assert_eq!(lookup_failure(&reply(403, "{}")).kind(), Unauthorized);
        assert_eq!(lookup_failure(&reply(500, "{}")).kind(), Unavailable);
        let denied = reply(
            403,
            r#"{"errors":["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"]}"#,
        );
        assert!(says_invalid_token(&denied));
        assert!(!says_invalid_token(&reply(
            403,
            r#"{"errors":["permission denied"]}"#
        )));
        assert_eq!(refusal(&denied, "reading `a/b`", true).kind(), Unauthorized);
        assert_eq!(refusal(&denied, "reading `a/b`", false).kind(), Forbidden);
    }

    #[test]
    fn error_text_is_joined_shortened_and_scrubbed_in_messages() {
        let r = reply(
            400,
            r#"{"errors":["invalid secret id s3cr3t-id","2 errors occurred:\n\t* permission denied\n"]}"#,
        );
        assert_eq!(
            error_text(&r),
            "invalid secret id s3cr3t-id; 2 errors occurred: * permission denied"
        );
        r.scrubber.add(&secrecy::SecretString::from("s3cr3t-id"));
        let e = failure(&r, "the AppRole login");
        assert_eq!(e.kind(), Protocol);
        assert!(!e.message().contains("s3cr3t-id"), "{}", e.message());
        assert!(e.message().ends_with("(HTTP 400)"), "{}", e.message());
        assert_eq!(error_text(&reply(500, "<html>")), "");
        let long = format!(r#"{{"errors":["{}"]}}"#, "é".repeat(400));
        assert!(error_text(&reply(400, &long)).ends_with('…'));
    }
}
