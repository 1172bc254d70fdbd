//! [`Credential`]: the ways a provider signs in to Google, and the credential files that
//! choose one (`"type"`: `service_account`, `authorized_user`, `external_account`,
//! `impersonated_service_account`), read as Google's libraries read them.
//!
//! Every secret of a file (a private key, a client secret, a refresh token) is held as a
//! secret and registered with the scrubbers ([`Credential::register`]); `Debug` names
//! accounts and endpoints only.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::SecretString;
use url::Url;

use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::PROVIDER_ID;
use super::external::{ExternalAccount, Format, Source};
use super::gcloud::Gcloud;
use super::impersonate::{DEFAULT_LIFETIME, Impersonation};
use super::jwt::Signer;
use super::metadata::Metadata;
use super::oauth::GOOGLE_TOKEN_URI;
use super::service_account::{AuthorizedUser, ServiceAccount};
use super::token::{AccessToken, TokenContext};
use super::wire;

/// One way of signing in.
pub(crate) enum Credential {
    /// A service account key.
    ServiceAccount(ServiceAccount),
    /// A user's refresh token.
    AuthorizedUser(AuthorizedUser),
    /// Workload identity federation.
    External(Box<ExternalAccount>),
    /// Another credential acting as a service account (`gcloud
    /// --impersonate-service-account`).
    Impersonated {
        source: Box<Credential>,
        impersonation: Impersonation,
    },
    /// The metadata server.
    Metadata(Metadata),
    /// The Google Cloud CLI.
    Gcloud(Gcloud),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ServiceAccount(account) => account.fmt(f),
            Credential::AuthorizedUser(user) => user.fmt(f),
            Credential::External(external) => external.fmt(f),
            Credential::Impersonated {
                source,
                impersonation,
            } => f
                .debug_struct("Impersonated")
                .field("account", &impersonation.account())
                .field("source", source)
                .finish(),
            Credential::Metadata(metadata) => f
                .debug_struct("Metadata")
                .field("url", &metadata.url.as_str())
                .finish(),
            Credential::Gcloud(gcloud) => gcloud.fmt(f),
        }
    }
}

impl Credential {
    /// A short name for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Credential::ServiceAccount(_) => "service account key",
            Credential::AuthorizedUser(_) => "user credentials",
            Credential::External(_) => "workload identity federation",
            Credential::Impersonated { .. } => "service account impersonation",
            Credential::Metadata(_) => "metadata server",
            Credential::Gcloud(_) => "gcloud",
        }
    }

    /// A new token.
    pub(crate) fn token<'a>(
        &'a self,
        context: &'a TokenContext,
    ) -> BoxFuture<'a, Result<AccessToken, ProviderError>> {
        Box::pin(async move {
            match self {
                Credential::ServiceAccount(account) => account.token(context).await,
                Credential::AuthorizedUser(user) => user.token(context).await,
                Credential::External(external) => external.token(context).await,
                Credential::Impersonated {
                    source,
                    impersonation,
                } => {
                    let own = source.token(context).await?;
                    impersonation.token(context, &own.token).await
                }
                Credential::Metadata(metadata) => metadata.token(context).await,
                Credential::Gcloud(gcloud) => gcloud.token(context).await,
            }
        })
    }

    /// Registers the credential's own secrets with the scrubbers.
    pub(crate) fn register(&self, context: &TokenContext) {
        match self {
            Credential::AuthorizedUser(user) => {
                context.holds(&user.client_secret);
                context.holds(&user.refresh_token);
            }
            Credential::External(external) => {
                if let Some((_, secret)) = &external.client {
                    context.holds(secret);
                }
            }
            Credential::Impersonated { source, .. } => source.register(context),
            Credential::ServiceAccount(_) | Credential::Metadata(_) | Credential::Gcloud(_) => {}
        }
    }
}

/// A credential file's text, read: the credential and the file's `quota_project_id`.
pub(crate) struct KeyFile {
    pub(crate) credential: Credential,
    pub(crate) quota_project: Option<String>,
    /// The private key's PEM text, for the scrubbers (service account keys only).
    pub(crate) private_key: Option<SecretString>,
}

/// Reads a credential file of any type; `expected` restricts the type when the builder
/// asked for one.
///
/// # Errors
///
/// `Configuration` for text that is not such a file (its content is never quoted), a type
/// other than `expected`, or a setting that is invalid.
pub(crate) fn from_json(text: &str, expected: Option<&str>) -> Result<KeyFile, ProviderError> {
    let kind: wire::KeyFileType = parse(text, "a Google credential file")?;
    if let Some(expected) = expected
        && kind.kind != expected
    {
        return Err(configuration(format!(
            "the credential file is of type `{}`, not `{expected}`",
            kind.kind
        )));
    }
    let mut private_key = None;
    let credential = match kind.kind.as_str() {
        "service_account" => {
            let key: wire::ServiceAccountKey = parse(text, "a service account key")?;
            private_key = Some(SecretString::from(key.private_key.as_str()));
            Credential::ServiceAccount(service_account(key)?)
        }
        "authorized_user" => {
            Credential::AuthorizedUser(authorized_user(parse(text, "user credentials")?)?)
        }
        "external_account" => Credential::External(Box::new(external_account(parse(
            text,
            "an external account",
        )?)?)),
        "impersonated_service_account" => impersonated(parse(text, "impersonated credentials")?)?,
        other => {
            return Err(configuration(format!(
                "credential files of type `{other}` are not read by this provider: use a \
                 `service_account`, `authorized_user`, `external_account` or \
                 `impersonated_service_account` file, or another builder method"
            )));
        }
    };
    Ok(KeyFile {
        credential,
        quota_project: kind.quota_project_id.filter(|p| !p.trim().is_empty()),
        private_key,
    })
}

fn service_account(key: wire::ServiceAccountKey) -> Result<ServiceAccount, ProviderError> {
    if key.client_email.trim().is_empty() {
        return Err(configuration(
            "the service account key has no `client_email`".to_owned(),
        ));
    }
    let token_uri = https_url(
        "`token_uri`",
        key.token_uri.as_deref().unwrap_or(GOOGLE_TOKEN_URI),
    )?;
    let signer = Signer::new(key.client_email, key.private_key_id, &key.private_key)?;
    Ok(ServiceAccount { signer, token_uri })
}

fn authorized_user(user: wire::AuthorizedUser) -> Result<AuthorizedUser, ProviderError> {
    if user.client_id.is_empty() || user.client_secret.is_empty() || user.refresh_token.is_empty() {
        return Err(configuration(
            "user credentials need `client_id`, `client_secret` and `refresh_token`: run \
             `gcloud auth application-default login`"
                .to_owned(),
        ));
    }
    Ok(AuthorizedUser {
        client_id: user.client_id,
        client_secret: SecretString::from(user.client_secret.as_str()),
        refresh_token: SecretString::from(user.refresh_token.as_str()),
        token_uri: https_url(
            "`token_uri`",
            user.token_uri.as_deref().unwrap_or(GOOGLE_TOKEN_URI),
        )?,
    })
}

/// STS, where external accounts without a `token_url` exchange their tokens.
const STS_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";

fn external_account(config: wire::ExternalAccount) -> Result<ExternalAccount, ProviderError> {
    let format = match source_format(config.credential_source.format.as_ref())? {
        Some(field) => Format::Json(field),
        None => Format::Text,
    };
    let wire::CredentialSource {
        file,
        url,
        headers,
        environment_id,
        executable,
        ..
    } = config.credential_source;
    let source = match (file, url) {
        (Some(path), None) => Source::File(PathBuf::from(path)),
        (None, Some(url)) => Source::Url {
            url: source_url(&url)?,
            headers: headers.unwrap_or_else(BTreeMap::new),
        },
        _ if environment_id.is_some() || executable.is_some() => {
            return Err(configuration(
                "this external account takes its subject token from AWS or a program; this \
                 provider reads file- and URL-sourced tokens: write the token to a file and \
                 use `credential_source.file`"
                    .to_owned(),
            ));
        }
        _ => {
            return Err(configuration(
                "the external account's `credential_source` needs one of `file` or `url`"
                    .to_owned(),
            ));
        }
    };
    let impersonation = match config.service_account_impersonation_url.as_deref() {
        Some(url) => Some(Impersonation {
            url: https_url("`service_account_impersonation_url`", url)?,
            lifetime: config
                .service_account_impersonation
                .as_ref()
                .and_then(|options| options.token_lifetime_seconds.as_ref())
                .and_then(wire::seconds)
                .map_or(DEFAULT_LIFETIME, Duration::from_secs),
        }),
        None => None,
    };
    let client = match (config.client_id, config.client_secret) {
        (Some(id), Some(secret)) if !secret.is_empty() => {
            Some((id, SecretString::from(secret.as_str())))
        }
        _ => None,
    };
    Ok(ExternalAccount {
        audience: config.audience,
        subject_token_type: config.subject_token_type,
        token_url: https_url(
            "`token_url`",
            config.token_url.as_deref().unwrap_or(STS_TOKEN_URL),
        )?,
        source,
        format,
        client,
        user_project: config.workforce_pool_user_project,
        impersonation,
    })
}

/// The JSON field a `"format": {"type": "json"}` source names, `None` for text.
fn source_format(format: Option<&wire::SourceFormat>) -> Result<Option<String>, ProviderError> {
    let Some(format) = format else {
        return Ok(None);
    };
    match format.kind.as_deref() {
        None | Some("text") => Ok(None),
        Some("json") => match &format.subject_token_field_name {
            Some(field) if !field.is_empty() => Ok(Some(field.clone())),
            _ => Err(configuration(
                "a JSON credential source needs `subject_token_field_name`".to_owned(),
            )),
        },
        Some(other) => Err(configuration(format!(
            "the credential source format `{other}` is neither `text` nor `json`"
        ))),
    }
}

fn impersonated(file: wire::ImpersonatedServiceAccount) -> Result<Credential, ProviderError> {
    let source = file.source_credentials.to_string();
    let source = from_json(&source, None)?;
    if matches!(source.credential, Credential::Impersonated { .. }) {
        return Err(configuration(
            "impersonated credentials whose source is impersonated again are not read: name \
             the final service account in one file"
                .to_owned(),
        ));
    }
    Ok(Credential::Impersonated {
        source: Box::new(source.credential),
        impersonation: Impersonation {
            url: https_url(
                "`service_account_impersonation_url`",
                &file.service_account_impersonation_url,
            )?,
            lifetime: DEFAULT_LIFETIME,
        },
    })
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, ProviderError> {
    // serde_json's errors name a line and column, never the text.
    serde_json::from_str(text)
        .map_err(|e| configuration(format!("the credential file is not {what}: {e}")))
}

/// An `https://` URL without credentials, where a credential file sends its secrets.
pub(crate) fn https_url(what: &str, text: &str) -> Result<Url, ProviderError> {
    Url::parse(text.trim())
        .ok()
        .filter(|url| {
            url.scheme() == "https" && url.username().is_empty() && url.password().is_none()
        })
        .ok_or_else(|| {
            configuration(format!(
                "the credential file's {what} must be an https:// URL without credentials"
            ))
        })
}

/// A subject token URL: `http` is allowed (it is usually a metadata endpoint on the host).
fn source_url(text: &str) -> Result<Url, ProviderError> {
    Url::parse(text.trim())
        .ok()
        .filter(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.username().is_empty()
                && url.password().is_none()
        })
        .ok_or_else(|| {
            configuration(
                "the credential source's `url` must be an http(s) URL without credentials"
                    .to_owned(),
            )
        })
}

pub(crate) fn configuration(message: String) -> ProviderError {
    ProviderError::new(PROVIDER_ID, ProviderErrorKind::Configuration, message)
}
