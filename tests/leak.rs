//! Secrets never leak: `Debug`/`Display` of the vault, of every `SecretInfo` and of every
//! error produced here, and all `tracing` output, hold none of a known secret's bytes.
//!
//! The scan is proven first: a planted copy of the secret must be found.

mod common;

use common::{Captured, MapProvider, contains_bytes};
use request_vault::{Error, ExposeSecret, Vault};

const SECRET: &str = "s3cr3t-Leak-Canary-7f9a";
const LINKED_SECRET: &str = "linked-Canary-41d2";

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
        for secret in [SECRET, LINKED_SECRET] {
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
    assert!(
        !contains_bytes(traced.as_bytes(), SECRET.as_bytes()),
        "tracing leaks"
    );
    assert!(
        !contains_bytes(traced.as_bytes(), LINKED_SECRET.as_bytes()),
        "tracing leaks"
    );
}
