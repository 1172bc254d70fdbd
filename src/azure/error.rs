//! Azure's wire errors into [`ProviderError`]s, and the provider id they carry: Key Vault's
//! error body, Entra ID's OAuth errors and the managed identity endpoints' failures, each by
//! status and code, and which answers of each are transient (retried).
//!
//! Messages name the secret, the tenant, the client ID, the identity and the codes
//! (`SecretNotFound`, `invalid_client`, `AADSTS7000215`); they never quote a description
//! or a body, and every message passes the reply's scrubber, which masks the credentials
//! the provider holds.

use crate::provider::http::{Reply, status_kind};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::wire::{EntraError, ManagedError, VaultError};

/// The id of the Azure Key Vault provider.
pub const PROVIDER_ID: &str = "azure";

/// A configuration error of the provider.
pub(crate) fn configuration(message: impl Into<String>) -> ProviderError {
    ProviderError::new(PROVIDER_ID, ProviderErrorKind::Configuration, message)
}

/// The error for a token endpoint (`from` names it) that answered with an empty access
/// token: [`ProviderErrorKind::Protocol`].
pub(crate) fn empty_token(from: &str) -> ProviderError {
    ProviderError::new(
        PROVIDER_ID,
        ProviderErrorKind::Protocol,
        format!("{from} sent an empty access token"),
    )
}

/// Whether Key Vault's answer is worth another try: 408, 429 (throttled, with
/// `Retry-After`) and any 5xx.
pub(crate) fn vault_transient(reply: &Reply) -> bool {
    matches!(reply.status.as_u16(), 408 | 429 | 500..=599)
}

/// The error for Key Vault's non-2xx answer about `what` ("secret `db` in vault `prod`").
pub(crate) fn vault_failure(reply: &Reply, what: &str) -> ProviderError {
    let body: VaultError = serde_json::from_slice(&reply.body).unwrap_or_default();
    let codes = body.codes();
    let code_text = if codes.is_empty() {
        String::new()
    } else {
        format!(" ({})", codes.join(", "))
    };
    let has = |code: &str| codes.iter().any(|c| c.eq_ignore_ascii_case(code));
    let (kind, message) = match reply.status.as_u16() {
        _ if has("SecretDisabled") => (
            ProviderErrorKind::Forbidden,
            format!(
                "{what} is disabled: Key Vault serves no value of a disabled secret (enable it to use it)"
            ),
        ),
        403 => (
            ProviderErrorKind::Forbidden,
            format!("the credential may not read {what}"),
        ),
        404 => (ProviderErrorKind::NotFound, format!("no {what}")),
        429 => (
            ProviderErrorKind::RateLimited,
            format!("Key Vault throttled the request for {what}"),
        ),
        _ => (
            status_kind(reply.status),
            format!("Key Vault failed to return {what}"),
        ),
    };
    reply.error_of_kind(PROVIDER_ID, kind, &format!("{message}{code_text}"))
}

/// Whether Entra ID's answer is worth another try: 429 and any 5xx.
pub(crate) fn entra_transient(reply: &Reply) -> bool {
    reply.status.as_u16() == 429 || reply.status.is_server_error()
}

/// The error for Entra ID's refusal of a token for `client_id` in `tenant`.
pub(crate) fn entra_failure(reply: &Reply, tenant: &str, client_id: &str) -> ProviderError {
    let body: EntraError = serde_json::from_slice(&reply.body).unwrap_or_default();
    let kind = match body.error.as_str() {
        "invalid_client" | "unauthorized_client" | "invalid_grant" => {
            ProviderErrorKind::Unauthorized
        }
        "invalid_request" | "invalid_scope" | "unsupported_grant_type"
            if reply.status.as_u16() == 400 =>
        {
            ProviderErrorKind::Configuration
        }
        "temporarily_unavailable" => ProviderErrorKind::Unavailable,
        _ => status_kind(reply.status),
    };
    let mut detail = if body.error.is_empty() {
        String::new()
    } else {
        format!(": {}", body.error)
    };
    if let Some(code) = body.error_codes.first() {
        detail.push_str(&format!(" (AADSTS{code})"));
    }
    reply.error_of_kind(
        PROVIDER_ID,
        kind,
        &format!(
            "Microsoft Entra ID refused a token for client `{client_id}` in tenant `{tenant}`{detail}"
        ),
    )
}

/// Whether a managed identity endpoint's answer is worth another try: IMDS answers 404 and
/// 410 while it is updating, 429 when throttled, 5xx when failing.
pub(crate) fn managed_transient(reply: &Reply) -> bool {
    matches!(reply.status.as_u16(), 404 | 410 | 429 | 500..=599)
}

/// The error for a managed identity endpoint (`target`) that gave no token for the
/// identity `client_id` (the system-assigned one when `None`).
pub(crate) fn managed_failure(
    reply: &Reply,
    target: &str,
    client_id: Option<&str>,
) -> ProviderError {
    let body: ManagedError = serde_json::from_slice(&reply.body).unwrap_or_default();
    let status = reply.status.as_u16();
    let kind = match status {
        400 => ProviderErrorKind::Configuration,
        404 | 410 => ProviderErrorKind::Unavailable,
        _ => status_kind(reply.status),
    };
    let identity = match client_id {
        Some(id) => format!("the user-assigned identity `{id}`"),
        None => "the system-assigned identity".to_owned(),
    };
    let code = if body.error.is_empty() {
        String::new()
    } else {
        format!(": {}", body.error)
    };
    let hint = if status == 400 {
        " (is a managed identity assigned to this host, and is the client ID right?)"
    } else {
        ""
    };
    reply.error_of_kind(
        PROVIDER_ID,
        kind,
        &format!("{target} gave no token for {identity}{code}{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProviderErrorKind::*;

    const DISABLED: &str = r#"{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}"#;
    const DENIED: &str = r#"{"error":{"code":"Forbidden","message":"no get permission","innererror":{"code":"AccessDenied"}}}"#;
    const MISSING: &str = r#"{"error":{"code":"SecretNotFound","message":"A secret with (name/id) db was not found"}}"#;
    const THROTTLED: &str = r#"{"error":{"code":"Throttled","message":"Try again later."}}"#;

    #[test]
    fn key_vault_errors_map_to_kinds() {
        let table: &[(u16, &str, ProviderErrorKind, bool, &str)] = &[
            (403, DISABLED, Forbidden, false, "is disabled"),
            (
                403,
                DENIED,
                Forbidden,
                false,
                "may not read secret `db` (Forbidden, AccessDenied)",
            ),
            (
                404,
                MISSING,
                NotFound,
                false,
                "no secret `db` (SecretNotFound)",
            ),
            (
                429,
                THROTTLED,
                RateLimited,
                true,
                "throttled the request for secret `db` (Throttled)",
            ),
            (
                503,
                "",
                Unavailable,
                true,
                "failed to return secret `db` (HTTP 503)",
            ),
            (500, "<html>", Unavailable, true, "failed to return"),
            (504, "{}", Timeout, true, "failed to return"),
            (
                400,
                r#"{"error":{"code":"BadParameter"}}"#,
                Protocol,
                false,
                "(BadParameter)",
            ),
            (401, "", Unauthorized, false, "failed to return"),
        ];
        for (status, body, kind, transient, says) in table {
            let reply = Reply::fake(*status, body);
            let error = vault_failure(&reply, "secret `db`");
            assert_eq!(error.kind(), *kind, "{status} {body}");
            assert_eq!(vault_transient(&reply), *transient, "{status}");
            assert!(error.message().contains(says), "{status}: {error}");
            assert!(
                !error.message().contains("not allowed on"),
                "no server text: {error}"
            );
        }
    }

    #[test]
    fn entra_errors_map_to_kinds() {
        let body = |error: &str, code: u64| {
            format!(
                r#"{{"error":"{error}","error_description":"AADSTS{code}: description","error_codes":[{code}]}}"#
            )
        };
        let table: &[(u16, String, ProviderErrorKind, bool)] = &[
            (401, body("invalid_client", 7000215), Unauthorized, false),
            (
                400,
                body("unauthorized_client", 700016),
                Unauthorized,
                false,
            ),
            (400, body("invalid_grant", 70021), Unauthorized, false),
            (400, body("invalid_request", 90002), Configuration, false),
            (400, body("invalid_scope", 70011), Configuration, false),
            (
                400,
                body("unsupported_grant_type", 70003),
                Configuration,
                false,
            ),
            (
                503,
                body("temporarily_unavailable", 50196),
                Unavailable,
                true,
            ),
            (429, String::new(), RateLimited, true),
            (500, "not json".to_owned(), Unavailable, true),
            (405, body("invalid_request", 900561), Protocol, false),
        ];
        for (status, body, kind, transient) in table {
            let reply = Reply::fake(*status, body);
            let error = entra_failure(&reply, "tenant-a", "app");
            assert_eq!(error.kind(), *kind, "{status} {body}");
            assert_eq!(entra_transient(&reply), *transient, "{status}");
            assert!(
                error
                    .message()
                    .contains("client `app` in tenant `tenant-a`"),
                "{error}"
            );
            assert!(!error.message().contains("description"), "{error}");
        }
        let error = entra_failure(
            &Reply::fake(401, &body("invalid_client", 7000215)),
            "t",
            "c",
        );
        assert!(
            error
                .message()
                .contains(": invalid_client (AADSTS7000215) (HTTP 401)"),
            "{error}"
        );
    }

    #[test]
    fn managed_identity_errors_map_to_kinds() {
        let not_found = r#"{"error":"invalid_request","error_description":"Identity not found"}"#;
        let table: &[(u16, &str, ProviderErrorKind, bool)] = &[
            (400, not_found, Configuration, false),
            (404, "", Unavailable, true),
            (410, "", Unavailable, true),
            (429, "", RateLimited, true),
            (500, "", Unavailable, true),
            (
                401,
                r#"{"statusCode":401,"message":"Unauthorized"}"#,
                Unauthorized,
                false,
            ),
            (403, "", Forbidden, false),
        ];
        for (status, body, kind, transient) in table {
            let reply = Reply::fake(*status, body);
            let error = managed_failure(&reply, "IMDS", Some("user-id"));
            assert_eq!(error.kind(), *kind, "{status}");
            assert_eq!(managed_transient(&reply), *transient, "{status}");
            assert!(
                error
                    .message()
                    .contains("the user-assigned identity `user-id`")
            );
        }
        let error = managed_failure(&Reply::fake(400, not_found), "IMDS", None);
        assert!(
            error
                .message()
                .contains("system-assigned identity: invalid_request")
        );
        assert!(error.message().contains("is a managed identity assigned"));
        assert!(!error.message().contains("Identity not found"));
    }

    #[test]
    fn empty_tokens_are_protocol_errors_naming_the_endpoint() {
        let error = empty_token("IMDS");
        assert_eq!(error.kind(), Protocol);
        assert!(error.message().contains("IMDS"), "{error}");
    }
}
