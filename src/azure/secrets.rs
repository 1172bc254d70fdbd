//! The Key Vault secrets REST API: Get Secret (`GET {vault}/secrets/{name}[/{version}]`),
//! one page of Get Secrets (`GET {vault}/secrets?maxresults=1`, for `check`), their error
//! bodies, and batches that fetch each distinct (vault, secret, version) once.
//!
//! Key Vault answers errors as `{"error": {"code": …, "message": …, "innererror": {"code":
//! …}}}`: a disabled secret is a 403 whose inner code is `SecretDisabled`, a missing one a
//! 404 `SecretNotFound`, throttling a 429 with `Retry-After`. Errors here quote the codes,
//! never the message text or the body. A secret's `exp` and `nbf` are informational, as in
//! Key Vault: the value is served and a warning names the secret.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::provider::batch::{Slots, distinct};
use crate::provider::field::select_text;
use crate::provider::http::{Outgoing, Reply};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::PROVIDER_ID;
use super::client::Client;
use super::entra::unix_now;
use super::reference::{KeyVaultRef, SecretKey};

/// A secret bundle, as much of it as is read. The value is wiped when dropped.
#[derive(Deserialize)]
struct SecretBundle {
    #[serde(default)]
    value: Option<Zeroizing<String>>,
    #[serde(default)]
    attributes: Option<Attributes>,
}

#[derive(Deserialize, Default)]
struct Attributes {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    exp: Option<i64>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    innererror: Option<Box<ErrorDetail>>,
}

impl ErrorDetail {
    /// The codes from the outside in: `Forbidden`, `SecretDisabled`.
    fn codes(&self) -> Vec<&str> {
        let mut codes = vec![self.code.as_str()];
        let mut inner = self.innererror.as_deref();
        while let Some(detail) = inner {
            codes.push(detail.code.as_str());
            inner = detail.innererror.as_deref();
        }
        codes.retain(|c| !c.is_empty());
        codes
    }
}

#[derive(Deserialize)]
struct SecretList {
    #[serde(default)]
    value: Vec<SecretItem>,
}

#[derive(Deserialize)]
struct SecretItem {
    #[serde(default)]
    id: String,
}

/// "secret `db` in vault `prod`" (with its version when pinned).
fn describe(key: &SecretKey) -> String {
    match &key.version {
        Some(version) => format!(
            "version `{version}` of secret `{}` in vault `{}`",
            key.secret, key.vault
        ),
        None => format!("secret `{}` in vault `{}`", key.secret, key.vault),
    }
}

/// Fetches one secret's value, retrying transient failures.
pub(crate) async fn get(
    client: &Arc<Client>,
    key: &SecretKey,
) -> Result<SecretString, ProviderError> {
    let mut segments = vec!["secrets", key.secret.as_str()];
    if let Some(version) = &key.version {
        segments.push(version);
    }
    let url = client.url(&key.vault, &segments)?;
    let target = format!("vault `{}`", key.vault);
    let reply = client
        .endpoints
        .retry
        .run(|| async {
            let reply = client
                .send(&key.vault, &target, || {
                    Outgoing::get(url.clone(), target.as_str())
                })
                .await?;
            if reply.is_success() {
                Ok(reply)
            } else {
                Err(failure(&reply, &describe(key)))
            }
        })
        .await?;
    let bundle: SecretBundle = reply.json(PROVIDER_ID, "a secret")?;
    let attributes = bundle.attributes.unwrap_or_default();
    if attributes.enabled == Some(false) {
        return Err(disabled(key));
    }
    warn_if_outside_validity(key, &attributes);
    match bundle.value {
        Some(value) => Ok(SecretString::from(value.as_str())),
        None => Err(ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::Protocol,
            format!("Key Vault sent {} without a value", describe(key)),
        )),
    }
}

fn warn_if_outside_validity(key: &SecretKey, attributes: &Attributes) {
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    if let Some(exp) = attributes.exp
        && exp <= now
    {
        tracing::warn!(
            vault = %key.vault,
            secret = %key.secret,
            version = key.version.as_deref().unwrap_or("current"),
            expired_at = exp,
            "Azure Key Vault secret has expired (exp is informational: the value is still served)"
        );
    }
    if let Some(nbf) = attributes.nbf
        && nbf > now
    {
        tracing::warn!(
            vault = %key.vault,
            secret = %key.secret,
            version = key.version.as_deref().unwrap_or("current"),
            not_before = nbf,
            "Azure Key Vault secret is not valid yet (nbf is informational: the value is still served)"
        );
    }
}

fn disabled(key: &SecretKey) -> ProviderError {
    ProviderError::new(
        PROVIDER_ID,
        ProviderErrorKind::Forbidden,
        format!(
            "{} is disabled: Key Vault serves no value of a disabled secret (enable it to use it)",
            describe(key)
        ),
    )
}

/// The error for a non-2xx answer about `what`.
fn failure(reply: &Reply, what: &str) -> ProviderError {
    let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    let detail = body.error.unwrap_or_default();
    let codes = detail.codes();
    let code_text = if codes.is_empty() {
        String::new()
    } else {
        format!(" ({})", codes.join(", "))
    };
    match reply.status.as_u16() {
        403 if codes.iter().any(|c| c.eq_ignore_ascii_case("SecretDisabled")) => reply
            .error_of_kind(
                PROVIDER_ID,
                ProviderErrorKind::Forbidden,
                &format!(
                    "{what} is disabled: Key Vault serves no value of a disabled secret (enable it to use it){code_text}"
                ),
            ),
        403 => reply.error(
            PROVIDER_ID,
            &format!("the credential may not read {what}{code_text}"),
        ),
        404 => reply.error(PROVIDER_ID, &format!("no {what}{code_text}")),
        429 => reply.error(
            PROVIDER_ID,
            &format!("Key Vault throttled the request for {what}{code_text}"),
        ),
        _ => reply.error(
            PROVIDER_ID,
            &format!("Key Vault failed to return {what}{code_text}"),
        ),
    }
}

/// One page (at most one item) of the vault's secret properties: their names only.
pub(crate) async fn list_page(
    client: &Arc<Client>,
    vault: &str,
) -> Result<Vec<String>, ProviderError> {
    let mut url = client.url(vault, &["secrets"])?;
    url.query_pairs_mut().append_pair("maxresults", "1");
    let target = format!("vault `{vault}`");
    let what = format!("the secrets of vault `{vault}`");
    let reply = client
        .endpoints
        .retry
        .run(|| async {
            let reply = client
                .send(vault, &target, || {
                    Outgoing::get(url.clone(), target.as_str())
                })
                .await?;
            if reply.is_success() {
                Ok(reply)
            } else {
                Err(failure(&reply, &what))
            }
        })
        .await?;
    let list: SecretList = reply.json(PROVIDER_ID, "a list of secrets")?;
    Ok(list
        .value
        .into_iter()
        .filter_map(|item| {
            item.id
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .map(str::to_owned)
        })
        .collect())
}

/// Resolves a batch: each distinct (vault, secret, version) is fetched once, at most
/// `concurrency` at a time, and every `#KEY` of one secret is picked from that one value.
pub(crate) async fn resolve_all(
    client: &Arc<Client>,
    concurrency: usize,
    references: &[&str],
) -> Vec<Result<SecretString, ProviderError>> {
    let mut slots = Slots::new(references.len());
    let mut parsed = Vec::new();
    for (index, reference) in references.iter().enumerate() {
        match KeyVaultRef::parse(reference) {
            Ok(r) => {
                client.saw(&r.vault);
                parsed.push((index, r));
            }
            Err(e) => slots.set(index, Err(e)),
        }
    }
    let (unique, positions) = distinct(parsed.iter().map(|(_, r)| r.key()));
    // Collected first: a lazy `map` here trips the compiler's higher-ranked lifetime check.
    let fetches: Vec<_> = unique
        .iter()
        .enumerate()
        .map(|(i, key)| async move { (i, get(client, key).await) })
        .collect();
    let fetched: Vec<(usize, Result<SecretString, ProviderError>)> = stream::iter(fetches)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut values: Vec<Option<Result<SecretString, ProviderError>>> =
        (0..unique.len()).map(|_| None).collect();
    for (i, result) in fetched {
        values[i] = Some(result);
    }
    for ((index, r), position) in parsed.iter().zip(positions) {
        let reference = references[*index];
        let result = match &values[position] {
            Some(Ok(value)) => match &r.field {
                None => Ok(value.clone()),
                Some(field) => select_text(
                    PROVIDER_ID,
                    secrecy::ExposeSecret::expose_secret(value),
                    field,
                )
                .map_err(|e| {
                    let message = format!("{} of {}", e.message(), describe(&r.key()));
                    ProviderError::new(PROVIDER_ID, e.kind(), message)
                }),
            },
            Some(Err(e)) => Err(e.duplicate()),
            None => Err(ProviderError::new(
                PROVIDER_ID,
                ProviderErrorKind::Protocol,
                "the fetch gave no result",
            )),
        };
        slots.set(*index, result.map_err(|e| e.with_reference(reference)));
    }
    slots.finish(|index| {
        Err(
            ProviderError::new(PROVIDER_ID, ProviderErrorKind::Protocol, "no result")
                .with_reference(references[index]),
        )
    })
}
