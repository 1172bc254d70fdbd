//! The 1Password provider's errors: the id they carry, and what 1Password's answers mean as
//! error kinds: a Connect server's error bodies (`{"status": 404, "message": …}`) and the
//! `op` CLI's error output (`[ERROR] <date> <time> <message>`), with server and CLI text
//! scrubbed of the provider's credentials before it goes into a message.

use super::reference::{ReferenceError, is_id};
use super::wire::ErrorBody;
use crate::Error;
use crate::provider::http::{Reply, Scrubber};
use crate::provider::{ProviderError, ProviderErrorKind};

/// The id of the 1Password provider.
pub const PROVIDER_ID: &str = "1password";

/// An error of the 1Password provider.
pub(crate) fn error(kind: ProviderErrorKind, message: String) -> ProviderError {
    ProviderError::new(PROVIDER_ID, kind, message)
}

impl From<ReferenceError> for ProviderError {
    /// An [`InvalidReference`](crate::ProviderErrorKind::InvalidReference) error of the
    /// 1Password provider, with the reference, the offset and this error as its source.
    fn from(error: ReferenceError) -> Self {
        ProviderError::invalid_reference(
            PROVIDER_ID,
            error.input().to_owned(),
            error.offset(),
            error.to_string(),
        )
        .with_source(error)
    }
}

impl From<ReferenceError> for Error {
    /// [`Error::InvalidReference`], through the crate's one conversion from provider errors.
    fn from(error: ReferenceError) -> Self {
        Error::from(ProviderError::from(error))
    }
}

/// The error of a Connect server's non-2xx answer: the kind from the status (401
/// Unauthorized, 403 Forbidden, 404 NotFound, 429 RateLimited, 5xx Unavailable), the
/// server's `message` (scrubbed) when the body has one.
pub(crate) fn connect_failure(reply: &Reply) -> ProviderError {
    let message = serde_json::from_slice::<ErrorBody>(&reply.body)
        .map(|body| body.message)
        .unwrap_or_default();
    reply.error(PROVIDER_ID, &message)
}

/// What `op` says when too many requests were made.
const RATE_LIMITED: &[&str] = &["too many requests", "rate limit", "(429)"];

/// What `op` says when it is not signed in or its token is refused.
const UNAUTHORIZED: &[&str] = &[
    "not currently signed in",
    "account is not signed in",
    "authorization prompt dismissed",
    "unauthorized",
    "invalid token",
    "authentication",
    "(401)",
];

/// What `op` says when the token may not read a vault or item.
const FORBIDDEN: &[&str] = &["forbidden", "(403)", "does not have access"];

/// What `op` says when a vault, item, field or file does not exist.
const NOT_FOUND: &[&str] = &[
    "isn't a",
    "not found",
    "could not find",
    "does not have a field",
    "no item",
];

/// What `op` says when 1Password could not be reached.
const UNAVAILABLE: &[&str] = &["timeout", "connection", "(5"];

/// The error of an `op` run that failed, from its error output: the kind from what it
/// says (ambiguous names list their candidates' IDs), and its first line, scrubbed, without
/// the `[ERROR] <date> <time>` prefix, as the message (it names references and items, not
/// values).
pub(crate) fn op_failure(stderr: &str, scrubber: &Scrubber) -> ProviderError {
    let stderr = scrubber.scrub(stderr);
    let line = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("`op` failed without saying why");
    let message = line
        .strip_prefix("[ERROR] ")
        .map(|rest| rest.splitn(3, ' ').nth(2).unwrap_or(rest))
        .unwrap_or(line)
        .trim();
    let lower = stderr.to_ascii_lowercase();
    let says = |phrases: &[&str]| phrases.iter().any(|p| lower.contains(p));
    let kind = if says(RATE_LIMITED) {
        ProviderErrorKind::RateLimited
    } else if says(&["more than one", "ambiguous"]) {
        ProviderErrorKind::Ambiguous
    } else if says(UNAUTHORIZED) {
        ProviderErrorKind::Unauthorized
    } else if says(FORBIDDEN) {
        ProviderErrorKind::Forbidden
    } else if says(NOT_FOUND) {
        ProviderErrorKind::NotFound
    } else if says(UNAVAILABLE) {
        ProviderErrorKind::Unavailable
    } else {
        ProviderErrorKind::Protocol
    };
    let failure = error(kind, format!("`op`: {message}"));
    if kind != ProviderErrorKind::Ambiguous {
        return failure;
    }
    let candidates = stderr
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| is_id(word))
        .map(str::to_owned)
        .collect();
    failure.with_candidates(candidates)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[test]
    fn connect_answers_map_to_kinds() {
        let cases = [
            (
                401,
                r#"{"status":401,"message":"Invalid token signature"}"#,
                ProviderErrorKind::Unauthorized,
                "Invalid token signature (HTTP 401)",
            ),
            (
                403,
                r#"{"status":403,"message":"vault abc is not in scope"}"#,
                ProviderErrorKind::Forbidden,
                "vault abc is not in scope (HTTP 403)",
            ),
            (
                404,
                r#"{"status":404,"message":"item xyz not found"}"#,
                ProviderErrorKind::NotFound,
                "item xyz not found (HTTP 404)",
            ),
            (
                429,
                r#"{"status":429,"message":"too many requests"}"#,
                ProviderErrorKind::RateLimited,
                "too many requests (HTTP 429)",
            ),
            (
                503,
                "<html>upstream unavailable</html>",
                ProviderErrorKind::Unavailable,
                "Service Unavailable (HTTP 503)",
            ),
            (
                400,
                r#"{"status":400}"#,
                ProviderErrorKind::Protocol,
                "Bad Request (HTTP 400)",
            ),
        ];
        for (status, body, kind, message) in cases {
            let failure = connect_failure(&Reply::fake(status, body));
            assert_eq!(failure.kind(), kind, "{status} {body}");
            assert_eq!(failure.message(), message, "{status} {body}");
            assert_eq!(failure.provider(), PROVIDER_ID);
        }
    }

    #[test]
    fn connect_text_is_scrubbed_of_the_token() {
        let reply = Reply::fake(
            400,
            r#"{"status":400,"message":"bad header: Bearer connect-T0KEN-x"}"#,
        );
        reply.scrubber.add(&SecretString::from("connect-T0KEN-x"));
        let failure = connect_failure(&reply);
        assert!(!failure.message().contains("T0KEN"), "{failure}");
        assert!(failure.message().contains("[credential]"), "{failure}");
    }

    #[test]
    fn op_errors_map_to_kinds() {
        let cases = [
            (
                "[ERROR] 2024/01/01 12:00:00 \"Postgres\" isn't an item in the \"Prod\" vault. Specify the item with its ID, name, or domain.",
                ProviderErrorKind::NotFound,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 More than one item matches \"db\". Try again and specify the item by its ID:\n\t* for the item \"db\" in vault Prod: abcdefghijklmnopqrstuvwxyz\n\t* for the item \"db\" in vault Prod: bcdefghijklmnopqrstuvwxyza",
                ProviderErrorKind::Ambiguous,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 Too many requests. Retry later.",
                ProviderErrorKind::RateLimited,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 You are not currently signed in. Please run `op signin --help` for instructions",
                ProviderErrorKind::Unauthorized,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 account is not signed in",
                ProviderErrorKind::Unauthorized,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 authorization prompt dismissed, please try again",
                ProviderErrorKind::Unauthorized,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 Authentication: (401) Unauthorized, invalid token",
                ProviderErrorKind::Unauthorized,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 (403) Forbidden: the service account does not have access",
                ProviderErrorKind::Forbidden,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 could not find field \"nope\"",
                ProviderErrorKind::NotFound,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 (503) Service Unavailable",
                ProviderErrorKind::Unavailable,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 something new",
                ProviderErrorKind::Protocol,
            ),
            ("", ProviderErrorKind::Protocol),
        ];
        let scrubber = Scrubber::new();
        for (stderr, kind) in cases {
            let failure = op_failure(stderr, &scrubber);
            assert_eq!(failure.kind(), kind, "{stderr}");
            assert_eq!(failure.provider(), PROVIDER_ID);
            assert!(
                failure.message().starts_with("`op`: "),
                "{}",
                failure.message()
            );
            assert!(
                !failure.message().contains("[ERROR]") && !failure.message().contains("2024/"),
                "{}",
                failure.message()
            );
        }
        let ambiguous = op_failure(cases[1].0, &scrubber);
        assert_eq!(
            ambiguous.candidates(),
            ["abcdefghijklmnopqrstuvwxyz", "bcdefghijklmnopqrstuvwxyza"]
        );
    }

    #[test]
    fn op_output_is_scrubbed_of_the_token() {
        let scrubber = Scrubber::new();
        let token = SecretString::from("ops_eyJzZWNyZXQiOiJ4In0");
        scrubber.add(&token);
        let stderr = "[ERROR] 2024/01/01 12:00:00 (400) op inject; OP_SERVICE_ACCOUNT_TOKEN=ops_eyJzZWNyZXQiOiJ4In0 HOME=/root\nOP_SERVICE_ACCOUNT_TOKEN=ops_eyJzZWNyZXQiOiJ4In0\n";
        let failure = op_failure(stderr, &scrubber);
        let shown = format!("{failure} {failure:?}");
        assert!(!shown.contains("ops_eyJ"), "{shown}");
        assert!(shown.contains("[credential]"), "{shown}");
    }
}
