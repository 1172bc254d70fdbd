//! The Azure CLI credential ([`AzureCli`]): `az account get-access-token --output json
//! --resource R [--tenant T]`, for developers' laptops after `az login`.
//!
//! `az` prints `{"accessToken": …, "expiresOn": "2024-01-01 12:00:00.000000", "expires_on":
//! 1704110400, "tenant": …, "tokenType": "Bearer"}`; `expires_on` (Unix seconds, az 2.54 and
//! later) gives the lifetime, and without it the token is kept five minutes. The tenant it
//! names is the signed-in user's home here: a vault's challenge naming it needs no allowance.
//! The token is read from stdout and never logged; stderr is quoted only as its first line,
//! which `az` uses for its `ERROR:` message, scrubbed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use tokio::process::Command;

use crate::provider::command::Run;
use crate::provider::{ProviderError, ProviderErrorKind};

use super::error::PROVIDER_ID;
use super::token::{AccessToken, TokenContext, TokenSource, lifetime};
use super::wire::CliToken;

const INSTALL_HINT: &str = "install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli) and sign in with `az login`, or set its path with AzureKeyVaultBuilder::az_path";

/// How long a token is kept when `az` does not say when it expires.
const UNDATED_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The signed-in Azure CLI user.
#[derive(Debug)]
pub(crate) struct AzureCli {
    program: PathBuf,
    /// The tenant `az` said its last token was for.
    signed_in: Mutex<Option<String>>,
}

impl AzureCli {
    /// The CLI at `program` (`az` on `PATH` by default).
    pub(crate) fn new(program: PathBuf) -> Self {
        AzureCli {
            program,
            signed_in: Mutex::new(None),
        }
    }
}

#[async_trait]
impl TokenSource for AzureCli {
    fn kind(&self) -> &'static str {
        "Azure CLI"
    }

    fn is_home_tenant(&self, tenant: &str) -> bool {
        self.signed_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            .is_some_and(|home| home.eq_ignore_ascii_case(tenant))
    }

    async fn token(
        &self,
        context: &TokenContext,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<AccessToken, ProviderError> {
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        let command = command(&self.program, resource, tenant);
        let output = Run {
            provider: PROVIDER_ID,
            name: "`az account get-access-token`",
            timeout: context.cli_timeout,
            cap: context.http.max_response_bytes(),
        }
        .run(command, None, |e| spawn_error(&self.program, e))
        .await?;
        let stdout = output.stdout;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(failure(&context.http.scrubber().scrub(&stderr)));
        }
        let (token, tenant) = parse(&stdout)?;
        if tenant.is_some() {
            *self.signed_in.lock().unwrap_or_else(|p| p.into_inner()) = tenant;
        }
        Ok(token)
    }
}

fn error(kind: ProviderErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(PROVIDER_ID, kind, message)
}

/// `az account get-access-token` for `resource`, in `tenant` when one is asked for.
fn command(program: &Path, resource: &str, tenant: Option<&str>) -> Command {
    let mut command = Command::new(program);
    command.args([
        "account",
        "get-access-token",
        "--output",
        "json",
        "--resource",
        resource,
    ]);
    if let Some(tenant) = tenant {
        command.args(["--tenant", tenant]);
    }
    command
}

/// The error for an `az` that could not be started.
fn spawn_error(program: &Path, e: std::io::Error) -> ProviderError {
    match e.kind() {
        std::io::ErrorKind::NotFound => error(
            ProviderErrorKind::Configuration,
            format!(
                "the Azure CLI `{}` was not found: {INSTALL_HINT}",
                program.display()
            ),
        ),
        _ => error(
            ProviderErrorKind::Configuration,
            format!("cannot run the Azure CLI `{}`", program.display()),
        )
        .with_source(e),
    }
}

/// The error for a failed run, from what `az` wrote to stderr: signed out (or refused by
/// Entra ID) is `Unauthorized`, anything else `Unavailable`.
fn failure(stderr: &str) -> ProviderError {
    let first = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let first: String = first.chars().take(200).collect();
    let signed_out = stderr.contains("az login") || stderr.contains("AADSTS");
    let (kind, hint) = if signed_out {
        (ProviderErrorKind::Unauthorized, " (run `az login`)")
    } else {
        (ProviderErrorKind::Unavailable, "")
    };
    error(
        kind,
        format!("`az account get-access-token` failed{hint}: {first}"),
    )
}

/// The token `az` printed, and the tenant it says the token is for.
fn parse(stdout: &[u8]) -> Result<(AccessToken, Option<String>), ProviderError> {
    let parsed: CliToken = serde_json::from_slice(stdout).map_err(|_| {
        error(
            ProviderErrorKind::Protocol,
            "`az account get-access-token` printed something that is not its JSON token",
        )
    })?;
    if parsed.access_token.is_empty() {
        return Err(error(
            ProviderErrorKind::Protocol,
            "`az account get-access-token` printed an empty token",
        ));
    }
    let token = AccessToken {
        token: SecretString::from(parsed.access_token.as_str()),
        lifetime: lifetime(None, parsed.expires_on.as_ref(), UNDATED_LIFETIME),
    };
    Ok((token, parsed.tenant.filter(|t| !t.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn stderr_says_signed_out_or_unavailable() {
        let signed_out = failure("\nERROR: Please run 'az login' to setup account.\nmore");
        assert_eq!(signed_out.kind(), ProviderErrorKind::Unauthorized);
        assert!(
            signed_out
                .message()
                .ends_with("(run `az login`): ERROR: Please run 'az login' to setup account.")
        );
        let other = failure(&"x".repeat(500));
        assert_eq!(other.kind(), ProviderErrorKind::Unavailable);
        assert!(other.message().len() < 300);
    }

    #[test]
    fn output_gives_the_token_its_lifetime_and_tenant() {
        let (token, tenant) = parse(
            br#"{"accessToken": "cli-token", "expiresOn": "2100-01-01 00:00:00.000000", "expires_on": 4000000000, "tenant": "tenant-a", "tokenType": "Bearer"}"#,
        )
        .unwrap();
        assert_eq!(token.token.expose_secret(), "cli-token");
        assert!(token.lifetime > Duration::from_secs(3600));
        assert_eq!(tenant.as_deref(), Some("tenant-a"));
        let (undated, none) = parse(br#"{"accessToken": "t"}"#).unwrap();
        assert_eq!(undated.lifetime, UNDATED_LIFETIME);
        assert_eq!(none, None);
        assert!(parse(br#"{"accessToken": ""}"#).is_err());
        assert!(parse(b"not json").is_err());
    }
}
