//! Fetching secret values: `BatchGetSecretValue` (up to 20 secrets a call) for the current
//! version of secrets, `GetSecretValue` for pinned versions and for whatever a batch did not
//! answer.

use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::primitives::Blob;
use base64::Engine;
use futures_util::stream::{self, StreamExt};
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use crate::provider::{ProviderError, ProviderErrorKind, RetryPolicy};

use super::{PROVIDER_ID, error};

/// The most secret IDs one `BatchGetSecretValue` call takes.
pub(crate) const BATCH_LIMIT: usize = 20;

/// Pages of one batch call followed at most (a list of 20 IDs fits one page; this only
/// bounds a misbehaving server).
const MAX_PAGES: usize = 20;

/// One distinct thing to fetch: a secret's version in a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FetchKey {
    pub(crate) region: String,
    pub(crate) secret_id: String,
    pub(crate) version_stage: Option<String>,
    pub(crate) version_id: Option<String>,
}

impl FetchKey {
    fn is_pinned(&self) -> bool {
        self.version_stage.is_some() || self.version_id.is_some()
    }

    /// "secret `prod/db` (version stage `AWSPREVIOUS`) in eu-west-1", for messages.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("secret `{}`", self.secret_id);
        if let Some(stage) = &self.version_stage {
            text.push_str(&format!(" (version stage `{stage}`)"));
        }
        if let Some(id) = &self.version_id {
            text.push_str(&format!(" (version ID `{id}`)"));
        }
        text.push_str(&format!(" in {}", self.region));
        text
    }
}

/// Fetches `keys`, one result each in order, at most `concurrency` calls at once.
/// `client_for` gives the client of a region.
pub(crate) async fn fetch_all(
    keys: &[FetchKey],
    client_for: impl Fn(&str) -> Client,
    retry: RetryPolicy,
    concurrency: usize,
    batch_refused: &AtomicBool,
) -> Vec<Result<SecretString, ProviderError>> {
    // Plan: batches of current versions per region, and single calls.
    let mut jobs: Vec<Job> = Vec::new();
    let mut batches: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        if key.is_pinned() || batch_refused.load(Ordering::Relaxed) {
            jobs.push(Job::Single(index));
            continue;
        }
        match batches
            .iter_mut()
            .find(|(region, members)| *region == key.region && members.len() < BATCH_LIMIT)
        {
            Some((_, members)) => members.push(index),
            None => batches.push((key.region.clone(), vec![index])),
        }
    }
    jobs.extend(batches.into_iter().map(|(_, members)| {
        // A batch of one is a plain GetSecretValue: same cost, simpler answer.
        if members.len() == 1 {
            Job::Single(members[0])
        } else {
            Job::Batch(members)
        }
    }));

    let mut results: Vec<Option<Result<SecretString, ProviderError>>> =
        keys.iter().map(|_| None).collect();
    let client_for = &client_for;
    let mut finished = stream::iter(jobs)
        .map(|job| async move {
            match job {
                Job::Single(index) => {
                    let key = &keys[index];
                    let client = client_for(&key.region);
                    vec![(index, get_one(&client, key, retry).await)]
                }
                Job::Batch(members) => {
                    let client = client_for(&keys[members[0]].region);
                    get_batch(&client, keys, &members, retry, batch_refused).await
                }
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some(done) = finished.next().await {
        for (index, result) in done {
            results[index] = Some(result);
        }
    }
    results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                Err(ProviderError::new(
                    PROVIDER_ID,
                    ProviderErrorKind::Protocol,
                    "no answer was recorded for this secret",
                ))
            })
        })
        .collect()
}

enum Job {
    Single(usize),
    Batch(Vec<usize>),
}

/// `GetSecretValue` for one key, retried per the policy.
async fn get_one(
    client: &Client,
    key: &FetchKey,
    retry: RetryPolicy,
) -> Result<SecretString, ProviderError> {
    let what = key.describe();
    let mut output = retry
        .run(|| {
            let call = client
                .get_secret_value()
                .secret_id(&key.secret_id)
                .set_version_stage(key.version_stage.clone())
                .set_version_id(key.version_id.clone());
            let what = &what;
            async move { call.send().await.map_err(|e| error::from_sdk(e, what)) }
        })
        .await?;
    value_of(
        output.secret_string.take(),
        output.secret_binary.take(),
        &what,
    )
}

/// `BatchGetSecretValue` for `members` (indices into `keys`, one region, at most 20).
/// Secrets the answer lists as errors fail alone; secrets it does not mention are fetched
/// one by one. A caller allowed `GetSecretValue` but not `BatchGetSecretValue` gets every
/// secret fetched one by one, now and from then on.
async fn get_batch(
    client: &Client,
    keys: &[FetchKey],
    members: &[usize],
    retry: RetryPolicy,
    batch_refused: &AtomicBool,
) -> Vec<(usize, Result<SecretString, ProviderError>)> {
    let ids: Vec<String> = members.iter().map(|&i| keys[i].secret_id.clone()).collect();
    let what = format!(
        "a batch of {} secrets in {}",
        ids.len(),
        keys[members[0]].region
    );
    let mut answered: Vec<Option<Result<SecretString, ProviderError>>> =
        members.iter().map(|_| None).collect();

    let mut next_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = retry
            .run(|| {
                let call = client
                    .batch_get_secret_value()
                    .set_secret_id_list(Some(ids.clone()))
                    .set_next_token(next_token.clone());
                let what = &what;
                async move { call.send().await.map_err(|e| error::from_sdk(e, what)) }
            })
            .await;
        let mut page = match page {
            Ok(page) => page,
            Err(e) if e.kind() == ProviderErrorKind::Forbidden => {
                tracing::debug!(
                    provider = PROVIDER_ID,
                    "BatchGetSecretValue refused; fetching secrets one by one from now on"
                );
                batch_refused.store(true, Ordering::Relaxed);
                break;
            }
            Err(e) => {
                return members.iter().map(|&i| (i, Err(e.duplicate()))).collect();
            }
        };
        for mut entry in page.secret_values.take().unwrap_or_default() {
            let arn = entry.arn.take();
            let name = entry.name.take();
            let matching: Vec<usize> = (0..members.len())
                .filter(|&slot| answered[slot].is_none())
                .filter(|&slot| names_secret(&ids[slot], arn.as_deref(), name.as_deref()))
                .collect();
            let (string, binary) = (entry.secret_string.take(), entry.secret_binary.take());
            // Taken out and wiped even when nothing asked for it.
            let what = matching
                .first()
                .map_or_else(|| "a secret".to_owned(), |&s| keys[members[s]].describe());
            let value = value_of(string, binary, &what);
            for &slot in &matching {
                answered[slot] = Some(match &value {
                    Ok(value) => Ok(value.clone()),
                    Err(e) => Err(ProviderError::new(
                        PROVIDER_ID,
                        e.kind(),
                        format!("{} has no value", keys[members[slot]].describe()),
                    )),
                });
            }
        }
        for entry in page.errors.take().unwrap_or_default() {
            let Some(id) = entry.secret_id.as_deref() else {
                continue;
            };
            let code = entry.error_code.as_deref().unwrap_or("UnknownError");
            for slot in 0..members.len() {
                if ids[slot] != id || answered[slot].is_some() {
                    continue;
                }
                answered[slot] = Some(Err(error::from_code(
                    code,
                    entry.message.as_deref(),
                    &keys[members[slot]].describe(),
                )));
            }
        }
        next_token = page.next_token.take().filter(|t| !t.is_empty());
        if next_token.is_none() || answered.iter().all(Option::is_some) {
            break;
        }
    }

    let mut out = Vec::with_capacity(members.len());
    for (slot, &index) in members.iter().enumerate() {
        let result = match answered[slot].take() {
            Some(result) => result,
            None => get_one(client, &keys[index], retry).await,
        };
        out.push((index, result));
    }
    out
}

/// Whether the secret ID a caller asked for names the secret with this ARN and name: the
/// name, the full ARN, or the ARN without its 6-character random suffix.
fn names_secret(requested: &str, arn: Option<&str>, name: Option<&str>) -> bool {
    if Some(requested) == name || Some(requested) == arn {
        return true;
    }
    match arn {
        Some(arn) if requested.starts_with("arn:") => arn
            .strip_prefix(requested)
            .is_some_and(|suffix| suffix.len() == 7 && suffix.starts_with('-')),
        _ => false,
    }
}

/// A secret's value: its string, or for a binary secret its bytes in standard base64
/// (padded), so that any value is text. The SDK's copies are wiped.
fn value_of(
    string: Option<String>,
    binary: Option<Blob>,
    what: &str,
) -> Result<SecretString, ProviderError> {
    match (string, binary) {
        (Some(mut text), _) => {
            let value = SecretString::from(text.as_str());
            text.zeroize();
            Ok(value)
        }
        (None, Some(blob)) => {
            let bytes = Zeroizing::new(blob.into_inner());
            let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*bytes));
            Ok(SecretString::from(text.as_str()))
        }
        (None, None) => Err(ProviderError::new(
            PROVIDER_ID,
            ProviderErrorKind::NotFound,
            format!("{what} has no value (neither SecretString nor SecretBinary)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn requested_ids_match_names_and_arns() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf";
        assert!(names_secret("prod/db", Some(arn), Some("prod/db")));
        assert!(names_secret(arn, Some(arn), Some("prod/db")));
        assert!(names_secret(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db",
            Some(arn),
            Some("prod/db")
        ));
        assert!(!names_secret("prod", Some(arn), Some("prod/db")));
        assert!(!names_secret(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod",
            Some(arn),
            Some("prod/db")
        ));
    }

    #[test]
    fn binary_secrets_are_base64_text() {
        let value = value_of(None, Some(Blob::new(vec![0u8, 159, 146, 150])), "s").unwrap();
        assert_eq!(value.expose_secret(), "AJ+Slg==");
        let text = value_of(Some("plain".into()), None, "s").unwrap();
        assert_eq!(text.expose_secret(), "plain");
        let none = value_of(None, None, "secret `x`").unwrap_err();
        assert_eq!(none.kind(), ProviderErrorKind::NotFound);
    }
}
