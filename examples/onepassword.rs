//! Resolves 1Password secret references given on the command line, with the credentials in
//! the environment (`OP_CONNECT_HOST` + `OP_CONNECT_TOKEN`, or `OP_SERVICE_ACCOUNT_TOKEN`) or,
//! when there are none, with the `op` CLI's own sign-in (the 1Password app or `op signin`),
//! and prints only each value's length and a redacted preview.
//!
//! ```sh
//! OP_SERVICE_ACCOUNT_TOKEN=ops_… cargo run --example onepassword -- "op://Prod/Postgres/password"
//! cargo run --example onepassword -- "op://Private/GitHub/token"   # signed in to the app
//! ```

#[path = "support/report.rs"]
mod report;
use std::process::ExitCode;

use request_vault::{ExposeSecret, OnePassword, Vault};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    report::exit_code(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let references: Vec<String> = std::env::args().skip(1).collect();
    if references.is_empty() {
        eprintln!("usage: onepassword <op://vault/item/[section/]field> …");
        std::process::exit(2);
    }
    let has_credentials = [
        "OP_CONNECT_HOST",
        "OP_CONNECT_TOKEN",
        "OP_SERVICE_ACCOUNT_TOKEN",
    ]
    .iter()
    .any(|variable| std::env::var_os(variable).is_some());
    let provider = if has_credentials {
        OnePassword::from_env()?
    } else {
        OnePassword::cli()?
    };
    println!("provider: {provider:?}");
    provider.check().await?;

    let vault = Vault::new();
    vault.add_provider(provider);
    let mut names = Vec::new();
    for (index, reference) in references.iter().enumerate() {
        let name = format!("ref-{index}");
        vault.link(&name, reference)?; // a malformed reference fails here, offline
        names.push(name);
    }
    // One batch: each 1Password item is fetched once.
    let values = vault.resolve_all(&names).await?;
    for (name, reference) in names.iter().zip(&references) {
        let value = values[name].expose_secret();
        println!(
            "{reference}: {} characters, {}",
            value.chars().count(),
            preview(value)
        );
    }
    Ok(())
}

/// The first two characters of long values only, and never more.
fn preview(value: &str) -> String {
    if value.chars().count() >= 12 {
        format!("{}…", value.chars().take(2).collect::<String>())
    } else {
        "…".to_owned()
    }
}
