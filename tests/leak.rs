//! Secrets never leak: `Debug`/`Display` of the vault, of every `SecretInfo` and of every
//! error produced here, and all `tracing` output, hold none of a known secret's bytes.
//!
//! The scan is proven first: a planted copy of the secret must be found.

mod common;

use std::time::Duration;

use common::connect::{ConnectServer, Data, field, item, vault};
use common::{Captured, MapProvider, contains_bytes};
use request_vault::provider::RetryPolicy;
use request_vault::{Error, ExposeSecret, OnePassword, RequestTemplate, Vault};

const SECRET: &str = "s3cr3t-Leak-Canary-7f9a";
const LINKED_SECRET: &str = "linked-Canary-41d2";
const CONNECT_TOKEN: &str = "connect-Token-Canary-88c1";
const OP_SECRET: &str = "onepassword-Canary-03be";

/// Everything printable the suite produced, in one buffer.
#[derive(Default)]
struct Printed(Vec<u8>);

impl Printed {
    fn both<T: std::fmt::Debug + std::fmt::Display>(&mut self, item: &T) {
        self.0
            .extend_from_slice(format!("{item:?}\n{item}\n").as_bytes());
    }

    fn error(&mut self, error: Error) {
        self.both(&error);
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            self.0
                .extend_from_slice(format!("{inner:?}\n{inner}\n").as_bytes());
            source = inner.source();
        }
    }

    fn assert_clean(&self, what: &str) {
        for secret in [SECRET, LINKED_SECRET, CONNECT_TOKEN, OP_SECRET] {
            assert!(
                !contains_bytes(&self.0, secret.as_bytes()),
                "{what} leaks a secret"
            );
        }
    }
}

#[test]
fn the_scan_finds_a_planted_secret() {
    let mut printed = Printed::default();
    printed
        .0
        .extend_from_slice(format!("noise {SECRET} noise").as_bytes());
    assert!(contains_bytes(&printed.0, SECRET.as_bytes()));
    let captured = Captured::default();
    {
        let _guard = captured.install();
        tracing::info!(planted = LINKED_SECRET, "planted");
    }
    assert!(contains_bytes(
        captured.text().as_bytes(),
        LINKED_SECRET.as_bytes()
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_printable_holds_a_secret() {
    let captured = Captured::default();
    let _guard = captured.install();
    let mut printed = Printed::default();

    let vault = Vault::new();
    vault.set("api-key", SECRET).unwrap();
    vault
        .set_allowed_domains("api-key", ["api.example.com"])
        .unwrap();
    let provider = MapProvider::new("test", "test");
    let reference = provider.insert("db", LINKED_SECRET);
    vault.add_provider(provider.clone());
    vault.link("db", &reference).unwrap();

    // Values resolve, and the handles that hold them print nothing secret.
    let local = vault.resolve("api-key").await.unwrap();
    let linked = vault.resolve("db").await.unwrap();
    assert_eq!(local.expose_secret(), SECRET);
    assert_eq!(linked.expose_secret(), LINKED_SECRET);
    printed
        .0
        .extend_from_slice(format!("{local:?} {linked:?}").as_bytes());
    let all = vault.resolve_all(["api-key", "db"]).await.unwrap();
    printed.0.extend_from_slice(format!("{all:?}").as_bytes());

    printed.both(&vault);
    for info in vault.secrets() {
        printed.both(&info);
    }

    // Every error kind the vault produces, with the secrets in place.
    printed.error(vault.set("db", SECRET).unwrap_err());
    printed.error(vault.set("bad name", SECRET).unwrap_err());
    printed.error(vault.resolve("missing").await.unwrap_err());
    printed.error(vault.rename("api-key", "db").unwrap_err());
    printed.error(
        vault
            .set_allowed_domains("api-key", ["bad host"])
            .unwrap_err(),
    );
    printed.error(vault.link("x", "nope://x").unwrap_err());
    printed.error(vault.link("x", "test://").unwrap_err());
    printed.error(vault.link("x", "no-scheme").unwrap_err());
    vault.link("broken", "test://missing").unwrap();
    printed.error(vault.resolve("broken").await.unwrap_err());
    vault.set_enabled("api-key", false).unwrap();
    printed.error(vault.resolve("api-key").await.unwrap_err());
    printed.error(
        vault
            .resolve_all(["api-key", "broken", "missing", "db"])
            .await
            .unwrap_err(),
    );
    // Request rendering errors, and the redactor's own Debug.
    vault.set_enabled("api-key", true).unwrap();
    vault.set("crlf", format!("{SECRET}\r\nX: y")).unwrap();
    let client = reqwest::Client::new();
    for template in [
        RequestTemplate::new(
            reqwest::Method::GET,
            "https://evil.example/<<vault:api-key>>",
        ),
        RequestTemplate::new(reqwest::Method::GET, "http://127.0.0.1:1/")
            .header("X", "<<vault:crlf>>"),
        RequestTemplate::new(reqwest::Method::GET, "http://127.0.0.1:1/")
            .json("{\"a\": <<vault:crlf>>}"),
        RequestTemplate::new(reqwest::Method::GET, "http://127.0.0.1:1/<<vault:missing>>"),
    ] {
        printed.error(vault.render_request(&client, &template).await.unwrap_err());
    }
    printed.error(vault.render("<<vault:api-key").await.unwrap_err());
    printed
        .0
        .extend_from_slice(format!("{:?}", vault.redactor()).as_bytes());
    let rendered = vault
        .render_request(
            &client,
            &RequestTemplate::new(reqwest::Method::GET, "https://api.example.com/")
                .header("X", "<<vault:api-key>>"),
        )
        .await
        .unwrap();
    printed
        .0
        .extend_from_slice(format!("{:?}", rendered.headers()).as_bytes());
    vault.remove_provider("test");
    printed.error(vault.resolve("db").await.unwrap_err());
    printed.both(&vault);
    for info in vault.secrets() {
        printed.both(&info);
    }
    vault.clear_cache();

    printed.assert_clean("Debug/Display of the vault, infos and errors");
    let traced = captured.text();
    assert!(
        traced.contains("linked secret"),
        "tracing was captured: {traced}"
    );
    Printed(traced.into_bytes()).assert_clean("tracing output");
}

#[tokio::test(flavor = "current_thread")]
async fn onepassword_shows_no_token_and_no_value() {
    let captured = Captured::default();
    let _guard = captured.install();
    let mut printed = Printed::default();
    let data = Data {
        vaults: vec![vault(
            "Prod",
            vec![item(
                "Postgres",
                vec![field("password", "CONCEALED", OP_SECRET)],
            )],
        )],
    };
    let server = ConnectServer::start(data, CONNECT_TOKEN, Duration::ZERO).await;
    let provider = OnePassword::builder()
        .retry(RetryPolicy::never())
        .connect(&server.url(), CONNECT_TOKEN)
        .unwrap();
    printed
        .0
        .extend_from_slice(format!("{provider:?}").as_bytes());
    let vault = Vault::new();
    vault.add_provider(provider.clone());
    vault.link("db", "op://Prod/Postgres/password").unwrap();
    assert_eq!(
        vault.resolve("db").await.unwrap().expose_secret(),
        OP_SECRET
    );
    printed.both(&vault);
    for info in vault.secrets() {
        printed.both(&info);
    }
    for reference in [
        "op://Prod/Postgres/password?attribute=otp",
        #[cfg(feature = "ssh")]
        "op://Prod/Postgres/password?ssh-format=openssh",
        "op://Prod/Postgres/password?attribute=size",
        "op://Prod/Nope/password",
        "op://Nope/Postgres/password",
    ] {
        vault.link("probe", reference).unwrap();
        printed.error(vault.resolve("probe").await.unwrap_err());
    }
    printed.error(vault.link("bad", "op://Prod/Postgres").unwrap_err());
    let wrong = OnePassword::connect(&server.url(), "wrong").unwrap();
    printed.error(wrong.check().await.unwrap_err());
    wrong
        .reauthenticate(format!("{CONNECT_TOKEN}-old"))
        .unwrap();
    printed.error(wrong.check().await.unwrap_err());
    printed.error(
        OnePassword::connect(&server.url(), format!("{CONNECT_TOKEN} with space")).unwrap_err(),
    );
    printed.error(OnePassword::service_account(format!("ops_{CONNECT_TOKEN}")).unwrap_err());
    printed.error(OnePassword::service_account(CONNECT_TOKEN).unwrap_err());
    printed.assert_clean("1Password Debug, errors and infos");
    Printed(captured.text().into_bytes()).assert_clean("tracing output of 1Password");
}

#[tokio::test(flavor = "current_thread")]
async fn vault_files_keys_and_passphrases_stay_hidden() {
    use request_vault::{ImportOptions, SecretString, VaultKey};
    const PASSPHRASE: &str = "passphrase-Canary-5a5a";
    let captured = Captured::default();
    let _guard = captured.install();
    let mut printed = Printed::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    let key_text = key.expose_secret().to_owned();
    let vault = Vault::create(&path, &key).unwrap();
    vault.set("api-key", SECRET).unwrap();
    vault.save().unwrap();
    assert!(
        !contains_bytes(&std::fs::read(&path).unwrap(), SECRET.as_bytes()),
        "the file is encrypted"
    );
    printed.0.extend_from_slice(format!("{key:?}").as_bytes());
    printed.both(&vault);
    let wrong = VaultKey::generate();
    printed.error(Vault::open(&path, &wrong).unwrap_err());
    vault.lock();
    printed.error(vault.unlock(&wrong).unwrap_err());
    printed.error(vault.save().unwrap_err());
    printed.error(vault.resolve("api-key").await.unwrap_err());
    vault.unlock(&key).unwrap();
    let passphrase_key = VaultKey::from_passphrase(SecretString::from(PASSPHRASE));
    printed
        .0
        .extend_from_slice(format!("{passphrase_key:?}").as_bytes());
    printed.error(
        vault
            .rekey(&VaultKey::from_passphrase(SecretString::from(
                "Canary-shrt",
            )))
            .unwrap_err(),
    );
    printed.error(format!("{key_text}x").parse::<VaultKey>().unwrap_err());
    let export = vault.export_encrypted(PASSPHRASE).unwrap();
    assert!(!contains_bytes(&export, SECRET.as_bytes()));
    printed.error(
        Vault::new()
            .import(
                &export,
                ImportOptions::new().password("not-the-Canary-5a5a"),
            )
            .unwrap_err(),
    );
    std::fs::write(&path, b"garbage").unwrap();
    printed.error(Vault::open(&path, &key).unwrap_err());
    for needle in [key_text.as_str(), PASSPHRASE] {
        assert!(
            !contains_bytes(&printed.0, needle.as_bytes()),
            "a key leaks"
        );
        assert!(
            !contains_bytes(captured.text().as_bytes(), needle.as_bytes()),
            "a key leaks into tracing"
        );
    }
    printed.assert_clean("vault file errors");
    Printed(captured.text().into_bytes()).assert_clean("tracing of vault files");
}
