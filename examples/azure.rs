//! Resolves Azure Key Vault references given on the command line, signed in as the
//! environment says (`AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`, workload
//! identity, a managed identity, or `az login`), and prints only each value's length.
//!
//! ```sh
//! az login
//! cargo run --example azure --features azure -- "azurekeyvault://my-vault/db-credentials#password"
//! ```

#[path = "support/report.rs"]
mod report;
use std::process::ExitCode;

use request_vault::{AzureKeyVault, ExposeSecret, Vault};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    report::exit_code(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let references: Vec<String> = std::env::args().skip(1).collect();
    if references.is_empty() {
        eprintln!("usage: azure <azurekeyvault://VAULT/SECRET[/VERSION][#KEY]> …");
        std::process::exit(2);
    }
    let provider = AzureKeyVault::from_env()?;
    println!("provider: {provider:?}"); // credentials are never shown

    let vault = Vault::new();
    vault.add_provider(provider.clone());
    let mut names = Vec::new();
    for (index, reference) in references.iter().enumerate() {
        let name = format!("ref-{index}");
        vault.link(&name, reference)?; // a malformed reference fails here, offline
        names.push(name);
    }
    // A token and one page of each linked vault's secret names (no values).
    provider.check().await?;
    // One batch: each distinct secret is fetched once, however many `#KEY`s point into it.
    let values = vault.resolve_all(&names).await?;
    for (name, reference) in names.iter().zip(&references) {
        let length = values[name].expose_secret().chars().count();
        println!("{reference}: {length} characters");
    }
    Ok(())
}
