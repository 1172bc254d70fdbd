//! AWS errors into [`ProviderError`]s: by the service's error code, never by HTTP status
//! alone (AWS answers 400 for a missing secret where emulators answer 404, and a signature
//! error may come as JSON or as XML).

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::provider::{ProviderError, ProviderErrorKind};

use super::PROVIDER_ID;

/// Codes of refused or missing credentials (AWS's common errors, Secrets Manager's and
/// STS's spellings).
const UNAUTHORIZED: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "NotAuthorized",
    "AuthFailure",
    "RequestExpired",
    "InvalidAccessKeyId",
];

const FORBIDDEN: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "DecryptionFailure",
    "KMSAccessDeniedException",
];

const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

const UNAVAILABLE: &[&str] = &[
    "InternalServiceError",
    "InternalServiceErrorException",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// The kind and message for a Secrets Manager error code (`ResourceNotFoundException`), as
/// returned by a call or listed in a `BatchGetSecretValue` answer. `message` is the
/// service's own message (it never holds a secret value).
pub(crate) fn from_code(code: &str, message: Option<&str>, what: &str) -> ProviderError {
    let said = message
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let (kind, text) = match code {
        "ResourceNotFoundException" => (
            ProviderErrorKind::NotFound,
            format!("{what} not found in AWS Secrets Manager ({code}{said})"),
        ),
        "InvalidRequestException" if message.is_some_and(scheduled_for_deletion) => (
            ProviderErrorKind::NotFound,
            format!(
                "{what} is scheduled for deletion in AWS Secrets Manager; restore it \
                 (RestoreSecret) to read it again ({code}{said})"
            ),
        ),
        _ if FORBIDDEN.contains(&code) => (
            ProviderErrorKind::Forbidden,
            format!("AWS refused access to {what} for these credentials ({code}{said})"),
        ),
        _ if UNAUTHORIZED.contains(&code) => (
            ProviderErrorKind::Unauthorized,
            format!("AWS refused the credentials ({code}{said})"),
        ),
        _ if THROTTLED.contains(&code) => (
            ProviderErrorKind::RateLimited,
            format!("AWS throttled the request for {what} ({code})"),
        ),
        _ if UNAVAILABLE.contains(&code) => (
            ProviderErrorKind::Unavailable,
            format!("AWS Secrets Manager failed to answer for {what} ({code}{said})"),
        ),
        "InvalidParameterException" | "ValidationException" | "InvalidRequestException" => (
            ProviderErrorKind::InvalidReference,
            format!("AWS Secrets Manager refused the request for {what} ({code}{said})"),
        ),
        _ => (
            ProviderErrorKind::Protocol,
            format!("AWS Secrets Manager answered an unexpected error for {what} ({code}{said})"),
        ),
    };
    ProviderError::new(PROVIDER_ID, kind, text)
}

fn scheduled_for_deletion(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("deletion") || lower.contains("deleted")
}

/// Maps a failed SDK call about `what` (such as "secret `prod/db`").
pub(crate) fn from_sdk<E>(error: SdkError<E, HttpResponse>, what: &str) -> ProviderError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let mapped = match &error {
        SdkError::ServiceError(context) => {
            let code = context
                .err()
                .code()
                .map(str::to_owned)
                .or_else(|| code_in_body(context.raw()));
            match code {
                Some(code) => from_code(&code, context.err().message(), what),
                None => by_status(context.raw().status().as_u16(), what),
            }
        }
        SdkError::TimeoutError(_) => ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Timeout,
            format!("AWS Secrets Manager did not answer in time for {what}"),
        ),
        SdkError::DispatchFailure(failure) => match credentials_error(&error) {
            Some(credentials) => from_credentials(credentials),
            None if failure.is_timeout() => ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Timeout,
                format!("connecting to AWS Secrets Manager timed out for {what}"),
            ),
            None => ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Unavailable,
                format!("cannot reach AWS Secrets Manager for {what}"),
            ),
        },
        SdkError::ResponseError(context) => {
            let status = context.raw().status().as_u16();
            match code_in_body(context.raw()) {
                Some(code) => from_code(&code, None, what),
                None if status >= 500 => by_status(status, what),
                None => ProviderError::new(
                    PROVIDER_ID,
                    ProviderErrorKind::Protocol,
                    format!("cannot read AWS Secrets Manager's answer for {what} (HTTP {status})"),
                ),
            }
        }
        SdkError::ConstructionFailure(_) => match credentials_error(&error) {
            Some(credentials) => from_credentials(credentials),
            None => ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Configuration,
                format!(
                    "cannot build the request for {what}: is a region set (builder `.region()`, \
                     AWS_REGION or the profile)?"
                ),
            ),
        },
        _ => ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Protocol,
            format!("the AWS SDK failed for {what}"),
        ),
    };
    mapped.with_source(error)
}

/// For a status without a readable error code: only the broad classes.
fn by_status(status: u16, what: &str) -> ProviderError {
    let kind = match status {
        401 => ProviderErrorKind::Unauthorized,
        403 => ProviderErrorKind::Forbidden,
        429 => ProviderErrorKind::RateLimited,
        500..=599 => ProviderErrorKind::Unavailable,
        _ => ProviderErrorKind::Protocol,
    };
    ProviderError::new(
        PROVIDER_ID,
        kind,
        format!("AWS Secrets Manager answered HTTP {status} without an error code for {what}"),
    )
}

/// The error code of an answer the SDK could not classify: the `x-amzn-ErrorType` header,
/// a JSON `__type`, or an XML `<Code>` (query-protocol services and some emulators answer
/// signature errors in XML).
fn code_in_body(response: &HttpResponse) -> Option<String> {
    let clean = |code: &str| {
        // `aws.protocols#ThrottlingException:http://…` → `ThrottlingException`.
        let code = code.rsplit('#').next().unwrap_or(code);
        let code = code.split(':').next().unwrap_or(code).trim();
        (!code.is_empty()).then(|| code.to_owned())
    };
    if let Some(code) = response.headers().get("x-amzn-errortype").and_then(clean) {
        return Some(code);
    }
    let body = std::str::from_utf8(response.body().bytes()?).ok()?;
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let code = json
            .get("__type")
            .or_else(|| json.get("code"))
            .or_else(|| json.get("Code"))?;
        return code.as_str().and_then(clean);
    }
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    clean(&body[start..end])
}

/// The credentials provider's own failure, somewhere in an SDK error's chain.
fn credentials_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// Why credentials could not be had: none found, a bad setting, a timeout, or a refusal
/// (an assumed role that STS would not grant, an expired SSO session).
pub(crate) fn from_credentials(error: &CredentialsError) -> ProviderError {
    let (kind, message) = match error {
        CredentialsError::CredentialsNotLoaded(_) => (
            ProviderErrorKind::Unauthorized,
            "no AWS credentials found: set them on the builder, in AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, in a profile, or through a role"
                .to_owned(),
        ),
        // Not described further: a profile parse error may quote the file.
        CredentialsError::InvalidConfiguration(_) => (
            ProviderErrorKind::Configuration,
            "the AWS credentials are misconfigured (a profile, a role or a credentials file); \
             see the error's source"
                .to_owned(),
        ),
        CredentialsError::ProviderTimedOut(_) => (
            ProviderErrorKind::Timeout,
            "loading AWS credentials timed out".to_owned(),
        ),
        CredentialsError::ProviderError(_) => (
            ProviderErrorKind::Unauthorized,
            format!(
                "the AWS credentials provider failed (reauthenticate): {}",
                describe_chain(error)
            ),
        ),
        _ => (
            ProviderErrorKind::Unavailable,
            "loading AWS credentials failed; see the error's source".to_owned(),
        ),
    };
    ProviderError::new(PROVIDER_ID, kind, message)
}

/// What a failing credentials provider said: the STS or SSO answer's code and message,
/// which name the role or account but never hold a key.
fn describe_chain(error: &CredentialsError) -> String {
    match error.source() {
        Some(source) => DisplayErrorContext(source).to_string(),
        None => "no further detail".to_owned(),
    }
}
