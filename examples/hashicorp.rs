//! Resolves HashiCorp Vault references given on the command line, with the `vault` CLI's
//! environment (`VAULT_ADDR`, `VAULT_TOKEN` or `~/.vault-token`, `VAULT_NAMESPACE`,
//! `VAULT_CACERT`), and prints only each value's length and a redacted preview.
//!
//! ```sh
//! VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=hvs.… \
//!   cargo run --example hashicorp --features hashicorp -- \
//!   "vault://secret/myapp/db#password" "vault://database/creds/app#username"
//! ```

use std::error::Error as _;

use request_vault::{Error, ExposeSecret, HashiCorpVault, Vault};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let references: Vec<String> = std::env::args().skip(1).collect();
    if references.is_empty() {
        eprintln!("usage: hashicorp <vault://MOUNT/PATH[?version=N&namespace=NS]#KEY> …");
        std::process::exit(2);
    }
    if let Err(error) = run(&references).await {
        // What went wrong and why, never a Debug dump.
        let mut shown = error.to_string();
        eprintln!("error: {shown}");
        let mut source = error.source();
        while let Some(cause) = source {
            // The crate's error repeats its provider error's text: show what is new.
            let text = cause.to_string();
            if !shown.contains(&text) {
                eprintln!("  caused by: {text}");
            }
            shown = text;
            source = cause.source();
        }
        std::process::exit(1);
    }
}

async fn run(references: &[String]) -> Result<(), Error> {
    let provider = HashiCorpVault::from_env()?;
    println!("provider: {provider:?}"); // never shows the token
    provider.check().await?; // address, token and namespace

    let vault = Vault::new();
    vault.add_provider(provider);
    let mut names = Vec::new();
    for (index, reference) in references.iter().enumerate() {
        let name = format!("ref-{index}");
        vault.link(&name, reference)?; // a malformed reference fails here, offline
        names.push(name);
    }
    // One batch: each mount is looked up once and each distinct path read once; the fields
    // of one dynamic secret come from one lease.
    let values = vault.resolve_all(&names).await?;
    for (name, reference) in names.iter().zip(references) {
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
