//! The crate's one error type, [`Error`], and the [`ErrorKind`] a caller matches on.
//!
//! Errors follow the troubleshooting model of Postman Vault: a secret is either *empty*
//! (there is no such secret, or it holds no value) or *unresolved* (it exists but cannot be
//! used right now: disabled, its provider missing or failing, its domain not allowed, the
//! vault locked). [`Error::kind`] tells which, and [`ErrorKind::is_empty`] /
//! [`ErrorKind::is_unresolved`] group the kinds the same way.
//!
//! No message ever contains a secret value, a token or key material: messages carry secret
//! *names*, references, hosts and byte offsets, which are not secret.

use std::path::PathBuf;
use std::sync::Arc;

pub use crate::provider::BoxError;
use crate::provider::{ProviderError, ProviderErrorKind};

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// Match on [`Error::kind`] rather than on the variants when all you need is the category;
/// the variants carry the context (secret name, reference, host, offset) as fields.
///
/// ```
/// use request_vault::{Error, ErrorKind, Vault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let vault = Vault::new();
/// let err: Error = vault.resolve("missing").await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert!(err.kind().is_empty());
/// assert_eq!(err.to_string(), "secret `missing` not found in the vault");
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A secret name does not follow the naming rules.
    #[error("invalid secret name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An environment variable name cannot be set (see [`Vault::render_env`](crate::Vault::render_env)).
    #[error("invalid environment variable name {name:?}: {reason}")]
    InvalidEnvName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No secret of that name exists.
    #[error("secret `{name}` not found in the vault")]
    NotFound {
        /// The secret's name.
        name: String,
    },
    /// A secret of that name already exists (for example the target of a rename).
    #[error("secret `{name}` already exists")]
    AlreadyExists {
        /// The secret's name.
        name: String,
    },
    /// The secret is linked to an external provider and its value cannot be set here.
    #[error(
        "secret `{name}` is linked to an external provider and is read-only; unset it first to store a local value"
    )]
    ReadOnly {
        /// The secret's name.
        name: String,
    },
    /// The secret exists but is disabled.
    #[error("secret `{name}` is disabled")]
    Disabled {
        /// The secret's name.
        name: String,
    },
    /// No provider handles the reference's URI scheme (or the linked secret's provider was
    /// never added to this vault).
    #[error("{}no provider handles `{scheme}://` references; add one with Vault::add_provider", name_prefix(.name))]
    NoProvider {
        /// The secret's name, when the error is about a linked secret.
        name: Option<String>,
        /// The URI scheme, or the provider id the secret was linked through.
        scheme: String,
    },
    /// The reference is for one of the crate's own providers, but the cargo feature that
    /// builds it is off (or an attribute it asks for needs a feature that is off).
    #[error(
        "`{scheme}://` references need the `{feature}` cargo feature of request-vault, which this build leaves out"
    )]
    FeatureDisabled {
        /// The URI scheme.
        scheme: String,
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// The provider the secret is linked through was removed from the vault.
    #[error(
        "secret `{name}` is linked through integration `{provider}`, which was removed; add the provider again or re-link the secret"
    )]
    IntegrationRemoved {
        /// The secret's name.
        name: String,
        /// The removed provider's id.
        provider: String,
    },
    /// A secret reference is malformed.
    #[error("invalid secret reference `{reference}`: {source}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// The byte offset of the problem in `reference`, when there is one.
        offset: Option<usize>,
        /// The provider's description of the problem.
        #[source]
        source: BoxError,
    },
    /// An external provider failed to resolve a reference.
    #[error("{}provider `{}` failed: {source}", name_prefix(.name), .source.provider())]
    Provider {
        /// The secret's name, when the call was made for a vault secret.
        name: Option<String>,
        /// What the provider reported.
        #[source]
        source: Arc<ProviderError>,
    },
    /// An allowed-domain pattern is malformed.
    #[error("invalid allowed-domain pattern {pattern:?}: {reason}")]
    InvalidDomain {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The secret may not be sent to this host (see [`Vault::set_allowed_domains`](crate::Vault::set_allowed_domains)).
    #[error("secret `{name}` is not allowed for host `{host}`")]
    DomainNotAllowed {
        /// The secret's name.
        name: String,
        /// The request's host.
        host: String,
    },
    /// A template is malformed.
    #[error("invalid {part} at byte {offset}: {reason}")]
    InvalidTemplate {
        /// Which template: `template`, `URL`, `header \`Accept\``, `JSON body`, ….
        part: String,
        /// The byte offset of the problem in that template.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A request template cannot become a request (a placeholder in the host, a URL that
    /// does not parse, an invalid header name, a body that is not JSON).
    #[error("invalid request: {part}: {reason}")]
    InvalidRequest {
        /// Which part of the request.
        part: String,
        /// What is wrong.
        reason: String,
    },
    /// A secret's value cannot be placed where the template puts it (CR, LF or NUL in a
    /// header; a URL path segment it would make `.` or `..`, which moves the request to
    /// another path). The value is never shown.
    #[error("secret `{name}` cannot be used in {part}: {reason}")]
    ValueNotAllowed {
        /// The secret's name.
        name: String,
        /// Where the template puts it.
        part: String,
        /// Why not.
        reason: &'static str,
    },
    /// Sending a request failed (the error never includes the URL, which may hold secrets).
    #[error("HTTP request failed: {source}")]
    Http {
        /// reqwest's error, stripped of its URL.
        #[source]
        source: reqwest::Error,
    },
    /// A response redirected more times than allowed.
    #[error("too many redirects (more than {max})")]
    TooManyRedirects {
        /// The limit.
        max: usize,
    },
    /// The vault is locked: values were wiped from memory until [`Vault::unlock`](crate::Vault::unlock).
    #[error("the vault is locked; unlock it with its key first")]
    Locked,
    /// The key does not open the vault file (a damaged recipient line in the file's header
    /// cannot be told apart from a wrong key).
    #[error("the key does not open {} (or the file's header is damaged)", .path.display())]
    WrongKey {
        /// The file.
        path: PathBuf,
    },
    /// The vault file (or an export) is damaged, truncated or not a vault.
    #[error("{} is damaged or not a vault file: {reason}", .path.display())]
    Corrupt {
        /// The file (empty for data given in memory).
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// One secret in the vault file (or an export) is malformed, or its name is given twice.
    #[error("{} holds a malformed secret `{name}`: {reason}", .path.display())]
    CorruptRecord {
        /// The file (`<export>` for data given in memory).
        path: PathBuf,
        /// The secret's name (`#N (no name)`, counting from 1, when it has none).
        name: Box<str>,
        /// What is wrong (never a value).
        reason: Box<str>,
    },
    /// The vault file was written by a newer version of this crate.
    #[error("{} has format version {found}, but this version of request-vault reads version {supported} at most: upgrade request-vault", .path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The file's version.
        found: u32,
        /// The newest version this crate reads.
        supported: u32,
    },
    /// Reading or writing the vault file failed.
    #[error("{what} {} failed: {source}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Another process saved the vault file since this vault read it; saving now would lose
    /// that write.
    #[error("{} was changed by another process since it was opened; open it again and reapply the change", .path.display())]
    Conflict {
        /// The file.
        path: PathBuf,
    },
    /// The vault has no file (it was made with `Vault::new`, not `create` or `open`).
    #[error("this vault has no file: create one with Vault::create")]
    NoFile,
    /// A key or passphrase is malformed.
    #[error("the vault key is not an age X25519 secret key (AGE-SECRET-KEY-1…)")]
    InvalidKey,
    /// A passphrase is too short.
    #[error("the passphrase is too short: use at least {min} characters")]
    WeakPassphrase {
        /// The least number of characters.
        min: usize,
    },
    /// Encrypting failed.
    #[error("encrypting the vault failed")]
    Encryption,
    /// Several secrets failed at once; each error names its secret.
    #[error("{} secrets could not be resolved: {}", .0.len(), join_errors(.0))]
    Multiple(Vec<Error>),
}

fn name_prefix(name: &Option<String>) -> String {
    match name {
        Some(name) => format!("secret `{name}`: "),
        None => String::new(),
    }
}

fn join_errors(errors: &[Error]) -> String {
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    messages.join("; ")
}

/// The category of an [`Error`], for callers that branch on what went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A secret name (or an environment variable's) breaks the naming rules.
    InvalidName,
    /// No such secret (*empty*).
    NotFound,
    /// The name is taken.
    AlreadyExists,
    /// A linked secret cannot be written.
    ReadOnly,
    /// The secret is disabled (*unresolved*).
    Disabled,
    /// No provider for the reference's scheme (*unresolved* when resolving).
    NoProvider,
    /// The secret's provider was removed (*unresolved*).
    IntegrationRemoved,
    /// A reference is malformed.
    InvalidReference,
    /// A provider failed (*unresolved*); see [`ProviderError::kind`].
    Provider,
    /// An allowed-domain pattern is malformed.
    InvalidDomain,
    /// A secret is not allowed for the request's host (*unresolved*).
    DomainNotAllowed,
    /// A template is malformed.
    InvalidTemplate,
    /// A request template cannot become a request, or a value cannot go where it is put.
    InvalidRequest,
    /// Sending a request failed, or it redirected too often.
    Http,
    /// The vault is locked (*unresolved*).
    Locked,
    /// The key does not open the vault.
    WrongKey,
    /// The vault file or export is damaged.
    Corrupt,
    /// The vault file is of a newer format.
    UnsupportedVersion,
    /// Reading or writing the file failed, another process changed it, or there is none.
    Storage,
    /// A key or passphrase is malformed or too weak.
    InvalidKey,
    /// Several errors at once; see [`Error::errors`].
    Multiple,
}

impl ErrorKind {
    /// Whether the secret is *empty*: it does not exist or holds no value.
    pub fn is_empty(self) -> bool {
        matches!(self, ErrorKind::NotFound)
    }

    /// Whether the secret is *unresolved*: it exists but cannot be used now.
    pub fn is_unresolved(self) -> bool {
        matches!(
            self,
            ErrorKind::Disabled
                | ErrorKind::NoProvider
                | ErrorKind::IntegrationRemoved
                | ErrorKind::Provider
                | ErrorKind::DomainNotAllowed
                | ErrorKind::Locked
        )
    }
}

impl Error {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. } | Error::InvalidEnvName { .. } => ErrorKind::InvalidName,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::ReadOnly { .. } => ErrorKind::ReadOnly,
            Error::Disabled { .. } => ErrorKind::Disabled,
            Error::NoProvider { .. } | Error::FeatureDisabled { .. } => ErrorKind::NoProvider,
            Error::IntegrationRemoved { .. } => ErrorKind::IntegrationRemoved,
            Error::InvalidReference { .. } => ErrorKind::InvalidReference,
            Error::Provider { .. } => ErrorKind::Provider,
            Error::InvalidDomain { .. } => ErrorKind::InvalidDomain,
            Error::DomainNotAllowed { .. } => ErrorKind::DomainNotAllowed,
            Error::InvalidTemplate { .. } => ErrorKind::InvalidTemplate,
            Error::InvalidRequest { .. } | Error::ValueNotAllowed { .. } => {
                ErrorKind::InvalidRequest
            }
            Error::Http { .. } | Error::TooManyRedirects { .. } => ErrorKind::Http,
            Error::Locked => ErrorKind::Locked,
            Error::WrongKey { .. } => ErrorKind::WrongKey,
            Error::Corrupt { .. } | Error::CorruptRecord { .. } => ErrorKind::Corrupt,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Error::Io { .. } | Error::Conflict { .. } | Error::NoFile | Error::Encryption => {
                ErrorKind::Storage
            }
            Error::InvalidKey | Error::WeakPassphrase { .. } => ErrorKind::InvalidKey,
            Error::Multiple(_) => ErrorKind::Multiple,
        }
    }

    /// The name of the secret this error is about, when it is about one.
    pub fn secret_name(&self) -> Option<&str> {
        match self {
            Error::NotFound { name }
            | Error::AlreadyExists { name }
            | Error::ReadOnly { name }
            | Error::Disabled { name }
            | Error::IntegrationRemoved { name, .. }
            | Error::DomainNotAllowed { name, .. }
            | Error::ValueNotAllowed { name, .. } => Some(name),
            Error::CorruptRecord { name, .. } => Some(name),
            Error::NoProvider { name, .. } | Error::Provider { name, .. } => name.as_deref(),
            _ => None,
        }
    }

    /// The byte offset of the problem in a malformed template or reference.
    pub fn offset(&self) -> Option<usize> {
        match self {
            Error::InvalidTemplate { offset, .. } => Some(*offset),
            Error::InvalidReference { offset, .. } => *offset,
            _ => None,
        }
    }

    /// The provider's error, when a provider failed.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        match self {
            Error::Provider { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The individual errors: the list of a [`Error::Multiple`], or this error alone.
    pub fn errors(&self) -> &[Error] {
        match self {
            Error::Multiple(errors) => errors,
            other => std::slice::from_ref(other),
        }
    }

    /// Gathers errors: none is `Ok`, one is itself, more are [`Error::Multiple`].
    pub(crate) fn gather(mut errors: Vec<Error>) -> Result<()> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Multiple(errors)),
        }
    }

    /// The one conversion from a provider's failure: an invalid reference becomes
    /// [`Error::InvalidReference`] (with its offset), anything else [`Error::Provider`],
    /// naming the secret when there is one.
    pub(crate) fn from_provider(name: Option<String>, source: Arc<ProviderError>) -> Self {
        if source.kind() == ProviderErrorKind::InvalidReference {
            return Error::InvalidReference {
                reference: source.reference().unwrap_or_default().to_owned(),
                offset: source.offset(),
                source: source.message().to_owned().into(),
            };
        }
        Error::Provider { name, source }
    }

    /// Wraps a reqwest error, dropping its URL (which may hold rendered secrets).
    pub(crate) fn http(source: reqwest::Error) -> Self {
        Error::Http {
            source: source.without_url(),
        }
    }

    pub(crate) fn not_found(name: &str) -> Self {
        Error::NotFound {
            name: name.to_owned(),
        }
    }
}

impl From<ProviderError> for Error {
    /// A provider failure that concerns no vault secret (a provider's construction or
    /// `check`, a reference checked by hand).
    fn from(mut source: ProviderError) -> Self {
        if source.kind() == ProviderErrorKind::InvalidReference {
            // The provider's own parse error, when it gave one, says it best.
            let detail = source
                .take_source()
                .unwrap_or_else(|| source.message().to_owned().into());
            return Error::InvalidReference {
                reference: source.reference().unwrap_or_default().to_owned(),
                offset: source.offset(),
                source: detail,
            };
        }
        Error::from_provider(None, Arc::new(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        // Results of this type are returned everywhere; keep the Err side small.
        assert!(
            std::mem::size_of::<Error>() <= 64,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn error_is_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
    }

    #[test]
    fn kinds_group_as_postman_troubleshooting() {
        assert!(Error::not_found("a").kind().is_empty());
        assert!(!Error::not_found("a").kind().is_unresolved());
        let disabled = Error::Disabled { name: "a".into() };
        assert!(disabled.kind().is_unresolved());
        assert_eq!(disabled.secret_name(), Some("a"));
    }

    #[test]
    fn offsets_of_malformed_input() {
        let template = crate::Template::parse("ab <<vault:x").unwrap_err();
        assert_eq!(template.offset(), Some(3));
        #[cfg(feature = "onepassword")]
        {
            let reference = Error::from("op://a/b".parse::<crate::SecretReference>().unwrap_err());
            assert_eq!(reference.offset(), Some(8));
        }
        assert_eq!(Error::not_found("a").offset(), None);
    }

    #[test]
    fn gather_keeps_a_single_error_as_is() {
        assert!(Error::gather(vec![]).is_ok());
        let one = Error::gather(vec![Error::not_found("a")]).unwrap_err();
        assert_eq!(one.kind(), ErrorKind::NotFound);
        let two = Error::gather(vec![Error::not_found("a"), Error::not_found("b")]).unwrap_err();
        assert_eq!(two.kind(), ErrorKind::Multiple);
        assert_eq!(two.errors().len(), 2);
        assert_eq!(
            two.to_string(),
            "2 secrets could not be resolved: secret `a` not found in the vault; secret `b` not found in the vault"
        );
    }
}
