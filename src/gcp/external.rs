//! Workload identity federation (`"type": "external_account"`): a token from another
//! identity provider (a Kubernetes service-account token, a GitHub or Azure OIDC token, read
//! from a file or a URL) is exchanged at Google's Security Token Service
//! (`POST https://sts.googleapis.com/v1/token`, RFC 8693) for a federated token, which is
//! used as it is or, when the configuration names a service account, exchanged again for
//! that account's token ([`Impersonation`]).
//!
//! The subject token is read anew at every exchange (the kubelet and CI systems rotate it).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::provider::http::{Outgoing, is_transient_status};
use crate::provider::{ProviderError, ProviderErrorKind, setting};

use super::error::{self, PROVIDER_ID};
use super::impersonate::Impersonation;
use super::oauth::{FormRequest, SCOPE, target};
use super::token::{AccessToken, TokenContext};

/// The grant type and token type of an STS exchange.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Where the subject token comes from.
pub(crate) enum Source {
    /// A file, read at each exchange.
    File(PathBuf),
    /// A URL, fetched with these headers at each exchange.
    Url {
        url: Url,
        headers: BTreeMap<String, String>,
    },
}

/// How the subject token is written in its source.
pub(crate) enum Format {
    /// The whole text, trimmed.
    Text,
    /// A field of a JSON object.
    Json(String),
}

/// An external account configuration.
pub(crate) struct ExternalAccount {
    pub(crate) audience: String,
    pub(crate) subject_token_type: String,
    pub(crate) token_url: Url,
    pub(crate) source: Source,
    pub(crate) format: Format,
    pub(crate) client: Option<(String, SecretString)>,
    pub(crate) user_project: Option<String>,
    pub(crate) impersonation: Option<Impersonation>,
}

impl fmt::Debug for ExternalAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::File(path) => path.display().to_string(),
            Source::Url { url, .. } => target(url),
        };
        f.debug_struct("ExternalAccount")
            .field("audience", &self.audience)
            .field("source", &source)
            .field("token_url", &self.token_url.as_str())
            .field(
                "impersonates",
                &self.impersonation.as_ref().map(Impersonation::account),
            )
            .finish_non_exhaustive()
    }
}

impl ExternalAccount {
    /// A token: the subject token exchanged at STS, then for the service account's token
    /// when the configuration impersonates one.
    ///
    /// # Errors
    ///
    /// `Configuration` for a subject token that cannot be read, the token endpoints' errors
    /// (see [`error::token_endpoint`]) otherwise.
    pub(crate) async fn token(&self, context: &TokenContext) -> Result<AccessToken, ProviderError> {
        let subject = self.subject_token(context).await?;
        context.obtained(&subject);
        let options = self
            .user_project
            .as_ref()
            .filter(|_| self.client.is_none())
            .map(|project| serde_json::json!({"userProject": project}).to_string());
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("audience", self.audience.as_str()),
            ("scope", SCOPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("subject_token", subject.expose_secret()),
            ("subject_token_type", self.subject_token_type.as_str()),
        ];
        if let Some(options) = &options {
            form.push(("options", options));
        }
        let who = format!(
            "Google's Security Token Service for audience `{}`",
            self.audience
        );
        let federated = FormRequest {
            url: &self.token_url,
            form,
            client: self
                .client
                .as_ref()
                .map(|(id, secret)| (id.as_str(), secret)),
            who: &who,
        }
        .send(context)
        .await?;
        match &self.impersonation {
            Some(impersonation) => impersonation.token(context, &federated.token).await,
            None => Ok(federated),
        }
    }

    async fn subject_token(&self, context: &TokenContext) -> Result<SecretString, ProviderError> {
        let text = match &self.source {
            Source::File(path) => {
                setting::read_credential(PROVIDER_ID, "subject token", path).await?
            }
            Source::Url { url, headers } => fetch(context, url, headers).await?,
        };
        match &self.format {
            Format::Text => Ok(text),
            Format::Json(field) => json_field(&text, field),
        }
    }
}

/// The subject token served at `url`.
async fn fetch(
    context: &TokenContext,
    url: &Url,
    headers: &BTreeMap<String, String>,
) -> Result<SecretString, ProviderError> {
    let mut request = Outgoing::get(url.clone(), target(url));
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(configuration(format!(
                "the credential source's header `{name}` is not a valid header"
            )));
        };
        request = request.header(name, value);
    }
    let who = format!("the subject token source at {}", target(url));
    let reply = context
        .http
        .call(&request, |reply| {
            is_transient_status(reply.status).then(|| error::token_endpoint(reply, &who))
        })
        .await?;
    if !reply.is_success() {
        return Err(error::token_endpoint(&reply, &who));
    }
    let text = std::str::from_utf8(&reply.body)
        .map_err(|_| {
            ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Protocol,
                format!("{who} answered something that is not text"),
            )
        })?
        .trim();
    if text.is_empty() {
        return Err(ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Protocol,
            format!("{who} answered an empty subject token"),
        ));
    }
    Ok(SecretString::from(text))
}

/// The string field `field` of the JSON object in `text` (the field's value is the token;
/// nothing of it is quoted in errors).
fn json_field(text: &SecretString, field: &str) -> Result<SecretString, ProviderError> {
    let mut value: serde_json::Value =
        serde_json::from_str(text.expose_secret()).map_err(|_| {
            configuration("the subject token source is not JSON, as its `format` says".to_owned())
        })?;
    let token = value
        .get(field)
        .and_then(serde_json::Value::as_str)
        .filter(|token| !token.is_empty())
        .map(SecretString::from);
    crate::provider::field::wipe(&mut value);
    token.ok_or_else(|| {
        configuration(format!(
            "the subject token source has no string field `{field}` (its `subject_token_field_name`)"
        ))
    })
}

fn configuration(message: String) -> ProviderError {
    ProviderError::new(PROVIDER_ID, ProviderErrorKind::Configuration, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_sources_give_their_field_and_quote_nothing() {
        let text = SecretString::from(r#"{"access_token":"oidc-PLANTED","expires_in":60}"#);
        let token = json_field(&text, "access_token").unwrap();
        assert_eq!(token.expose_secret(), "oidc-PLANTED");
        let missing = json_field(&text, "id_token").unwrap_err();
        assert_eq!(missing.kind(), ProviderErrorKind::Configuration);
        assert!(!missing.to_string().contains("PLANTED"), "{missing}");
        let not_json = json_field(&SecretString::from("oidc-PLANTED"), "x").unwrap_err();
        assert!(!not_json.to_string().contains("PLANTED"), "{not_json}");
    }
}
