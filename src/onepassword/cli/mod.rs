//! The `op` transport: the official 1Password CLI, with a service-account token or with the
//! CLI's own sign-in.
//!
//! The service-account wire protocol is not public, so tokens are used through `op`, which
//! receives the token only in its environment (`OP_SERVICE_ACCOUNT_TOKEN`; the Connect
//! variables, which `op` would prefer, are removed). With the CLI's own sign-in (the
//! 1Password app's CLI integration, or an `op signin` session in `OP_SESSION_*`), `op` gets
//! the caller's environment without `OP_SERVICE_ACCOUNT_TOKEN`, `OP_CONNECT_HOST` and
//! `OP_CONNECT_TOKEN`: any of those would make `op` use another identity than the signed-in
//! user's, and a caller who wants them builds the provider for them instead.
//!
//! A batch is resolved by a single `op inject` call: each reference is framed by random
//! markers, so that no value can forge a frame. When that call fails for a reason that may
//! concern only some references (not found, ambiguous), each reference is read alone with
//! `op read` so that each gets its own result; rate-limit and authentication failures fail
//! the batch at once. How `op` runs (environment, caps on its output, timeout, errors) is
//! [`process`]'s job.

use std::path::Path;

use futures_util::future::join_all;
use secrecy::SecretString;

use crate::onepassword::error::{PROVIDER_ID, error};
use crate::onepassword::reference::SecretReference;
use crate::onepassword::token::ServiceAccountToken;
use crate::provider::batch::Slots;
use crate::provider::{ProviderError, ProviderErrorKind, strip_ref_prefix};

mod process;

pub(crate) use process::{Runner, SignIn, find_on_path, missing};

/// The `op` transport: batches of references, each resolved by as few `op` runs as can be.
pub(crate) struct Cli {
    runner: Runner,
}

impl Cli {
    /// The transport running `op` as `runner` says.
    pub(crate) fn new(runner: Runner) -> Self {
        Cli { runner }
    }

    pub(crate) fn program(&self) -> &Path {
        self.runner.program()
    }

    /// Swaps the service-account token; a provider using the CLI's own sign-in has none.
    pub(crate) fn reauthenticate(&self, token: ServiceAccountToken) -> Result<(), ProviderError> {
        self.runner.reauthenticate(token)
    }

    /// The service-account token, when `op` runs with one.
    pub(crate) fn token(&self) -> Option<ServiceAccountToken> {
        self.runner.token()
    }

    /// `op whoami`: the CLI is there and the token (or the user's sign-in) is accepted.
    pub(crate) async fn check(&self) -> Result<(), ProviderError> {
        self.runner.run(&["whoami"], None).await.map(drop)
    }

    pub(crate) async fn resolve_all(
        &self,
        references: &[&str],
    ) -> Vec<Result<SecretString, ProviderError>> {
        let mut results = Slots::new(references.len());
        let mut pending = Vec::new();
        for (index, reference) in references.iter().enumerate() {
            let bare = strip_ref_prefix(reference);
            match SecretReference::parse(bare) {
                Ok(_) => pending.push(index),
                Err(e) => results.set(
                    index,
                    Err(ProviderError::from(e).with_reference(*reference)),
                ),
            }
        }
        if !pending.is_empty() {
            let batch: Vec<&str> = pending
                .iter()
                .map(|&i| strip_ref_prefix(references[i]))
                .collect();
            match self.inject(&batch).await {
                Ok(values) => {
                    for (index, value) in pending.iter().zip(values) {
                        results.set(
                            *index,
                            value.map_err(|e| e.with_reference(references[*index])),
                        );
                    }
                }
                Err(failure) if batch.len() > 1 && !concerns_everything(&failure) => {
                    let reads = join_all(batch.iter().map(|r| self.read(r))).await;
                    for (index, value) in pending.iter().zip(reads) {
                        results.set(
                            *index,
                            value.map_err(|e| e.with_reference(references[*index])),
                        );
                    }
                }
                Err(failure) => {
                    for &index in &pending {
                        results.set(
                            index,
                            Err(failure.duplicate().with_reference(references[index])),
                        );
                    }
                }
            }
        }
        results.finish_or_missing(PROVIDER_ID, references)
    }

    /// One `op inject` for the whole batch; one value per reference, in order.
    async fn inject(
        &self,
        references: &[&str],
    ) -> Result<Vec<Result<SecretString, ProviderError>>, ProviderError> {
        let nonce = nonce();
        let open = |i: usize| format!("<<rv-{nonce}-{i}-begin>>");
        let close = |i: usize| format!("<<rv-{nonce}-{i}-end>>");
        let mut template = String::new();
        for (i, reference) in references.iter().enumerate() {
            template.push_str(&format!("{}{{{{ {reference} }}}}{}\n", open(i), close(i)));
        }
        let output = self
            .runner
            .run(&["inject"], Some(template.as_bytes()))
            .await?;
        let text = std::str::from_utf8(&output).map_err(|_| {
            error(
                ProviderErrorKind::Protocol,
                "`op inject` printed something that is not UTF-8".to_owned(),
            )
        })?;
        Ok((0..references.len())
            .map(|i| {
                let (open, close) = (open(i), close(i));
                let start = text.find(&open).map(|at| at + open.len());
                let end = start.and_then(|s| text[s..].find(&close).map(|len| s + len));
                match (start, end) {
                    (Some(start), Some(end)) => Ok(SecretString::from(&text[start..end])),
                    _ => Err(error(
                        ProviderErrorKind::Protocol,
                        "`op inject` output lost a frame".to_owned(),
                    )),
                }
            })
            .collect())
    }

    /// `op read --no-newline <reference>`.
    async fn read(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let output = self
            .runner
            .run(&["read", "--no-newline", reference], None)
            .await?;
        let text = std::str::from_utf8(&output).map_err(|_| {
            error(
                ProviderErrorKind::Unsupported,
                "the value is not UTF-8 text".to_owned(),
            )
        })?;
        Ok(SecretString::from(text))
    }
}

/// Whether a failed batch would fail for every reference (so reading them one by one would
/// only spend the rate limit).
fn concerns_everything(failure: &ProviderError) -> bool {
    matches!(
        failure.kind(),
        ProviderErrorKind::RateLimited
            | ProviderErrorKind::Unauthorized
            | ProviderErrorKind::Configuration
            | ProviderErrorKind::Timeout
    )
}

/// 128 random bits as hex, for framing markers.
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let word = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    format!("{:016x}{:016x}", word(), word())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 32);
    }
}
