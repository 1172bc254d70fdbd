//! Google's errors into [`ProviderError`]s, and the provider id they carry: Secret
//! Manager's and IAM's error bodies (`{"error": {"code", "message", "status"}}`, mapped by
//! `status`, the canonical code) and the OAuth 2.0 errors of the token endpoints
//! (`{"error": "invalid_grant", "error_description": …}`), with the HTTP status as the last
//! resort.
//!
//! Server text is quoted through [`Reply::error_of_kind`], so it is scrubbed of every
//! credential the provider holds; Google's messages name resources, never a payload.

use reqwest::StatusCode;

use crate::provider::http::{Reply, status_kind};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::wire::{GoogleError, OAuthError};

/// The id of the Secret Manager provider unless its builder gives another
/// ([`GcpSecretManagerBuilder::id`](super::GcpSecretManagerBuilder::id)).
pub const PROVIDER_ID: &str = "gcp";

/// The kind a canonical code (`status` of Google's error body) stands for; `None` for a
/// code that says nothing more than the HTTP status.
fn canonical_kind(status: &str) -> Option<ProviderErrorKind> {
    Some(match status {
        "NOT_FOUND" => ProviderErrorKind::NotFound,
        "PERMISSION_DENIED" => ProviderErrorKind::Forbidden,
        "UNAUTHENTICATED" => ProviderErrorKind::Unauthorized,
        "RESOURCE_EXHAUSTED" => ProviderErrorKind::RateLimited,
        "UNAVAILABLE" | "INTERNAL" | "UNKNOWN" | "ABORTED" => ProviderErrorKind::Unavailable,
        "DEADLINE_EXCEEDED" => ProviderErrorKind::Timeout,
        "INVALID_ARGUMENT" | "OUT_OF_RANGE" => ProviderErrorKind::InvalidReference,
        "FAILED_PRECONDITION" => ProviderErrorKind::Protocol,
        _ => return None,
    })
}

/// The error for a Secret Manager answer that is not a success; `what` names the version
/// asked for (`secret version projects/p/secrets/s/versions/latest`).
pub(crate) fn secret_manager(reply: &Reply, what: &str) -> ProviderError {
    let detail = serde_json::from_slice::<GoogleError>(&reply.body)
        .unwrap_or_default()
        .error
        .unwrap_or_default();
    let status = detail.status.as_str();
    let said = if detail.message.is_empty() {
        String::new()
    } else {
        format!(": {}", detail.message)
    };
    let (kind, message) = match status {
        "FAILED_PRECONDITION" if detail.message.contains("DISABLED") => (
            ProviderErrorKind::Forbidden,
            format!("{what} is disabled: enable it or pin another version ({status}{said})"),
        ),
        "FAILED_PRECONDITION" if detail.message.contains("DESTROYED") => (
            ProviderErrorKind::NotFound,
            format!("{what} is destroyed, its data is gone: pin another version ({status}{said})"),
        ),
        "NOT_FOUND" => (
            ProviderErrorKind::NotFound,
            format!("{what} not found in Secret Manager ({status}{said})"),
        ),
        "PERMISSION_DENIED" => (
            ProviderErrorKind::Forbidden,
            format!(
                "Secret Manager refused access to {what}: the credentials need \
                 `secretmanager.versions.access` on it ({status}{said})"
            ),
        ),
        "UNAUTHENTICATED" => (
            ProviderErrorKind::Unauthorized,
            format!("Secret Manager refused the access token for {what} ({status}{said})"),
        ),
        "RESOURCE_EXHAUSTED" => (
            ProviderErrorKind::RateLimited,
            format!("Secret Manager's quota is exhausted for {what} ({status}{said})"),
        ),
        _ => (
            canonical_kind(status).unwrap_or_else(|| status_kind(reply.status)),
            if status.is_empty() {
                format!("Secret Manager failed to give {what}")
            } else {
                format!("Secret Manager failed to give {what} ({status}{said})")
            },
        ),
    };
    reply.error_of_kind(PROVIDER_ID, kind, &message)
}

/// The error for a token endpoint's answer that is not a success (Google's OAuth 2.0
/// endpoint, STS, IAM Credentials, the metadata server); `who` says who asked whom
/// (`Google's token endpoint for service account x@p.iam.gserviceaccount.com`).
pub(crate) fn token_endpoint(reply: &Reply, who: &str) -> ProviderError {
    let body = serde_json::from_slice::<OAuthError>(&reply.body).unwrap_or_default();
    let (kind, detail) = match &body.error {
        serde_json::Value::String(code) => (
            oauth_kind(code, reply.status),
            match &body.error_description {
                Some(description) if !description.is_empty() => format!("{code}: {description}"),
                _ => code.clone(),
            },
        ),
        serde_json::Value::Object(_) => {
            let detail = serde_json::from_slice::<GoogleError>(&reply.body)
                .unwrap_or_default()
                .error
                .unwrap_or_default();
            (
                canonical_kind(&detail.status)
                    .filter(|kind| *kind != ProviderErrorKind::InvalidReference)
                    .unwrap_or_else(|| status_kind(reply.status)),
                format!("{}: {}", detail.status, detail.message),
            )
        }
        _ => (status_kind(reply.status), String::new()),
    };
    let message = if detail.is_empty() {
        format!("{who} refused a token")
    } else {
        format!("{who} refused a token ({detail})")
    };
    reply.error_of_kind(PROVIDER_ID, kind, &message)
}

/// An OAuth 2.0 error code's kind: a refused grant or client is `Unauthorized` (sign in
/// again), a malformed request or scope is the configuration's fault.
fn oauth_kind(code: &str, status: StatusCode) -> ProviderErrorKind {
    match code {
        "invalid_grant"
        | "invalid_client"
        | "unauthorized_client"
        | "invalid_token"
        | "access_denied" => ProviderErrorKind::Unauthorized,
        "invalid_request" | "invalid_scope" | "unsupported_grant_type" | "invalid_target" => {
            ProviderErrorKind::Configuration
        }
        "temporarily_unavailable" | "server_error" => ProviderErrorKind::Unavailable,
        _ => status_kind(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn google(code: u16, status: &str, message: &str) -> Reply {
        let body =
            serde_json::json!({"error": {"code": code, "message": message, "status": status}});
        Reply::fake(code, &body.to_string())
    }

    const WHAT: &str = "secret version `projects/p/secrets/s/versions/1`";

    /// Status, canonical code, message, expected kind, and what the error must say.
    #[rustfmt::skip]
    const SECRET_MANAGER: &[(u16, &str, &str, ProviderErrorKind, &str)] = &[
        (404, "NOT_FOUND", "Secret [projects/1/secrets/s] not found or has no versions.", ProviderErrorKind::NotFound, "not found"),
        (403, "PERMISSION_DENIED", "Permission 'secretmanager.versions.access' denied", ProviderErrorKind::Forbidden, "secretmanager.versions.access"),
        (400, "FAILED_PRECONDITION", "Secret Version [projects/1/secrets/s/versions/1] is in DISABLED state.", ProviderErrorKind::Forbidden, "is disabled"),
        (400, "FAILED_PRECONDITION", "Secret Version [projects/1/secrets/s/versions/1] is in DESTROYED state.", ProviderErrorKind::NotFound, "is destroyed"),
        (400, "FAILED_PRECONDITION", "something else", ProviderErrorKind::Protocol, "failed to give"),
        (401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", ProviderErrorKind::Unauthorized, "access token"),
        (429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Access requests'", ProviderErrorKind::RateLimited, "quota"),
        (503, "UNAVAILABLE", "The service is currently unavailable.", ProviderErrorKind::Unavailable, "failed to give"),
        (500, "INTERNAL", "Internal error encountered.", ProviderErrorKind::Unavailable, "failed to give"),
        (504, "DEADLINE_EXCEEDED", "Deadline exceeded.", ProviderErrorKind::Timeout, "failed to give"),
        (400, "INVALID_ARGUMENT", "Invalid resource field value in the request.", ProviderErrorKind::InvalidReference, "failed to give"),
    ];

    #[test]
    fn secret_manager_errors_map_by_canonical_code() {
        for (code, status, message, kind, says) in SECRET_MANAGER {
            let error = secret_manager(&google(*code, status, message), WHAT);
            assert_eq!(error.kind(), *kind, "{status}: {error}");
            assert!(error.message().contains(says), "{status}: {error}");
            assert!(
                error.message().contains(&format!("(HTTP {code})")),
                "{error}"
            );
            assert!(error.message().contains(WHAT), "{error}");
        }
    }

    #[test]
    fn bodies_that_are_not_googles_fall_back_on_the_status() {
        for (code, kind) in [
            (429, ProviderErrorKind::RateLimited),
            (502, ProviderErrorKind::Unavailable),
            (404, ProviderErrorKind::NotFound),
            (418, ProviderErrorKind::Protocol),
        ] {
            let error = secret_manager(&Reply::fake(code, "<html>oops</html>"), WHAT);
            assert_eq!(error.kind(), kind, "{code}");
            assert!(!error.message().contains("oops"), "{error}");
        }
    }

    #[test]
    fn token_endpoint_errors_map_by_oauth_code_or_canonical_code() {
        let oauth = |code: u16, error: &str| {
            Reply::fake(
                code,
                &serde_json::json!({"error": error, "error_description": "Invalid JWT Signature."})
                    .to_string(),
            )
        };
        let table = [
            (oauth(400, "invalid_grant"), ProviderErrorKind::Unauthorized),
            (
                oauth(401, "invalid_client"),
                ProviderErrorKind::Unauthorized,
            ),
            (
                oauth(400, "invalid_scope"),
                ProviderErrorKind::Configuration,
            ),
            (
                oauth(400, "invalid_request"),
                ProviderErrorKind::Configuration,
            ),
            (
                oauth(503, "temporarily_unavailable"),
                ProviderErrorKind::Unavailable,
            ),
            (
                oauth(429, "rate_limit_exceeded"),
                ProviderErrorKind::RateLimited,
            ),
            (
                google(
                    403,
                    "PERMISSION_DENIED",
                    "Permission 'iam.serviceAccounts.getAccessToken' denied",
                ),
                ProviderErrorKind::Forbidden,
            ),
            (
                google(400, "INVALID_ARGUMENT", "bad lifetime"),
                ProviderErrorKind::Protocol,
            ),
            (Reply::fake(404, "Not Found"), ProviderErrorKind::NotFound),
        ];
        for (reply, kind) in table {
            let error = token_endpoint(&reply, "Google's token endpoint");
            assert_eq!(error.kind(), kind, "{error}");
            assert!(
                error
                    .message()
                    .starts_with("Google's token endpoint refused a token"),
                "{error}"
            );
        }
        let error = token_endpoint(&oauth(400, "invalid_grant"), "STS");
        assert!(
            error
                .message()
                .contains("invalid_grant: Invalid JWT Signature."),
            "{error}"
        );
    }
}
