//! Resolves Google Cloud Secret Manager references given on the command line, signed in
//! with Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, `gcloud auth
//! application-default login`, or the metadata server on Google Cloud), and prints only
//! each value's length.
//!
//! ```sh
//! gcloud auth application-default login
//! cargo run --example gcp --features gcp -- "gcpsecrets://my-project/db-credentials#password"
//! ```

use request_vault::{ExposeSecret, GcpSecretManager, Vault};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let references: Vec<String> = std::env::args().skip(1).collect();
    if references.is_empty() {
        eprintln!("usage: gcp <gcpsecrets://PROJECT/SECRET[?version=V][&location=L][#KEY]> …");
        std::process::exit(2);
    }
    let provider = GcpSecretManager::from_env()?;
    println!("provider: {provider:?}"); // credentials are never shown

    let vault = Vault::new();
    vault.add_provider(provider);
    let mut names = Vec::new();
    for (index, reference) in references.iter().enumerate() {
        let name = format!("ref-{index}");
        vault.link(&name, reference)?; // a malformed reference fails here, offline
        names.push(name);
    }
    // One batch: each distinct secret version is accessed once, however many `#KEY`s
    // point into it.
    let values = vault.resolve_all(&names).await?;
    for (name, reference) in names.iter().zip(&references) {
        let length = values[name].expose_secret().chars().count();
        println!("{reference}: {length} characters");
    }
    Ok(())
}
