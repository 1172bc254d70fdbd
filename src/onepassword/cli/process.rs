//! Running `op`: as whom (a service-account token in its environment, or the CLI's own
//! sign-in), with what input, for how long, and how much of what it prints is read.
//!
//! `op` is a program on the user's machine, but what it prints is read as a server's answer
//! is: each of its standard output and standard error is read up to the provider's cap
//! ([`OnePasswordBuilder::max_response_bytes`](crate::OnePasswordBuilder::max_response_bytes)),
//! and `op` is killed as soon as one passes it or the timeout runs out. Its error output
//! goes into errors scrubbed of every credential it was given (the service-account token,
//! and `OP_SESSION_*` session tokens of the caller's environment).

use std::path::{Path, PathBuf};

use std::sync::RwLock;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::process::Command;
use zeroize::Zeroizing;

use crate::onepassword::error::{PROVIDER_ID, error, op_failure};
use crate::onepassword::token::ServiceAccountToken;
use crate::provider::command::Run;
use crate::provider::http::Scrubber;
use crate::provider::{ProviderError, ProviderErrorKind};

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

/// The prefix of the variables holding `op signin` session tokens.
const SESSION_PREFIX: &str = "OP_SESSION_";

/// Whose identity `op` runs with.
pub(crate) enum SignIn {
    /// A service-account token, given to `op` in its environment.
    ServiceAccount(RwLock<ServiceAccountToken>),
    /// The CLI's own sign-in: the desktop app's integration or an `op signin` session.
    User,
}

/// How `op` is run: where it is, as whom, and its limits.
pub(crate) struct Runner {
    program: PathBuf,
    sign_in: SignIn,
    timeout: Duration,
    max_output: usize,
    scrubber: Scrubber,
}

impl Runner {
    /// Runs `program` as `sign_in`, each run within `timeout`, reading at most `max_output`
    /// bytes of each of its outputs. A service-account token is registered with the
    /// scrubber.
    pub(crate) fn new(
        program: PathBuf,
        sign_in: SignIn,
        timeout: Duration,
        max_output: usize,
    ) -> Self {
        let scrubber = Scrubber::new();
        if let SignIn::ServiceAccount(token) = &sign_in {
            scrubber.add(token.read().unwrap_or_else(|p| p.into_inner()).secret());
        }
        Runner {
            program,
            sign_in,
            timeout,
            max_output,
            scrubber,
        }
    }

    pub(crate) fn program(&self) -> &Path {
        &self.program
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

    /// Swaps the service-account token; a runner using the CLI's own sign-in has none.
    pub(crate) fn reauthenticate(&self, token: ServiceAccountToken) -> Result<(), ProviderError> {
        match &self.sign_in {
            SignIn::ServiceAccount(current) => {
                self.scrubber.add(token.secret());
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

    /// Runs `op` with `args`, feeding `input`, and returns its standard output.
    pub(crate) async fn run(
        &self,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let command = args.first().copied().unwrap_or("");
        tracing::debug!(command, "running the 1Password CLI");
        let name = format!("`op {command}`");
        let run = Run {
            provider: PROVIDER_ID,
            name: &name,
            timeout: self.timeout,
            cap: self.max_output,
        };
        let finished = run
            .run(self.command(args), input, |e| self.spawn_error(e))
            .await?;
        if finished.status.success() {
            return Ok(finished.stdout);
        }
        Err(self.failure(&finished.stderr))
    }

    /// `op` with `args`, its environment set for the sign-in.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.args(args);
        for variable in SERVICE_VARIABLES {
            command.env_remove(variable);
        }
        if let Some(token) = self.token() {
            command.env("OP_SERVICE_ACCOUNT_TOKEN", token.secret().expose_secret());
        }
        command
    }

    fn spawn_error(&self, e: std::io::Error) -> ProviderError {
        match e.kind() {
            std::io::ErrorKind::NotFound => missing(&self.program),
            _ => error(
                ProviderErrorKind::Configuration,
                format!(
                    "the 1Password CLI at `{}` could not be started",
                    self.program.display()
                ),
            )
            .with_source(e),
        }
    }

    /// The error of an `op` that exited with a failure, from its error output.
    fn failure(&self, stderr: &[u8]) -> ProviderError {
        if matches!(self.sign_in, SignIn::User) {
            // `op` had the caller's environment, and its session tokens with it.
            for (name, value) in std::env::vars_os() {
                if name.to_string_lossy().starts_with(SESSION_PREFIX)
                    && let Some(value) = value.to_str()
                {
                    self.scrubber.add_obtained(&SecretString::from(value));
                }
            }
        }
        let stderr = Zeroizing::new(String::from_utf8_lossy(stderr).into_owned());
        let failure = op_failure(&stderr, &self.scrubber);
        match (&self.sign_in, failure.kind()) {
            (SignIn::User, ProviderErrorKind::Unauthorized) => error(
                ProviderErrorKind::Unauthorized,
                format!("{}: {SIGN_IN_HINT}", failure.message()),
            ),
            _ => failure,
        }
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
