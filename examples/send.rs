//! Renders a request template with secrets in its URL, headers, basic auth and JSON body,
//! sends it to a loopback server this example starts, and prints what the server received
//! through the vault's redactor.
//!
//! Run with `cargo run --example send`.

#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/report.rs"]
mod report;

use std::process::ExitCode;

use request_vault::{RequestTemplate, Vault};
use reqwest::Method;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    report::exit_code(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (url, received) = loopback::start().await?;

    let vault = Vault::new();
    vault.set("api-key", "k3y/with&odd=chars")?;
    vault.set("user", "service-bot")?;
    vault.set("password", "pa55 \"word\"")?;
    // Only ever sent to this loopback server.
    vault.set_allowed_domains("password", ["127.0.0.1"])?;

    let template = RequestTemplate::new(
        Method::POST,
        format!("{url}/v1/items/<<vault:api-key>>?key=<<vault:api-key>>"),
    )
    .header("X-Api-Key", "<<vault:api-key>>")
    .basic_auth("<<vault:user>>", "<<vault:password>>")
    .json(r#"{"owner": "<<vault:user>>", "note": "password is <<vault:password>>"}"#);

    // Inspect the request without sending it...
    let request = vault
        .render_request(&reqwest::Client::new(), &template)
        .await?;
    println!(
        "{} {} ({} headers, sensitive ones hidden in Debug)",
        request.method(),
        vault.redactor().redact(request.url().as_str()),
        request.headers().len()
    );

    // ...or send it: redirects are followed hop by hop with the domain checks re-run.
    let response = vault.send(&template).await?;
    println!("status: {}", response.status());
    let raw = received.await?;
    println!(
        "the server received (redacted):\n{}",
        vault.redactor().redact(&raw)
    );

    // A secret restricted to other hosts is refused before anything is fetched or sent.
    vault.set_allowed_domains("api-key", ["api.example.com"])?;
    if let Err(err) = vault.send(&template).await {
        println!("as expected: {err}");
    }
    Ok(())
}
