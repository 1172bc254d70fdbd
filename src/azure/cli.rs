//! The Azure CLI credential: `az account get-access-token --output json --resource R
//! [--tenant T]`, for developers' laptops after `az login`.
//!
//! `az` prints `{"accessToken": …, "expiresOn": "2024-01-01 12:00:00.000000", "expires_on":
//! 1704110400, "tenant": …, "tokenType": "Bearer"}`; `expires_on` (Unix seconds, az 2.54 and
//! later) gives the lifetime, and without it the token is kept five minutes. The token is
//! read from stdout and never logged; stderr is quoted only as its first line, which `az`
//! uses for its `ERROR:` message.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use tokio::process::Command;
use zeroize::Zeroizing;

use crate::provider::{ProviderError, ProviderErrorKind};

use super::PROVIDER_ID;
use super::credential::AccessToken;
use super::entra::{seconds, unix_now};

const INSTALL_HINT: &str = "install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli) and sign in with `az login`, or set its path with AzureKeyVaultBuilder::az_path";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CliToken {
    access_token: Zeroizing<String>,
    #[serde(default, rename = "expires_on")]
    expires_on: Option<serde_json::Value>,
}

fn error(kind: ProviderErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(PROVIDER_ID, kind, message)
}

/// A token for `scope` from `az`.
pub(crate) async fn token(
    program: &Path,
    timeout: Duration,
    tenant: Option<&str>,
    scope: &str,
) -> Result<AccessToken, ProviderError> {
    let resource = scope.strip_suffix("/.default").unwrap_or(scope);
    let mut command = Command::new(program);
    command
        .args([
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
            resource,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(tenant) = tenant {
        command.args(["--tenant", tenant]);
    }
    let output = match tokio::time::timeout(timeout, command.output()).await {
        Err(_) => {
            return Err(error(
                ProviderErrorKind::Timeout,
                format!("`az account get-access-token` did not finish within {timeout:?}"),
            ));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(error(
                ProviderErrorKind::Configuration,
                format!(
                    "the Azure CLI `{}` was not found: {INSTALL_HINT}",
                    program.display()
                ),
            ));
        }
        Ok(Err(e)) => {
            return Err(error(
                ProviderErrorKind::Configuration,
                format!("cannot run the Azure CLI `{}`", program.display()),
            )
            .with_source(e));
        }
        Ok(Ok(output)) => output,
    };
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let first: String = first.chars().take(200).collect();
        let signed_out = stderr.contains("az login") || stderr.contains("AADSTS");
        let kind = if signed_out {
            ProviderErrorKind::Unauthorized
        } else {
            ProviderErrorKind::Unavailable
        };
        let hint = if signed_out { " (run `az login`)" } else { "" };
        return Err(error(
            kind,
            format!("`az account get-access-token` failed{hint}: {first}"),
        ));
    }
    let parsed: CliToken = serde_json::from_slice(&stdout).map_err(|_| {
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
    let lifetime = parsed
        .expires_on
        .as_ref()
        .and_then(seconds)
        .map_or(Duration::from_secs(300), |at| {
            Duration::from_secs(at.saturating_sub(unix_now()))
        });
    Ok(AccessToken {
        token: SecretString::from(parsed.access_token.as_str()),
        lifetime,
    })
}
