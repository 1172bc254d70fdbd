//! The main job on the embedded default: a local vault, no account needed.
//!
//! Run with `cargo run --example quickstart`.

#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/report.rs"]
mod report;

use std::process::ExitCode;

use request_vault::{ExposeSecret, OnePassword, RequestTemplate, Vault, VaultKey};
use reqwest::Method;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    report::exit_code(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let vault = Vault::new();

    // Local secrets: the values live in the vault.
    vault.set("api-key", "s3cr3t-api-key")?;
    vault.set("db-password", "correct horse battery staple")?;
    vault.set_allowed_domains("api-key", ["api.example.com", "*.example.org"])?;

    // Resolve one, or many at once.
    let api_key = vault.resolve("api-key").await?;
    println!(
        "api-key resolves to {} characters",
        api_key.expose_secret().len()
    );
    let all = vault.resolve_all(["api-key", "db-password"]).await?;
    println!("resolved {} secrets at once", all.len());

    // Describe what the vault holds: never the values.
    for info in vault.secrets() {
        println!("  {info}");
    }

    // Templates: `<<vault:NAME>>` rendered into a request, each part escaped as it needs,
    // sent to a loopback server started here; what it received is printed redacted.
    let (url, received) = loopback::start().await?;
    vault.set_allowed_domains("api-key", ["127.0.0.1"])?;
    let template = RequestTemplate::new(Method::GET, format!("{url}/search?key=<<vault:api-key>>"))
        .bearer_auth("<<vault:api-key>>");
    let response = vault.send(&template).await?;
    println!("sent: {}", response.status());
    println!("{}", vault.redactor().redact(&received.await?));

    // Storage: an age-encrypted file under a vault key. Keep the key somewhere safe (a
    // keychain, a secret manager), never next to the file.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("quickstart.age");
    let key = VaultKey::generate();
    let stored = Vault::create(&path, &key)?;
    stored.set("api-key", "s3cr3t-api-key")?;
    stored.save()?;
    let reopened = Vault::open(&path, &key)?;
    println!(
        "reopened {} with key {}…: api-key has {} characters",
        path.display(),
        &key.recipient()[..12],
        reopened.resolve("api-key").await?.expose_secret().len()
    );

    // Errors say what and where, and never show a value.
    vault.set_enabled("db-password", false)?;
    if let Err(err) = vault.resolve("db-password").await {
        println!("as expected: {err}");
    }
    if let Err(err) = vault.resolve("typo").await {
        println!("as expected: {err} (missing: {})", err.kind().is_missing());
    }

    // Linking to 1Password. Without a provider, a link is refused before anything is stored:
    if let Err(err) = vault.link("db", "op://Prod/Postgres/password") {
        println!("as expected: {err}");
    }
    // With one, references are checked offline when linked; values are fetched when first
    // resolved. With real credentials, use `OnePassword::from_env()?` instead.
    vault.add_provider(OnePassword::connect(
        "http://localhost:8080",
        "token-of-your-connect-server",
    )?);
    vault.link("db", "op://Prod/Postgres/password")?;
    vault.link(
        "stripe-otp",
        "op://dev/stripe/api keys/secret?attribute=otp",
    )?;
    if let Err(err) = vault.link("typo", "op://Prod/Postgres") {
        println!("as expected: {err}");
    }
    println!("  {}", vault.describe("db")?);
    Ok(())
}
