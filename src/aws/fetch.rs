//! Fetching secret values: `BatchGetSecretValue` (up to 20 secrets a call) for the current
//! version of secrets, `GetSecretValue` for pinned versions and for whatever a batch did not
//! answer. Every answer must name the secret that was asked for.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::provider::{ProviderError, ProviderErrorKind, RetryPolicy};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueOutput;

use super::batch::{self, Outcome};
use super::error::Errors;
use super::wire::{names_secret, secret_value};

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

/// How a provider fetches: the client of a region, its retries, its concurrency, whether
/// its credentials were refused `BatchGetSecretValue`, and its error mapping.
pub(crate) struct Fetcher<'a, F> {
    pub(crate) client_for: F,
    pub(crate) retry: RetryPolicy,
    pub(crate) concurrency: usize,
    pub(crate) batch_refused: &'a AtomicBool,
    pub(crate) errors: &'a Errors,
}

enum Job {
    Single(usize),
    Batch(Vec<usize>),
}

impl<F: Fn(&str) -> Client> Fetcher<'_, F> {
    /// Fetches `keys`, one result each in order, at most `concurrency` calls at once.
    pub(crate) async fn fetch_all(&self, keys: &[FetchKey]) -> Vec<Outcome> {
        let jobs = self.plan(keys);
        batch::run(
            jobs,
            keys.len(),
            self.concurrency,
            self.errors,
            |job| async move {
                match job {
                    Job::Single(index) => {
                        let key = &keys[index];
                        let client = (self.client_for)(&key.region);
                        vec![(index, self.get_one(&client, key).await)]
                    }
                    Job::Batch(members) => {
                        let client = (self.client_for)(&keys[members[0]].region);
                        self.get_batch(&client, keys, &members).await
                    }
                }
            },
        )
        .await
    }

    /// Batches of current versions per region (a batch of one is a plain
    /// `GetSecretValue`: same cost, simpler answer), and single calls for the rest.
    fn plan(&self, keys: &[FetchKey]) -> Vec<Job> {
        let mut jobs: Vec<Job> = Vec::new();
        let mut batches: Vec<(String, Vec<usize>)> = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            if key.is_pinned() || self.batch_refused.load(Ordering::Relaxed) {
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
            if members.len() == 1 {
                Job::Single(members[0])
            } else {
                Job::Batch(members)
            }
        }));
        jobs
    }

    /// `GetSecretValue` for one key, retried per the policy. An answer for another secret
    /// is refused.
    async fn get_one(&self, client: &Client, key: &FetchKey) -> Outcome {
        let what = key.describe();
        let mut output = self
            .retry
            .run(|| {
                let call = client
                    .get_secret_value()
                    .secret_id(&key.secret_id)
                    .set_version_stage(key.version_stage.clone())
                    .set_version_id(key.version_id.clone());
                let what = &what;
                async move { call.send().await.map_err(|e| self.errors.of_sdk(e, what)) }
            })
            .await?;
        let value = secret_value(output.secret_string.take(), output.secret_binary.take());
        if !names_secret(
            &key.secret_id,
            output.arn.as_deref(),
            output.name.as_deref(),
        ) {
            return Err(self.errors.plain(
                ProviderErrorKind::Protocol,
                format!(
                    "AWS answered a request for {what} with another secret (`{}`); the answer \
                     was dropped",
                    output.name.as_deref().unwrap_or("unnamed")
                ),
            ));
        }
        value.ok_or_else(|| no_value(self.errors, &what))
    }

    /// `BatchGetSecretValue` for `members` (indices into `keys`, one region, at most 20).
    /// Secrets the answer lists as errors fail alone; secrets it does not mention are
    /// fetched one by one. A caller allowed `GetSecretValue` but not `BatchGetSecretValue`
    /// gets every secret fetched one by one, now and from then on.
    async fn get_batch(
        &self,
        client: &Client,
        keys: &[FetchKey],
        members: &[usize],
    ) -> Vec<(usize, Outcome)> {
        let mut batch = Batch {
            keys,
            members,
            answered: members.iter().map(|_| None).collect(),
        };
        if let Err(e) = self.read_pages(client, &mut batch).await {
            return members.iter().map(|&i| (i, Err(e.duplicate()))).collect();
        }
        let mut out = Vec::with_capacity(members.len());
        for (slot, &index) in members.iter().enumerate() {
            let result = match batch.answered[slot].take() {
                Some(result) => result,
                None => self.get_one(client, &keys[index]).await,
            };
            out.push((index, result));
        }
        out
    }

    /// Reads the pages of one batch call into `batch`. A refusal of the call itself
    /// (`AccessDeniedException`) is remembered and leaves the batch unanswered.
    async fn read_pages(
        &self,
        client: &Client,
        batch: &mut Batch<'_>,
    ) -> Result<(), ProviderError> {
        let ids = batch.ids();
        let what = format!(
            "a batch of {} secrets in {}",
            ids.len(),
            batch.keys[batch.members[0]].region
        );
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .retry
                .run(|| {
                    let call = client
                        .batch_get_secret_value()
                        .set_secret_id_list(Some(ids.clone()))
                        .set_next_token(next_token.clone());
                    let what = &what;
                    async move { call.send().await.map_err(|e| self.errors.of_sdk(e, what)) }
                })
                .await;
            let mut page = match page {
                Ok(page) => page,
                Err(e) if e.kind() == ProviderErrorKind::Forbidden => {
                    tracing::debug!(
                        provider = self.errors.provider(),
                        "BatchGetSecretValue refused; fetching secrets one by one from now on"
                    );
                    self.batch_refused.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            batch.take_values(&mut page, self.errors);
            batch.take_errors(&mut page, self.errors);
            next_token = page.next_token.take().filter(|t| !t.is_empty());
            if next_token.is_none() || batch.answered.iter().all(Option::is_some) {
                return Ok(());
            }
        }
        Ok(())
    }
}

fn no_value(errors: &Errors, what: &str) -> ProviderError {
    errors.plain(
        ProviderErrorKind::NotFound,
        format!("{what} has no value (neither SecretString nor SecretBinary)"),
    )
}

/// One batch call's members and what the answer said of each so far.
struct Batch<'a> {
    keys: &'a [FetchKey],
    members: &'a [usize],
    answered: Vec<Option<Outcome>>,
}

impl Batch<'_> {
    fn ids(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|&i| self.keys[i].secret_id.clone())
            .collect()
    }

    fn describe(&self, slot: usize) -> String {
        self.keys[self.members[slot]].describe()
    }

    /// The page's values, each given to the unanswered members it names (and wiped when
    /// nothing asked for it).
    fn take_values(&mut self, page: &mut BatchGetSecretValueOutput, errors: &Errors) {
        for mut entry in page.secret_values.take().unwrap_or_default() {
            let (arn, name) = (entry.arn.take(), entry.name.take());
            let matching: Vec<usize> = (0..self.members.len())
                .filter(|&slot| self.answered[slot].is_none())
                .filter(|&slot| {
                    let id = &self.keys[self.members[slot]].secret_id;
                    names_secret(id, arn.as_deref(), name.as_deref())
                })
                .collect();
            let value = secret_value(entry.secret_string.take(), entry.secret_binary.take());
            for &slot in &matching {
                self.answered[slot] = Some(match &value {
                    Some(value) => Ok(value.clone()),
                    None => Err(no_value(errors, &self.describe(slot))),
                });
            }
        }
    }

    /// The page's per-secret errors, each given to the unanswered members it names.
    fn take_errors(&mut self, page: &mut BatchGetSecretValueOutput, errors: &Errors) {
        for entry in page.errors.take().unwrap_or_default() {
            let Some(id) = entry.secret_id.as_deref() else {
                continue;
            };
            let code = entry.error_code.as_deref().unwrap_or("UnknownError");
            for slot in 0..self.members.len() {
                if self.keys[self.members[slot]].secret_id != id || self.answered[slot].is_some() {
                    continue;
                }
                self.answered[slot] = Some(Err(errors.of_code(
                    code,
                    entry.message.as_deref(),
                    &self.describe(slot),
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, region: &str, stage: Option<&str>) -> FetchKey {
        FetchKey {
            region: region.to_owned(),
            secret_id: id.to_owned(),
            version_stage: stage.map(str::to_owned),
            version_id: None,
        }
    }

    #[test]
    fn keys_describe_themselves() {
        let text = key("prod/db", "eu-west-1", Some("AWSPREVIOUS")).describe();
        assert_eq!(
            text,
            "secret `prod/db` (version stage `AWSPREVIOUS`) in eu-west-1"
        );
    }

    #[test]
    fn current_versions_are_batched_per_region_twenty_at_a_time() {
        let refused = AtomicBool::new(false);
        let errors = Errors::new(
            super::super::error::Service {
                provider: "aws",
                name: "AWS Secrets Manager",
            },
            std::sync::Arc::new(crate::provider::http::Scrubber::new()),
        );
        let fetcher = Fetcher {
            client_for: |_: &str| -> Client { unreachable!("planning makes no call") },
            retry: RetryPolicy::never(),
            concurrency: 1,
            batch_refused: &refused,
            errors: &errors,
        };
        let mut keys: Vec<FetchKey> = (0..25)
            .map(|n| key(&format!("s{n}"), "us-east-1", None))
            .collect();
        keys.push(key("pinned", "us-east-1", Some("AWSPREVIOUS")));
        keys.push(key("alone", "eu-west-1", None));
        let sizes: Vec<usize> = fetcher
            .plan(&keys)
            .iter()
            .map(|job| match job {
                Job::Single(_) => 1,
                Job::Batch(members) => members.len(),
            })
            .collect();
        assert_eq!(sizes, vec![1, 20, 5, 1]);
        refused.store(true, Ordering::Relaxed);
        assert!(
            fetcher
                .plan(&keys)
                .iter()
                .all(|job| matches!(job, Job::Single(_)))
        );
    }
}
