//! The `op` transport: the official 1Password CLI, with a service-account token or with the
//! CLI's own sign-in.
//!
//! The service-account wire protocol is not public, so tokens are used through `op`, which
//! receives the token only in its environment (`OP_SERVICE_ACCOUNT_TOKEN`; the Connect
//! variables, which `op` would prefer, are removed). With the CLI's own sign-in (the
//! 1Password app's CLI integration, or an `op signin` session in `OP_SESSION_*`), `op` gets
//! the caller's environment without `OP_SERVICE_ACCOUNT_TOKEN`, `OP_CONNECT_HOST` and
//! `OP_CONNECT_TOKEN`: any of those would make `op` use another identity than the signed-in
//! user's, and a caller who wants them builds the provider for them instead. A batch is resolved by a single
//! `op inject` call: each reference is framed by random markers, so that no value can forge
//! a frame. When that call fails for a reason that may concern only some references (not
//! found, ambiguous), each reference is read alone with `op read` so that each gets its own
//! result; rate-limit and authentication failures fail the batch at once.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::RwLock;
use std::time::Duration;

use futures_util::future::join_all;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use zeroize::Zeroizing;

use super::reference::SecretReference;
use super::token::ServiceAccountToken;
use super::{error, reference_error};
use crate::provider::batch::Slots;
use crate::provider::{ProviderError, ProviderErrorKind, strip_ref_prefix};

/// Where to get `op`, said when it is missing.
const INSTALL_HINT: &str = "install the 1Password CLI (https://developer.1password.com/docs/cli/get-started/) and put `op` on PATH, or set its path with OnePasswordBuilder::op_path";

/// What to tell a user whose `op` is not signed in.
const SIGN_IN_HINT: &str = "sign in with `op signin`, or unlock the 1Password app with its CLI integration turned on (Settings > Developer)";

/// The variables that would make `op` use another identity than the signed-in user's.
const SERVICE_VARIABLES: [&str; 3] = [
    "OP_SERVICE_ACCOUNT_TOKEN",
    "OP_CONNECT_HOST",
    "OP_CONNECT_TOKEN",
];

/// Whose identity `op` runs with.
pub(crate) enum SignIn {
    /// A service-account token, given to `op` in its environment.
    ServiceAccount(RwLock<ServiceAccountToken>),
    /// The CLI's own sign-in: the desktop app's integration or an `op signin` session.
    User,
}

pub(crate) struct Cli {
    program: PathBuf,
    sign_in: SignIn,
    timeout: Duration,
}

impl Cli {
    pub(crate) fn new(program: PathBuf, sign_in: SignIn, timeout: Duration) -> Self {
        Cli {
            program,
            sign_in,
            timeout,
        }
    }

    pub(crate) fn program(&self) -> &std::path::Path {
        &self.program
    }

    /// Swaps the service-account token; a provider using the CLI's own sign-in has none.
    pub(crate) fn reauthenticate(&self, token: ServiceAccountToken) -> Result<(), ProviderError> {
        match &self.sign_in {
            SignIn::ServiceAccount(current) => {
                *current.write().unwrap_or_else(|p| p.into_inner()) = token;
                Ok(())
            }
            SignIn::User => Err(error(
                ProviderErrorKind::Configuration,
                format!(
                    "this provider uses the `op` CLI's own sign-in and takes no token: {SIGN_IN_HINT}, or build a provider with OnePassword::service_account"
                ),
            )),
        }
    }

    /// The service-account token, when `op` runs with one.
    pub(crate) fn token(&self) -> Option<ServiceAccountToken> {
        match &self.sign_in {
            SignIn::ServiceAccount(token) => {
                Some(token.read().unwrap_or_else(|p| p.into_inner()).clone())
            }
            SignIn::User => None,
        }
    }

    /// `op whoami`: the CLI is there and the token (or the user's sign-in) is accepted.
    pub(crate) async fn check(&self) -> Result<(), ProviderError> {
        self.run(&["whoami"], None).await.map(drop)
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
                Err(e) => results.set(index, Err(reference_error(e).with_reference(*reference))),
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
        results.finish_or_missing(super::PROVIDER_ID, references)
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
        let output = self.run(&["inject"], Some(template.as_bytes())).await?;
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
        let output = self.run(&["read", "--no-newline", reference], None).await?;
        let text = std::str::from_utf8(&output).map_err(|_| {
            error(
                ProviderErrorKind::Unsupported,
                "the value is not UTF-8 text".to_owned(),
            )
        })?;
        Ok(SecretString::from(text))
    }

    /// Runs `op` with `args`, feeding `input`, and returns its standard output.
    async fn run(
        &self,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let token = self.token();
        let mut command = Command::new(&self.program);
        command.args(args);
        for variable in SERVICE_VARIABLES {
            command.env_remove(variable);
        }
        if let Some(token) = &token {
            command.env("OP_SERVICE_ACCOUNT_TOKEN", token.secret().expose_secret());
        }
        command
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => missing(&self.program),
            _ => error(
                ProviderErrorKind::Configuration,
                format!(
                    "the 1Password CLI at `{}` could not be started",
                    self.program.display()
                ),
            )
            .with_source(e),
        })?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // A child that exits early closes its input; its exit status tells why.
            let _ = stdin.write_all(input).await;
            drop(stdin);
        }
        tracing::debug!(
            command = args.first().copied().unwrap_or(""),
            "running the 1Password CLI"
        );
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Err(_) => {
                return Err(error(
                    ProviderErrorKind::Timeout,
                    format!("`op {}` did not finish within {:?}", args[0], self.timeout),
                ));
            }
            Ok(Err(e)) => {
                return Err(error(
                    ProviderErrorKind::Unavailable,
                    format!("`op {}` failed to run", args[0]),
                )
                .with_source(e));
            }
            Ok(Ok(output)) => output,
        };
        let stdout = Zeroizing::new(output.stdout);
        if output.status.success() {
            return Ok(stdout);
        }
        let failure = classify(&String::from_utf8_lossy(&output.stderr));
        Err(match (&self.sign_in, failure.kind()) {
            (SignIn::User, ProviderErrorKind::Unauthorized) => error(
                ProviderErrorKind::Unauthorized,
                format!("{}: {SIGN_IN_HINT}", failure.message()),
            ),
            _ => failure,
        })
    }
}

/// The error for an `op` that is not where it was looked for.
pub(crate) fn missing(program: &Path) -> ProviderError {
    error(
        ProviderErrorKind::Configuration,
        format!(
            "the 1Password CLI was not found at `{}`: {INSTALL_HINT}",
            program.display()
        ),
    )
}

/// The first file named `name` in a directory of `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Maps `op`'s error output to an error kind, keeping its first line (which names
/// references and items, never values) as the message.
fn classify(stderr: &str) -> ProviderError {
    let line = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("`op` failed without saying why");
    // Drop the `[ERROR] 2024/01/01 12:00:00 ` prefix.
    let message = line
        .strip_prefix("[ERROR] ")
        .map(|rest| rest.splitn(3, ' ').nth(2).unwrap_or(rest))
        .unwrap_or(line)
        .trim();
    let lower = stderr.to_ascii_lowercase();
    let kind = if lower.contains("too many requests")
        || lower.contains("rate limit")
        || lower.contains("(429)")
    {
        ProviderErrorKind::RateLimited
    } else if lower.contains("more than one") || lower.contains("ambiguous") {
        ProviderErrorKind::Ambiguous
    } else if lower.contains("not currently signed in")
        || lower.contains("account is not signed in")
        || lower.contains("authorization prompt dismissed")
        || lower.contains("unauthorized")
        || lower.contains("invalid token")
        || lower.contains("authentication")
        || lower.contains("(401)")
    {
        ProviderErrorKind::Unauthorized
    } else if lower.contains("forbidden")
        || lower.contains("(403)")
        || lower.contains("does not have access")
    {
        ProviderErrorKind::Forbidden
    } else if lower.contains("isn't a")
        || lower.contains("not found")
        || lower.contains("could not find")
        || lower.contains("does not have a field")
        || lower.contains("no item")
    {
        ProviderErrorKind::NotFound
    } else if lower.contains("timeout") || lower.contains("connection") || lower.contains("(5") {
        ProviderErrorKind::Unavailable
    } else {
        ProviderErrorKind::Protocol
    };
    let mut failure = error(kind, format!("`op`: {message}"));
    if kind == ProviderErrorKind::Ambiguous {
        let candidates: Vec<String> = stderr
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|word| super::reference::is_id(word))
            .map(str::to_owned)
            .collect();
        failure = failure.with_candidates(candidates);
    }
    failure
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
    fn op_errors_map_to_kinds() {
        let cases = [
            (
                "[ERROR] 2024/01/01 12:00:00 \"Postgres\" isn't an item in the \"Prod\" vault. Specify the item with its ID, name, or domain.",
                ProviderErrorKind::NotFound,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 More than one item matches \"db\". Try again and specify the item by its ID:\n\t* for the item \"db\" in vault Prod: abcdefghijklmnopqrstuvwxyz\n\t* for the item \"db\" in vault Prod: bcdefghijklmnopqrstuvwxyza",
                ProviderErrorKind::Ambiguous,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 Too many requests. Retry later.",
                ProviderErrorKind::RateLimited,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 You are not currently signed in. Please run `op signin --help` for instructions",
                ProviderErrorKind::Unauthorized,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 account is not signed in",
                ProviderErrorKind::Unauthorized,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 authorization prompt dismissed, please try again",
                ProviderErrorKind::Unauthorized,
            ),
            (
                "[ERROR] 2024/01/01 12:00:00 something new",
                ProviderErrorKind::Protocol,
            ),
        ];
        for (stderr, kind) in cases {
            let failure = classify(stderr);
            assert_eq!(failure.kind(), kind, "{stderr}");
            assert!(
                !failure.message().contains("[ERROR]"),
                "{}",
                failure.message()
            );
        }
        let ambiguous = classify(cases[1].0);
        assert_eq!(ambiguous.candidates().len(), 2);
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 32);
    }
}
