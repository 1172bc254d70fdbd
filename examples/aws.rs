//! Resolves AWS Secrets Manager and Parameter Store references given on the command line
//! with the standard AWS credential chain and region (environment, profiles, SSO, roles,
//! instance metadata), and prints only each value's length.
//!
//! ```sh
//! AWS_PROFILE=dev cargo run --example aws --features aws -- "awssecrets://prod/db#password" awsssm://app/token
//! # against an emulator such as moto (`moto_server -p 5000`):
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_REGION=us-east-1 \
//!     AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test cargo run --example aws --features aws -- awssecrets://x awsssm://y
//! ```

#[path = "support/report.rs"]
mod report;
use std::process::ExitCode;

use request_vault::{AwsParameterStore, AwsSecretsManager, ExposeSecret, Vault};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    report::exit_code(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let references: Vec<String> = std::env::args().skip(1).collect();
    if references.is_empty() {
        eprintln!(
            "usage: aws <awssecrets://SECRET[?version_stage=S&version_id=V&region=R][#KEY] | \
             awsssm://PATH/TO/PARAM[:VERSION|:LABEL][?region=R][#KEY]> …"
        );
        std::process::exit(2);
    }
    let secrets = AwsSecretsManager::from_env().await?;
    let parameters = AwsParameterStore::from_env().await?;
    println!("providers: {secrets:?}, {parameters:?}");

    let vault = Vault::new();
    vault.add_provider(secrets);
    vault.add_provider(parameters);
    let mut names = Vec::new();
    for (index, reference) in references.iter().enumerate() {
        let name = format!("ref-{index}");
        vault.link(&name, reference)?; // a malformed reference fails here, offline
        names.push(name);
    }
    // One batch: BatchGetSecretValue for up to 20 secrets a call and GetParameters for up
    // to 10 parameters a call, each secret or parameter once.
    let values = vault.resolve_all(&names).await?;
    for (name, reference) in names.iter().zip(&references) {
        println!(
            "{reference}: {} characters",
            values[name].expose_secret().chars().count()
        );
    }
    Ok(())
}
