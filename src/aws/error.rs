//! AWS errors into [`ProviderError`]s, and the provider ids they carry: by the service's
//! error code, never by HTTP status
//! alone (AWS answers 400 for a missing secret where emulators answer 404, and a signature
//! error may come as JSON or as XML). Every piece of server text that reaches an error is
//! scrubbed of the credentials the provider holds or has sent, since a hostile server may
//! echo the signed request (access key ID, session token) in its error message.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::provider::http::Scrubber;
use crate::provider::{ProviderError, ProviderErrorKind};

/// The id of the AWS Secrets Manager provider.
pub const PROVIDER_ID: &str = "aws";

/// The id of the AWS Systems Manager Parameter Store provider.
pub const SSM_PROVIDER_ID: &str = "aws-ssm";

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

/// Codes of refused access: IAM, and KMS refusing to decrypt a secret or a
/// `SecureString` (`InvalidKeyId` is Parameter Store's word for a disabled or unusable key).
const FORBIDDEN: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "DecryptionFailure",
    "KMSAccessDeniedException",
    "InvalidKeyId",
];

/// Codes of something that is not there: Secrets Manager's and Parameter Store's.
const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
];

const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ThrottledException",
];

const UNAVAILABLE: &[&str] = &[
    "InternalServiceError",
    "InternalServiceErrorException",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

const REFUSED_REQUEST: &[&str] = &[
    "InvalidParameterException",
    "ValidationException",
    "InvalidRequestException",
];

/// The AWS service a provider reads from: its provider id and its name in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Service {
    /// The id of the provider's errors.
    pub(crate) provider: &'static str,
    /// "AWS Secrets Manager", for messages.
    pub(crate) name: &'static str,
}

/// Maps a provider's AWS failures to [`ProviderError`]s, scrubbing server text of the
/// credentials its [`Scrubber`] knows.
#[derive(Debug, Clone)]
pub(crate) struct Errors {
    service: Service,
    scrubber: Arc<Scrubber>,
}

impl Errors {
    pub(crate) fn new(service: Service, scrubber: Arc<Scrubber>) -> Self {
        Errors { service, scrubber }
    }

    /// The id of the provider the errors belong to.
    pub(crate) fn provider(&self) -> &'static str {
        self.service.provider
    }

    /// An error of `kind` about the service, without server text.
    pub(crate) fn plain(&self, kind: ProviderErrorKind, message: String) -> ProviderError {
        ProviderError::new(self.service.provider, kind, message)
    }

    /// The kind and message for an error code (`ResourceNotFoundException`), as returned by
    /// a call or listed in a `BatchGetSecretValue` answer. `message` is the service's own
    /// message, scrubbed before it is quoted.
    pub(crate) fn of_code(&self, code: &str, message: Option<&str>, what: &str) -> ProviderError {
        let service = self.service.name;
        let said = message
            .filter(|m| !m.is_empty())
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let (kind, text) = match code {
            _ if NOT_FOUND.contains(&code) => (
                ProviderErrorKind::NotFound,
                format!("{what} not found in {service} ({code}{said})"),
            ),
            "InvalidRequestException" if message.is_some_and(scheduled_for_deletion) => (
                ProviderErrorKind::NotFound,
                format!(
                    "{what} is scheduled for deletion in {service}; restore it \
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
                format!("{service} failed to answer for {what} ({code}{said})"),
            ),
            _ if REFUSED_REQUEST.contains(&code) => (
                ProviderErrorKind::InvalidReference,
                format!("{service} refused the request for {what} ({code}{said})"),
            ),
            _ => (
                ProviderErrorKind::Protocol,
                format!("{service} answered an unexpected error for {what} ({code}{said})"),
            ),
        };
        self.plain(kind, self.scrubber.scrub(&text))
    }

    /// Maps a failed SDK call about `what` (such as "secret `prod/db`"). The SDK's error is
    /// kept as the source only as scrubbed text: its `Debug` shows the raw answer.
    pub(crate) fn of_sdk<E>(&self, error: SdkError<E, HttpResponse>, what: &str) -> ProviderError
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
                    Some(code) => self.of_code(&code, context.err().message(), what),
                    None => self.by_status(context.raw().status().as_u16(), what),
                }
            }
            SdkError::TimeoutError(_) => self.plain(
                ProviderErrorKind::Timeout,
                format!("{} did not answer in time for {what}", self.service.name),
            ),
            SdkError::DispatchFailure(failure) => self.dispatch(&error, failure.is_timeout(), what),
            SdkError::ResponseError(context) => {
                let status = context.raw().status().as_u16();
                match code_in_body(context.raw()) {
                    Some(code) => self.of_code(&code, None, what),
                    None if status >= 500 => self.by_status(status, what),
                    None => self.plain(
                        ProviderErrorKind::Protocol,
                        format!(
                            "cannot read {}'s answer for {what} (HTTP {status})",
                            self.service.name
                        ),
                    ),
                }
            }
            SdkError::ConstructionFailure(_) => match find::<CredentialsError>(&error) {
                Some(credentials) => self.of_credentials(credentials),
                None => self.plain(
                    ProviderErrorKind::Configuration,
                    format!(
                        "cannot build the request for {what}: is a region set (builder \
                         `.region()`, AWS_REGION or the profile)?"
                    ),
                ),
            },
            _ => self.plain(
                ProviderErrorKind::Protocol,
                format!("the AWS SDK failed for {what}"),
            ),
        };
        mapped.with_source(self.scrubbed(&error))
    }

    /// A request that got no usable answer: the door's own verdict (a redirect refused, an
    /// answer over the cap, a timeout) when it is in the chain, else the credentials
    /// provider's failure, else a network failure.
    fn dispatch(
        &self,
        error: &(dyn StdError + 'static),
        timeout: bool,
        what: &str,
    ) -> ProviderError {
        if let Some(credentials) = find::<CredentialsError>(error) {
            return self.of_credentials(credentials);
        }
        if let Some(door) = find::<ProviderError>(error) {
            return self.plain(door.kind(), format!("{} (for {what})", door.message()));
        }
        if timeout {
            return self.plain(
                ProviderErrorKind::Timeout,
                format!("connecting to {} timed out for {what}", self.service.name),
            );
        }
        self.plain(
            ProviderErrorKind::Unavailable,
            format!("cannot reach {} for {what}", self.service.name),
        )
    }

    /// For a status without a readable error code: only the broad classes.
    fn by_status(&self, status: u16, what: &str) -> ProviderError {
        let kind = match status {
            401 => ProviderErrorKind::Unauthorized,
            403 => ProviderErrorKind::Forbidden,
            429 => ProviderErrorKind::RateLimited,
            500..=599 => ProviderErrorKind::Unavailable,
            _ => ProviderErrorKind::Protocol,
        };
        self.plain(
            kind,
            format!(
                "{} answered HTTP {status} without an error code for {what}",
                self.service.name
            ),
        )
    }

    /// Why credentials could not be had: none found, a bad setting, a timeout, a refusal
    /// (an assumed role that STS would not grant, an expired SSO session), or a transient
    /// failure of the credentials endpoint (unreachable, throttled, 5xx), which the
    /// provider's retry policy retries: the SDK's own retries are off for credentials too.
    pub(crate) fn of_credentials(&self, error: &CredentialsError) -> ProviderError {
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
                "the AWS credentials are misconfigured (a profile, a role or a credentials \
                 file); see the error's source"
                    .to_owned(),
            ),
            CredentialsError::ProviderTimedOut(_) => (
                ProviderErrorKind::Timeout,
                "loading AWS credentials timed out".to_owned(),
            ),
            CredentialsError::ProviderError(_) => {
                let said = self.scrubber.scrub(&describe_chain(error));
                match transient_kind(error, &said) {
                    Some(kind) => (
                        kind,
                        format!("the AWS credentials endpoint failed to answer: {said}"),
                    ),
                    None => (
                        ProviderErrorKind::Unauthorized,
                        format!("the AWS credentials provider failed (reauthenticate): {said}"),
                    ),
                }
            }
            _ => (
                ProviderErrorKind::Unavailable,
                "loading AWS credentials failed; see the error's source".to_owned(),
            ),
        };
        self.plain(kind, message)
    }

    /// The whole chain of `error` as scrubbed text, for an error's source.
    fn scrubbed(&self, error: &(dyn StdError + 'static)) -> Scrubbed {
        Scrubbed(self.scrubber.scrub(&DisplayErrorContext(error).to_string()))
    }
}

/// The text of an SDK error, scrubbed: what the SDK said, without its raw answer.
struct Scrubbed(String);

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AwsSdkError").field(&self.0).finish()
    }
}

impl StdError for Scrubbed {}

fn scheduled_for_deletion(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("deletion") || lower.contains("deleted")
}

/// The error code of an answer the SDK could not classify: the `x-amzn-ErrorType` header,
/// a JSON `__type`, or an XML `<Code>` (query-protocol services and some emulators answer
/// signature errors in XML).
fn code_in_body(response: &HttpResponse) -> Option<String> {
    if let Some(code) = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(clean_code)
    {
        return Some(code);
    }
    code_in_text(std::str::from_utf8(response.body().bytes()?).ok()?)
}

fn code_in_text(body: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let code = json
            .get("__type")
            .or_else(|| json.get("code"))
            .or_else(|| json.get("Code"))?;
        return code.as_str().and_then(clean_code);
    }
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    clean_code(&body[start..end])
}

/// `aws.protocols#ThrottlingException:http://…` → `ThrottlingException`.
fn clean_code(code: &str) -> Option<String> {
    let code = code.rsplit('#').next().unwrap_or(code);
    let code = code.split(':').next().unwrap_or(code).trim();
    (!code.is_empty()).then(|| code.to_owned())
}

/// The first error of type `T` in `error`'s chain.
fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// The transient kind of a credentials provider's failure: the door's own verdict (a
/// timeout, an unreachable endpoint), else a throttling or unavailable code in what the
/// endpoint answered (`unhandled error (Throttling)`); `None` for a refusal.
fn transient_kind(error: &(dyn StdError + 'static), said: &str) -> Option<ProviderErrorKind> {
    if let Some(door) = find::<ProviderError>(error) {
        return door.kind().is_transient().then(|| door.kind());
    }
    let coded = |codes: &[&str]| codes.iter().any(|code| said.contains(&format!("({code})")));
    if coded(THROTTLED) {
        Some(ProviderErrorKind::RateLimited)
    } else if coded(UNAVAILABLE) {
        Some(ProviderErrorKind::Unavailable)
    } else {
        None
    }
}

/// What a failing credentials provider said: the STS or SSO answer's code and message,
/// which name the role or account but never hold a key (and are scrubbed all the same).
fn describe_chain(error: &CredentialsError) -> String {
    match error.source() {
        Some(source) => DisplayErrorContext(source).to_string(),
        None => "no further detail".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    const SERVICE: Service = Service {
        provider: "aws",
        name: "AWS Secrets Manager",
    };

    fn errors() -> Errors {
        let scrubber = Arc::new(Scrubber::new());
        scrubber.add(&SecretString::from("AKIAECHOEDKEY0000001"));
        Errors::new(SERVICE, scrubber)
    }

    #[test]
    fn codes_map_to_kinds() {
        use ProviderErrorKind::*;
        let table: &[(&str, Option<&str>, ProviderErrorKind)] = &[
            ("ResourceNotFoundException", None, NotFound),
            ("ParameterNotFound", None, NotFound),
            ("ParameterVersionNotFound", None, NotFound),
            (
                "InvalidRequestException",
                Some(
                    "You can't perform this operation on the secret because it was marked for deletion.",
                ),
                NotFound,
            ),
            ("InvalidRequestException", Some("other"), InvalidReference),
            ("ValidationException", None, InvalidReference),
            ("AccessDeniedException", None, Forbidden),
            ("DecryptionFailure", None, Forbidden),
            ("InvalidKeyId", None, Forbidden),
            ("UnrecognizedClientException", None, Unauthorized),
            ("ExpiredTokenException", None, Unauthorized),
            ("SignatureDoesNotMatch", None, Unauthorized),
            ("ThrottlingException", None, RateLimited),
            ("InternalServiceError", None, Unavailable),
            ("InternalServerError", None, Unavailable),
            ("SomethingNew", None, Protocol),
        ];
        for (code, message, kind) in table {
            let error = errors().of_code(code, *message, "secret `x` in us-east-1");
            assert_eq!(error.kind(), *kind, "{code}");
            assert_eq!(error.provider(), "aws");
            assert!(error.message().contains(code), "{code}: {error}");
        }
    }

    #[test]
    fn messages_name_the_service_and_are_scrubbed() {
        let ssm = Errors::new(
            Service {
                provider: "aws-ssm",
                name: "AWS Systems Manager Parameter Store",
            },
            Arc::new(Scrubber::new()),
        );
        let error = ssm.of_code("ParameterNotFound", None, "parameter `/a`");
        assert_eq!(error.provider(), "aws-ssm");
        assert!(error.message().contains("Parameter Store"), "{error}");

        let echoed = errors().of_code(
            "UnrecognizedClientException",
            Some("Credential=AKIAECHOEDKEY0000001/20240101/us-east-1/secretsmanager/aws4_request"),
            "secret `x`",
        );
        assert!(
            !echoed.message().contains("AKIAECHOEDKEY0000001"),
            "{echoed}"
        );
        assert!(echoed.message().contains("[credential]"), "{echoed}");
    }

    #[test]
    fn statuses_without_codes_map_to_broad_kinds() {
        use ProviderErrorKind::*;
        for (status, kind) in [
            (401, Unauthorized),
            (403, Forbidden),
            (429, RateLimited),
            (503, Unavailable),
            (418, Protocol),
        ] {
            assert_eq!(errors().by_status(status, "x").kind(), kind, "{status}");
        }
    }

    #[test]
    fn codes_are_read_from_json_xml_and_headers() {
        for (body, code) in [
            (
                r#"{"__type":"ThrottlingException","message":"x"}"#,
                "ThrottlingException",
            ),
            (
                r#"{"__type":"com.amazon#AccessDeniedException:http://x/"}"#,
                "AccessDeniedException",
            ),
            (r#"{"code":"ParameterNotFound"}"#, "ParameterNotFound"),
            (
                "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>",
                "SignatureDoesNotMatch",
            ),
        ] {
            assert_eq!(code_in_text(body).as_deref(), Some(code), "{body}");
        }
        assert_eq!(code_in_text(r#"{"message":"no code"}"#), None);
        assert_eq!(code_in_text("<Code></Code>"), None);
        assert_eq!(
            clean_code("AccessDeniedException:http://internal.amazon.com/coral/").as_deref(),
            Some("AccessDeniedException")
        );
    }

    #[test]
    fn credentials_failures_are_transient_only_when_the_endpoint_is() {
        let door = ProviderError::new("aws", ProviderErrorKind::Timeout, "slow");
        assert_eq!(
            transient_kind(&door, "anything"),
            Some(ProviderErrorKind::Timeout)
        );
        let io = std::io::Error::other("x");
        assert_eq!(
            transient_kind(
                &io,
                "service error: unhandled error (Throttling): Rate exceeded"
            ),
            Some(ProviderErrorKind::RateLimited)
        );
        assert_eq!(
            transient_kind(&io, "unhandled error (ServiceUnavailable)"),
            Some(ProviderErrorKind::Unavailable)
        );
        assert_eq!(transient_kind(&io, "AccessDenied: not allowed"), None);
        let refused = ProviderError::new("aws", ProviderErrorKind::Forbidden, "no");
        assert_eq!(transient_kind(&refused, ""), None);
    }

    #[test]
    fn the_doors_verdict_is_kept_for_a_dispatch_failure() {
        let door = ProviderError::new("aws", ProviderErrorKind::Protocol, "redirected to x");
        let mapped = errors().dispatch(&door, false, "secret `s`");
        assert_eq!(mapped.kind(), ProviderErrorKind::Protocol);
        assert!(mapped.message().contains("redirected to x"), "{mapped}");
        let io = std::io::Error::other("refused");
        assert_eq!(
            errors().dispatch(&io, false, "s").kind(),
            ProviderErrorKind::Unavailable
        );
        assert_eq!(
            errors().dispatch(&io, true, "s").kind(),
            ProviderErrorKind::Timeout
        );
    }
}
