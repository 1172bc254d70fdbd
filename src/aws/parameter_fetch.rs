//! Fetching parameters: `GetParameters` with up to 10 names a call (`WithDecryption` on,
//! so `SecureString`s come back decrypted), each distinct parameter version once. Names
//! the answer lists in `InvalidParameters` fail alone as not found; an answer for a name
//! that was not asked for is dropped.

use crate::provider::{ProviderErrorKind, RetryPolicy};
use aws_sdk_ssm::Client;
use aws_sdk_ssm::operation::get_parameters::GetParametersOutput;

use super::batch::{self, Outcome};
use super::error::Errors;
use super::wire::{names_parameter, parameter_value};

/// The most names one `GetParameters` call takes.
pub(crate) const GET_PARAMETERS_LIMIT: usize = 10;

/// One distinct thing to fetch: a parameter (with its selector) in a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ParameterKey {
    pub(crate) region: String,
    /// The name as sent: `/app/db`, `/app/db:3`, `/app/db:blue`.
    pub(crate) requested: String,
}

impl ParameterKey {
    /// "parameter `/app/db:3` in eu-west-1", for messages.
    pub(crate) fn describe(&self) -> String {
        format!("parameter `{}` in {}", self.requested, self.region)
    }

    fn base_name(&self) -> &str {
        self.requested
            .split_once(':')
            .map_or(self.requested.as_str(), |(name, _)| name)
    }
}

/// How a provider fetches: the client of a region, its retries, its concurrency and its
/// error mapping.
pub(crate) struct ParameterFetcher<'a, F> {
    pub(crate) client_for: F,
    pub(crate) retry: RetryPolicy,
    pub(crate) concurrency: usize,
    pub(crate) errors: &'a Errors,
}

impl<F: Fn(&str) -> Client> ParameterFetcher<'_, F> {
    /// Fetches `keys`, one result each in order, at most `concurrency` calls at once.
    pub(crate) async fn fetch_all(&self, keys: &[ParameterKey]) -> Vec<Outcome> {
        let calls = plan(keys);
        batch::run(
            calls,
            keys.len(),
            self.concurrency,
            self.errors,
            |members| async move {
                let client = (self.client_for)(&keys[members[0]].region);
                self.get_parameters(&client, keys, &members).await
            },
        )
        .await
    }

    /// One `GetParameters` call for `members` (indices into `keys`, one region, at most
    /// 10, no two of the same parameter), retried per the policy.
    async fn get_parameters(
        &self,
        client: &Client,
        keys: &[ParameterKey],
        members: &[usize],
    ) -> Vec<(usize, Outcome)> {
        let names: Vec<String> = members.iter().map(|&i| keys[i].requested.clone()).collect();
        let what = match members {
            [one] => keys[*one].describe(),
            _ => format!("{} parameters in {}", names.len(), keys[members[0]].region),
        };
        let output = self
            .retry
            .run(|| {
                let call = client
                    .get_parameters()
                    .set_names(Some(names.clone()))
                    .with_decryption(true);
                let what = &what;
                async move { call.send().await.map_err(|e| self.errors.of_sdk(e, what)) }
            })
            .await;
        let mut output = match output {
            Ok(output) => output,
            Err(e) => return members.iter().map(|&i| (i, Err(e.duplicate()))).collect(),
        };
        let answered = self.read(&mut output, keys, members);
        members
            .iter()
            .zip(answered)
            .map(|(&index, result)| {
                let result = result.unwrap_or_else(|| {
                    Err(self.errors.plain(
                        ProviderErrorKind::Protocol,
                        format!(
                            "AWS did not answer for {} (neither a value nor an invalid name)",
                            keys[index].describe()
                        ),
                    ))
                });
                (index, result)
            })
            .collect()
    }

    /// What the answer says of each member: a value, not found, or nothing.
    fn read(
        &self,
        output: &mut GetParametersOutput,
        keys: &[ParameterKey],
        members: &[usize],
    ) -> Vec<Option<Outcome>> {
        let mut answered: Vec<Option<Outcome>> = members.iter().map(|_| None).collect();
        for mut parameter in output.parameters.take().unwrap_or_default() {
            let value = parameter_value(parameter.value.take());
            for (slot, &index) in members.iter().enumerate() {
                let key = &keys[index];
                if answered[slot].is_some()
                    || !names_parameter(
                        &key.requested,
                        parameter.name.as_deref(),
                        parameter.version,
                        parameter.selector.as_deref(),
                    )
                {
                    continue;
                }
                answered[slot] = Some(value.clone().ok_or_else(|| {
                    self.errors.plain(
                        ProviderErrorKind::NotFound,
                        format!("{} has no value", key.describe()),
                    )
                }));
            }
        }
        for invalid in output.invalid_parameters.take().unwrap_or_default() {
            for (slot, &index) in members.iter().enumerate() {
                if answered[slot].is_none() && keys[index].requested == invalid {
                    answered[slot] = Some(Err(self.errors.plain(
                        ProviderErrorKind::NotFound,
                        format!(
                            "{} not found in AWS Systems Manager Parameter Store (listed in \
                             InvalidParameters: no such parameter, version or label)",
                            keys[index].describe()
                        ),
                    )));
                }
            }
        }
        answered
    }
}

/// Calls of at most 10 names per region, no two versions of one parameter in a call (so
/// that each answer names exactly one of them).
fn plan(keys: &[ParameterKey]) -> Vec<Vec<usize>> {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let open = calls.iter_mut().find(|members| {
            let first = &keys[members[0]];
            first.region == key.region
                && members.len() < GET_PARAMETERS_LIMIT
                && members
                    .iter()
                    .all(|&m| keys[m].base_name() != key.base_name())
        });
        match open {
            Some(members) => members.push(index),
            None => calls.push(vec![index]),
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(requested: &str, region: &str) -> ParameterKey {
        ParameterKey {
            region: region.to_owned(),
            requested: requested.to_owned(),
        }
    }

    #[test]
    fn twenty_five_names_take_three_calls() {
        let keys: Vec<ParameterKey> = (0..25)
            .map(|n| key(&format!("/p/{n}"), "us-east-1"))
            .collect();
        let sizes: Vec<usize> = plan(&keys).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
    }

    #[test]
    fn regions_and_versions_of_one_parameter_go_apart() {
        let keys = vec![
            key("/a", "us-east-1"),
            key("/a:2", "us-east-1"),
            key("/a:blue", "us-east-1"),
            key("/b", "us-east-1"),
            key("/a", "eu-west-1"),
        ];
        assert_eq!(plan(&keys), vec![vec![0, 3], vec![1], vec![2], vec![4]]);
        assert_eq!(keys[1].describe(), "parameter `/a:2` in us-east-1");
    }
}
