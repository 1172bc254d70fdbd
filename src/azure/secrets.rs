//! The Key Vault secrets REST API: Get Secret (`GET {vault}/secrets/{name}[/{version}]`),
//! one page of Get Secrets (`GET {vault}/secrets?maxresults=1`, for `check`), and batches
//! that fetch each distinct (vault, secret, version) once.
//!
//! Each read is one call within one deadline: its token (kept, or fetched by the token
//! source's one retry loop) and then the request, whose transient answers (429 with
//! `Retry-After`, 5xx) the door retries; `error.rs` turns Key Vault's answers into kinds. A
//! secret's `exp` and `nbf` are informational, as in Key Vault: the value is served and a
//! warning names the secret.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use secrecy::{ExposeSecret, SecretString};

use crate::provider::batch::{Slots, distinct};
use crate::provider::field::select_text;
use crate::provider::http::{Outgoing, Reply};
use crate::provider::{ProviderError, ProviderErrorKind};

use super::client::Client;
use super::error::{PROVIDER_ID, vault_failure, vault_transient};
use super::reference::{KeyVaultRef, SecretKey};
use super::token::unix_now;
use super::wire::{Attributes, SecretBundle, SecretList};

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

/// Fetches one secret's value, retrying transient failures, within one deadline.
pub(crate) async fn get(
    client: &Arc<Client>,
    key: &SecretKey,
) -> Result<SecretString, ProviderError> {
    let mut segments = vec!["secrets", key.secret.as_str()];
    if let Some(version) = &key.version {
        segments.push(version);
    }
    let url = client.url(&key.vault, &segments)?;
    let what = describe(key);
    let reply = client.bounded(read(client, &key.vault, url, &what)).await?;
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

/// The answer of a GET of `url` in `vault` about `what`; a non-2xx one is an error.
async fn read(
    client: &Arc<Client>,
    vault: &str,
    url: url::Url,
    what: &str,
) -> Result<Reply, ProviderError> {
    let target = format!("vault `{vault}`");
    let reply = client
        .send(
            vault,
            &target,
            || Outgoing::get(url.clone(), target.as_str()),
            |reply| vault_transient(reply).then(|| vault_failure(reply, what)),
        )
        .await?;
    if reply.is_success() {
        Ok(reply)
    } else {
        Err(vault_failure(&reply, what))
    }
}

/// One page (at most one item) of the vault's secret properties: their names only.
pub(crate) async fn list_page(
    client: &Arc<Client>,
    vault: &str,
) -> Result<Vec<String>, ProviderError> {
    let mut url = client.url(vault, &["secrets"])?;
    url.query_pairs_mut().append_pair("maxresults", "1");
    let what = format!("the secrets of vault `{vault}`");
    let reply = client.bounded(read(client, vault, url, &what)).await?;
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
        let result = match values.get(position).and_then(Option::as_ref) {
            Some(Ok(value)) => pick(value, r),
            Some(Err(e)) => Err(e.duplicate()),
            None => continue, // reported as missing below
        };
        slots.set(
            *index,
            result.map_err(|e| e.with_reference(references[*index])),
        );
    }
    slots.finish_or_missing(PROVIDER_ID, references)
}

/// The value a reference asks for: the whole secret, or its `#KEY`.
fn pick(value: &SecretString, reference: &KeyVaultRef) -> Result<SecretString, ProviderError> {
    let Some(field) = &reference.field else {
        return Ok(value.clone());
    };
    select_text(PROVIDER_ID, value.expose_secret(), field).map_err(|e| {
        let message = format!("{} of {}", e.message(), describe(&reference.key()));
        ProviderError::new(PROVIDER_ID, e.kind(), message)
    })
}
