//! Runs a command with secrets in its environment, as `op run` does, and masks them in its
//! output.
//!
//! ```sh
//! cargo run --example run                                  # a demo: a local vault, `sh -c env`
//! cargo run --example run -- app.env -- ./server --port 8080
//! REQUEST_VAULT_KEY=AGE-SECRET-KEY-1… cargo run --example run -- --vault secrets.age app.env -- ./server
//! ```
//!
//! `app.env` holds `NAME=template` lines (`#` comments and blank lines are skipped), such as
//! `DSN=postgres://app:<<vault:db-password>>@db/app`. Every template is rendered before the
//! command starts, in one batched fetch; an unknown secret stops everything. The command's
//! stdout and stderr go through the vault's live redactor, line by line: a secret it prints
//! shows as `[vault:NAME]`.

#[path = "support/run.rs"]
mod run;

use request_vault::{Vault, VaultKey};

/// The demo's env file and command, when none is given.
const DEMO_ENV: &str = "\
# Rendered from the vault the example builds.
DB_PASSWORD=<<vault:db-password>>
DSN=postgres://app:<<vault:db-password>>@db.internal/app
API_KEY=<<vault:api-key>>
";
const DEMO_COMMAND: &str = "env | grep -E '^(DB_PASSWORD|DSN|API_KEY)=' | sort";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let vault = match args.iter().position(|a| a == "--vault") {
        Some(at) => {
            let path = args.get(at + 1).ok_or("--vault needs a file")?.clone();
            args.drain(at..at + 2);
            let key: VaultKey = std::env::var("REQUEST_VAULT_KEY")
                .map_err(|_| "set REQUEST_VAULT_KEY to the vault's key (AGE-SECRET-KEY-1…)")?
                .parse()?;
            Vault::open(path, &key)?
        }
        None => demo_vault()?,
    };
    let (env_text, command) = match args.iter().position(|a| a == "--") {
        Some(at) => {
            let file = args
                .first()
                .filter(|_| at == 1)
                .ok_or("usage: run [--vault FILE] ENV_FILE -- COMMAND [ARGS…]")?;
            (std::fs::read_to_string(file)?, args[at + 1..].to_vec())
        }
        None if args.is_empty() => (
            DEMO_ENV.to_owned(),
            vec!["sh".to_owned(), "-c".to_owned(), DEMO_COMMAND.to_owned()],
        ),
        None => return Err("usage: run [--vault FILE] ENV_FILE -- COMMAND [ARGS…]".into()),
    };
    let pairs = run::parse_env_file(&env_text)?;
    let (status, _, _) = run::run(
        &vault,
        pairs,
        &command,
        std::io::stdout(),
        std::io::stderr(),
    )
    .await?;
    // The vault's values are wiped before the process ends with the command's status.
    drop(vault);
    std::process::exit(status.code().unwrap_or(1));
}

/// A local vault with the demo's secrets: no account needed.
fn demo_vault() -> Result<Vault, request_vault::Error> {
    let vault = Vault::new();
    vault.set("db-password", "correct horse battery staple")?;
    vault.set("api-key", "s3cr3t-api-key")?;
    Ok(vault)
}
