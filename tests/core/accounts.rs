//! Several providers of one kind (two accounts, two clusters) in one vault: picked by id,
//! never by guess; cached apart; named in their errors; remembered by the vault file.

use crate::common;

use common::scripted::{ERROR_ID, Scripted, value};
use request_vault::{ErrorKind, ExposeSecret, ProviderErrorKind, Vault};

/// A vault with two accounts of the `s` kind: `work` and `home`.
fn two_accounts() -> (Vault, Scripted, Scripted) {
    let vault = Vault::new();
    let work = Scripted::new("work", "s");
    let home = Scripted::new("home", "s");
    vault.add_provider(work.clone());
    vault.add_provider(home.clone());
    (vault, work, home)
}

#[tokio::test]
async fn link_by_scheme_refuses_to_guess_between_accounts() {
    let (vault, _, _) = two_accounts();
    let err = vault.link("db", "s://db").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AmbiguousProvider);
    let message = err.to_string();
    assert!(
        message.contains("`s://`") && message.contains("`home`, `work`"),
        "{message}"
    );
    let err = vault.resolve_reference("s://db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AmbiguousProvider);
    assert!(vault.secrets().is_empty());

    // With one of them gone, the scheme picks the other again.
    assert!(vault.remove_provider("home"));
    vault.link("db", "s://db").unwrap();
    assert_eq!(
        vault.describe("db").unwrap().provider.as_deref(),
        Some("work")
    );
}

#[tokio::test]
async fn the_same_reference_through_two_accounts_never_shares_a_value() {
    let (vault, work, home) = two_accounts();
    vault.link_with("db", "work", "s://db").unwrap();
    vault.link_with("db-home", "home", "s://db").unwrap();
    let values = vault.resolve_all(["db", "db-home"]).await.unwrap();
    assert_eq!(values["db"].expose_secret(), value("work", "db", 1));
    assert_eq!(values["db-home"].expose_secret(), value("home", "db", 1));
    assert_eq!((work.calls(), home.calls()), (1, 1));

    // Cached apart: forgetting one leaves the other.
    assert!(vault.invalidate("db"));
    assert_eq!(
        vault.resolve("db-home").await.unwrap().expose_secret(),
        value("home", "db", 1)
    );
    assert_eq!(
        vault.resolve("db").await.unwrap().expose_secret(),
        value("work", "db", 2)
    );
    assert_eq!((work.calls(), home.calls()), (2, 1));
}

#[tokio::test]
async fn link_with_names_the_provider_and_checks_the_reference() {
    let (vault, _, _) = two_accounts();
    let err = vault.link_with("db", "office", "s://db").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoProvider);
    assert!(err.to_string().contains("`office`"), "{err}");
    let err = vault.link_with("db", "work", "other://db").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    assert!(err.to_string().contains("`work`"), "{err}");
    let err = vault.link_with("db", "work", "s://").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    let err = vault.link_with("not a name", "work", "s://db").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName);
    assert!(vault.secrets().is_empty());
}

#[tokio::test]
async fn errors_name_the_account_they_come_from() {
    let (vault, work, _) = two_accounts();
    vault.link_with("db", "work", "s://db").unwrap();
    work.fail_with(Some(ProviderErrorKind::Forbidden));
    let err = vault.resolve("db").await.unwrap_err();
    assert_eq!(err.provider_kind(), Some(ProviderErrorKind::Forbidden));
    // The provider wrote its kind's id into the error; the vault names the account.
    let source = err.provider_error().expect("a provider error");
    assert_eq!(source.provider(), "work");
    assert!(!err.to_string().contains(&format!("`{ERROR_ID}`")), "{err}");
    assert!(err.to_string().contains("provider `work` failed"), "{err}");
}

#[tokio::test]
async fn a_secret_linked_through_an_unknown_provider_names_its_id() {
    let (vault, _, _) = two_accounts();
    vault.link_with("db", "work", "s://db").unwrap();
    vault.remove_provider("work");
    // Removed: the removed integration is named.
    let err = vault.resolve("db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IntegrationRemoved);

    // Never added (a vault that imported the link): the provider id is named, even though
    // another provider of the scheme is there.
    let other = Vault::new();
    other.add_provider(Scripted::new("home", "s"));
    let export = r#"{"format":"request-vault","version":1,"secrets":[
        {"name":"db","kind":"linked","provider":"work","reference":"s://db"}]}"#;
    #[cfg(feature = "file")]
    {
        other
            .import(export.as_bytes(), request_vault::ImportOptions::new())
            .unwrap();
        let err = other.resolve("db").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoProvider);
        assert_eq!(err.secret_name(), Some("db"));
        assert!(err.to_string().contains("`work`"), "{err}");
        other.add_provider(Scripted::new("work", "s"));
        assert_eq!(
            other.resolve("db").await.unwrap().expose_secret(),
            value("work", "db", 1)
        );
    }
    let _ = export;
}

#[cfg(feature = "file")]
#[tokio::test]
async fn the_vault_file_and_exports_keep_each_secrets_provider_id() {
    use request_vault::{ImportOptions, VaultKey};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.age");
    let key = VaultKey::generate();
    let vault = Vault::create(&path, &key).unwrap();
    vault.add_provider(Scripted::new("work", "s"));
    vault.add_provider(Scripted::new("home", "s"));
    vault.link_with("db", "work", "s://db").unwrap();
    vault.link_with("db-home", "home", "s://db").unwrap();
    vault.save().unwrap();

    // Opening with no provider registered is fine; each secret keeps its provider id.
    let reopened = Vault::open(&path, &key).unwrap();
    for (name, id) in [("db", "work"), ("db-home", "home")] {
        assert_eq!(
            reopened.describe(name).unwrap().provider.as_deref(),
            Some(id)
        );
    }
    let err = reopened.resolve("db-home").await.unwrap_err();
    assert!(err.to_string().contains("`home`"), "{err}");
    reopened.add_provider(Scripted::new("home", "s"));
    assert_eq!(
        reopened.resolve("db-home").await.unwrap().expose_secret(),
        value("home", "db", 1)
    );

    let target = Vault::new();
    target
        .import(vault.export_references().as_bytes(), ImportOptions::new())
        .unwrap();
    assert_eq!(
        target.describe("db").unwrap().provider.as_deref(),
        Some("work")
    );
    assert_eq!(
        target.describe("db-home").unwrap().provider.as_deref(),
        Some("home")
    );
}

#[test]
fn every_provider_builder_takes_an_id() {
    #[cfg(feature = "onepassword")]
    {
        use request_vault::{ExternalProvider, OnePassword};
        let default = OnePassword::connect("http://127.0.0.1:9", "token").unwrap();
        assert_eq!(default.id(), "1password");
        let work = OnePassword::builder()
            .id("op-work")
            .connect("http://127.0.0.1:9", "token")
            .unwrap();
        assert_eq!(work.id(), "op-work");
        assert!(format!("{work:?}").contains("op-work"));
    }
    #[cfg(feature = "hashicorp")]
    {
        use request_vault::{ExternalProvider, HashiCorpVault};
        let default = HashiCorpVault::builder("http://127.0.0.1:9")
            .token("hvs.x")
            .unwrap();
        assert_eq!(default.id(), "hashicorp");
        let eu = HashiCorpVault::builder("http://127.0.0.1:9")
            .id("vault-eu")
            .token("hvs.x")
            .unwrap();
        assert_eq!(eu.id(), "vault-eu");
    }
    #[cfg(feature = "azure")]
    {
        use request_vault::{AzureKeyVault, ExternalProvider};
        let default = AzureKeyVault::builder()
            .client_secret("tenant", "client", "secret")
            .unwrap();
        assert_eq!(default.id(), "azure");
        let dev = AzureKeyVault::builder()
            .id("azure-dev")
            .client_secret("tenant", "client", "secret")
            .unwrap();
        assert_eq!(dev.id(), "azure-dev");
    }
}

#[cfg(feature = "aws")]
#[tokio::test]
async fn the_aws_builder_takes_an_id() {
    use request_vault::{AwsSecretsManager, ExternalProvider};
    let build = |id: Option<&str>| {
        let mut builder = AwsSecretsManager::builder()
            .region("us-east-1")
            .static_credentials("AKIDEXAMPLE", "secret");
        if let Some(id) = id {
            builder = builder.id(id);
        }
        builder.build()
    };
    assert_eq!(build(None).await.unwrap().id(), "aws");
    assert_eq!(build(Some("aws-prod")).await.unwrap().id(), "aws-prod");
}

/// Two 1Password accounts behind two Connect servers, linked to the same reference.
#[cfg(feature = "onepassword")]
#[tokio::test]
async fn two_onepassword_accounts_resolve_the_same_reference_apart() {
    use common::connect::{ConnectServer, Data, field, item, vault as op_vault};
    use request_vault::OnePassword;
    use std::time::Duration;

    let data = |password: &str| Data {
        vaults: vec![op_vault(
            "Prod",
            vec![item("db", vec![field("password", "CONCEALED", password)])],
        )],
    };
    let work = ConnectServer::start(data("work-password"), "work-token", Duration::ZERO).await;
    let home = ConnectServer::start(Data::default(), "home-token", Duration::ZERO).await;
    let vault = Vault::new();
    vault.add_provider(
        OnePassword::builder()
            .id("op-work")
            .connect(&work.url(), "work-token")
            .unwrap(),
    );
    vault.add_provider(
        OnePassword::builder()
            .id("op-home")
            .connect(&home.url(), "home-token")
            .unwrap(),
    );
    let reference = "op://Prod/db/password";
    assert_eq!(
        vault.link("db", reference).unwrap_err().kind(),
        ErrorKind::AmbiguousProvider
    );
    vault.link_with("db", "op-work", reference).unwrap();
    vault.link_with("db-home", "op-home", reference).unwrap();
    assert_eq!(
        vault.resolve("db").await.unwrap().expose_secret(),
        "work-password"
    );
    let err = vault.resolve("db-home").await.unwrap_err();
    assert_eq!(err.provider_kind(), Some(ProviderErrorKind::NotFound));
    assert!(
        err.to_string().contains("provider `op-home` failed"),
        "{err}"
    );
}
