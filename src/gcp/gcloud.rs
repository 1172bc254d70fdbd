//! The Google Cloud CLI's signed-in account: `gcloud auth print-access-token`, run off the
//! runtime's threads (a child process awaited by tokio) within a timeout. `gcloud` prints
//! the token alone and keeps its lifetime to itself, so a token is kept for
//! [`LIFETIME`] at most and renewed sooner when a server refuses it.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use tokio::process::Command;

use crate::provider::command::Run;
use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::PROVIDER_ID;
use super::token::{AccessToken, TokenContext};

/// How long a printed token is taken to live: gcloud hands out tokens with at least this
/// much left, and refreshes its own before printing one that has less.
pub(crate) const LIFETIME: Duration = Duration::from_secs(300);

const INSTALL_HINT: &str = "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install) \
     or set its path with `gcloud_path`";

/// The `gcloud` program.
#[derive(Debug, Clone)]
pub(crate) struct Gcloud {
    pub(crate) program: PathBuf,
}

fn error(kind: ProviderErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(PROVIDER_ID, kind, message)
}

impl Gcloud {
    /// The signed-in account's token.
    ///
    /// # Errors
    ///
    /// `Configuration` when `gcloud` is missing, `Unauthorized` when no account is signed
    /// in (`gcloud auth login`), `Timeout` when it outlives the timeout, `Protocol` when it
    /// prints no token.
    pub(crate) async fn token(&self, context: &TokenContext) -> Result<AccessToken, ProviderError> {
        let mut command = Command::new(&self.program);
        command.args(["auth", "print-access-token", "--quiet"]);
        let output = Run {
            provider: PROVIDER_ID,
            name: "`gcloud auth print-access-token`",
            timeout: context.command_timeout,
            cap: context.http.max_response_bytes(),
        }
        .run(command, None, |e| match e.kind() {
            std::io::ErrorKind::NotFound => error(
                ProviderErrorKind::Configuration,
                format!("`{}` was not found: {INSTALL_HINT}", self.program.display()),
            ),
            _ => error(
                ProviderErrorKind::Configuration,
                format!("cannot run `{}`", self.program.display()),
            )
            .with_source(e),
        })
        .await?;
        let stdout = output.stdout;
        if !output.status.success() {
            return Err(failure(&output.stderr));
        }
        let token = std::str::from_utf8(&stdout)
            .map(str::trim)
            .ok()
            .filter(|t| !t.is_empty() && !t.contains(char::is_whitespace))
            .ok_or_else(|| {
                error(
                    ProviderErrorKind::Protocol,
                    "`gcloud auth print-access-token` printed no token",
                )
            })?;
        let token = SecretString::from(token);
        context.obtained(&token);
        Ok(AccessToken {
            token,
            lifetime: LIFETIME,
        })
    }
}

/// The error for a failed run: its first line of `stderr` (gcloud's messages name the
/// problem and never a token), `Unauthorized` when no account is signed in or its
/// credentials were refused.
fn failure(stderr: &[u8]) -> ProviderError {
    let stderr = String::from_utf8_lossy(stderr);
    let first: String = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .chars()
        .take(300)
        .collect();
    let signed_out = [
        "gcloud auth login",
        "active account",
        "Reauthentication",
        "invalid_grant",
    ]
    .iter()
    .any(|sign| stderr.contains(sign));
    let (kind, hint) = if signed_out {
        (
            ProviderErrorKind::Unauthorized,
            " (run `gcloud auth login`)",
        )
    } else {
        (ProviderErrorKind::Unavailable, "")
    };
    error(
        kind,
        format!("`gcloud auth print-access-token` failed{hint}: {first}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_out_runs_are_unauthorized() {
        let error = failure(
            b"ERROR: (gcloud.auth.print-access-token) You do not currently have an active account selected.\nPlease run:\n\n  $ gcloud auth login\n",
        );
        assert_eq!(error.kind(), ProviderErrorKind::Unauthorized);
        assert!(
            error.message().contains("active account selected"),
            "{error}"
        );
        let other = failure(b"ERROR: network down\n");
        assert_eq!(other.kind(), ProviderErrorKind::Unavailable);
    }
}
