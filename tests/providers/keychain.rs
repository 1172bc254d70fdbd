//! The `keychain` feature against a real Secret Service (GNOME Keyring under
//! `dbus-run-session`, as `.ci/run` starts it) and the Linux kernel's keyutils: entries
//! written by the `keyring` store crates read through `keychain://` references, vault keys
//! saved and read back, and the provider conformance suite.
//!
//! Without a reachable Secret Service (or off Linux, where the native keychain is a person's
//! own) the tests print why and skip; with `REQUEST_VAULT_REQUIRE_EXTERNAL=1` they fail.

#![cfg(target_os = "linux")]

use crate::common;

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use request_vault::{ExposeSecret, ExternalProvider, Keychain, ProviderErrorKind, Vault};

/// A Secret Service to test against, or `None` after saying why there is none.
async fn secret_service() -> Option<Keychain> {
    let keychain = Keychain::new();
    let probe = keychain
        .resolve("keychain://request-vault-test-probe/nobody")
        .await;
    match probe {
        Err(err) if err.kind() == ProviderErrorKind::NotFound => Some(keychain),
        Ok(_) => Some(keychain),
        Err(err) => skip(&format!("no usable Secret Service: {err}")),
    }
}

fn skip<T>(why: &str) -> Option<T> {
    if std::env::var("REQUEST_VAULT_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!(
            "{why}; REQUEST_VAULT_REQUIRE_EXTERNAL=1 requires one (run the tests under \
             `dbus-run-session` after `gnome-keyring-daemon --unlock --components=secrets`, as \
             .ci/run does)"
        );
    }
    eprintln!(
        "skipped: {why} (apt-get install gnome-keyring dbus, then run the tests under \
         `dbus-run-session` after `echo -n pw | gnome-keyring-daemon --unlock --components=secrets`)"
    );
    None
}

/// The Secret Service store, as the `keyring` crate uses it.
fn keyring_store() -> Arc<CredentialStore> {
    zbus_secret_service_keyring_store::Store::new().expect("the Secret Service store connects")
}

/// A service name of this test run, so that runs and tests never see each other's entries.
fn service(test: &str) -> String {
    format!("request-vault-test {test} {}", std::process::id())
}

/// An entry written with the `keyring` crate's API, deleted when dropped.
struct Written {
    entry: Entry,
}

impl Written {
    fn new(store: &Arc<CredentialStore>, service: &str, account: &str, value: &str) -> Written {
        let entry = Entry::new_in_store(store, service, account).unwrap();
        entry.set_password(value).unwrap();
        Written { entry }
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        let _ = self.entry.delete_credential();
    }
}

/// `%`-encodes a name for a `keychain://` reference.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); CI runs it (cargo test -- --include-ignored)"]
async fn a_value_the_keyring_crate_wrote_resolves_through_a_keychain_reference() {
    let Some(keychain) = secret_service().await else {
        return;
    };
    let store = keyring_store();
    let service = service("written by keyring");
    let account = "me@example.com/work";
    let _written = Written::new(&store, &service, account, "s3cr3t value ✓");

    let vault = Vault::new();
    vault.add_provider(keychain);
    let reference = format!("keychain://{}/{}", encode(&service), encode(account));
    vault.link("token", &reference).unwrap();
    let value = vault.resolve("token").await.unwrap();
    assert_eq!(value.expose_secret(), "s3cr3t value ✓");
}

#[tokio::test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); CI runs it (cargo test -- --include-ignored)"]
async fn an_entry_libsecret_wrote_resolves_too() {
    let Some(keychain) = secret_service().await else {
        return;
    };
    let service = service("written by libsecret");
    let store = |value: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new("secret-tool")
            .args(["store", "--label=request-vault test", "service", &service])
            .args(["username", "ci", "application", "python-keyring"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(value.as_bytes()).ok()?;
        child.wait().ok().filter(|s| s.success())
    };
    if store("from libsecret").is_none() {
        eprintln!("skipped: `secret-tool` (apt-get install libsecret-tools) is not available");
        return;
    }
    let reference = format!("keychain://{}/ci", encode(&service));
    let value = keychain.resolve(&reference).await;
    let _cleanup = Written {
        entry: Entry::new_in_store(&keyring_store(), &service, "ci").unwrap(),
    };
    assert_eq!(value.unwrap().expose_secret(), "from libsecret");
}

#[tokio::test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); CI runs it (cargo test -- --include-ignored)"]
async fn a_missing_entry_is_not_found_and_says_which() {
    let Some(keychain) = secret_service().await else {
        return;
    };
    let service = service("missing");
    let reference = format!("keychain://{}/nobody", encode(&service));
    let err = keychain.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::NotFound);
    assert_eq!(err.reference(), Some(reference.as_str()));
    assert!(err.message().contains(&service), "{err}");
    assert!(err.message().contains("`nobody`"), "{err}");
}

#[tokio::test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); CI runs it (cargo test -- --include-ignored)"]
async fn a_batch_reads_each_entry_once_and_fails_alone() {
    let Some(keychain) = secret_service().await else {
        return;
    };
    let store = keyring_store();
    let service = service("batch");
    let _a = Written::new(&store, &service, "a", "value a");
    let _b = Written::new(&store, &service, "b", "value b");
    let s = encode(&service);
    let (a, b, c) = (
        format!("keychain://{s}/a"),
        format!("ref+keychain://{s}/b"),
        format!("keychain://{s}/c"),
    );
    let results = keychain
        .resolve_all(&[&a, &b, &a, &c, "keychain://broken"])
        .await;
    assert_eq!(
        common::outcomes(&results),
        [
            Ok("value a".to_owned()),
            Ok("value b".to_owned()),
            Ok("value a".to_owned()),
            Err(ProviderErrorKind::NotFound),
            Err(ProviderErrorKind::InvalidReference),
        ]
    );
}

#[cfg(feature = "file")]
#[tokio::test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); CI runs it (cargo test -- --include-ignored)"]
async fn a_vault_key_saved_to_the_keychain_comes_back_and_opens_its_vault() {
    use request_vault::{ErrorKind, SecretString, VaultKey};

    if secret_service().await.is_none() {
        return;
    }
    let service = service("vault key");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.age");
    let reopened = tokio::task::spawn_blocking(move || {
        let key = VaultKey::generate();
        let vault = Vault::create(&path, &key).unwrap();
        vault.set("api-key", "k3y").unwrap();
        vault.save().unwrap();

        key.save_to_keychain(&service, "work").unwrap();
        let again = VaultKey::from_keychain(&service, "work").unwrap();
        assert_eq!(again.recipient(), key.recipient());
        let reopened = Vault::open(&path, &again).unwrap();

        // Saving again replaces the entry; a passphrase comes back as a passphrase.
        let passphrase = VaultKey::from_passphrase(SecretString::from("correct horse battery"));
        passphrase.save_to_keychain(&service, "work").unwrap();
        let again = VaultKey::from_keychain(&service, "work").unwrap();
        assert_eq!(again.recipient(), "scrypt");
        assert_eq!(again.expose_secret(), "correct horse battery");

        // What the keyring crate reads is what was saved.
        let entry = Entry::new_in_store(&keyring_store(), &service, "work").unwrap();
        assert_eq!(entry.get_password().unwrap(), "correct horse battery");
        entry.delete_credential().unwrap();

        let missing = VaultKey::from_keychain(&service, "work").unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Provider);
        assert!(missing.to_string().contains("not found"), "{missing}");
        let empty = key.save_to_keychain("", "work").unwrap_err();
        assert!(!format!("{empty} {empty:?}").contains(key.expose_secret()));
        reopened
    })
    .await
    .unwrap();
    assert_eq!(
        reopened.resolve("api-key").await.unwrap().expose_secret(),
        "k3y"
    );
}

#[cfg(feature = "conformance")]
#[tokio::test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); CI runs it (cargo test -- --include-ignored)"]
async fn the_keychain_provider_conforms() {
    use request_vault::provider::conformance::{Case, check};

    let Some(keychain) = secret_service().await else {
        return;
    };
    let store = keyring_store();
    let service = service("conformance");
    let _written = Written::new(&store, &service, "user", "conformance value");
    let s = encode(&service);
    let failures = check(
        Arc::new(keychain),
        &[
            Case::value(format!("keychain://{s}/user"), "conformance value"),
            Case::error(
                format!("keychain://{s}/nobody"),
                ProviderErrorKind::NotFound,
            ),
            Case::invalid("keychain://no-account"),
            Case::invalid("keychain://a b/c"),
        ],
    )
    .await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The kernel's keyutils, where seccomp lets a process use it (containers often do not).
#[tokio::test]
async fn keyutils_entries_resolve_through_their_own_provider() {
    let store: Arc<CredentialStore> = match linux_keyutils_keyring_store::Store::new() {
        Ok(store) => store,
        Err(err) => {
            eprintln!("skipped: keyutils is not available here: {err}");
            return;
        }
    };
    let service = service("keyutils");
    let entry = Entry::new_in_store(&store, &service, "ci").unwrap();
    let keyutils = Keychain::builder().id("keyutils").keyutils();
    let reference = format!("keychain://{}/ci", encode(&service));
    if let Err(err) = entry.set_password("from keyutils") {
        // Where keyutils refuses new keys (seccomp in containers), reading fails in kind:
        // no such key, or access refused.
        let refused = keyutils.resolve(&reference).await.unwrap_err();
        assert!(
            matches!(
                refused.kind(),
                ProviderErrorKind::NotFound
                    | ProviderErrorKind::Unauthorized
                    | ProviderErrorKind::Unavailable
            ),
            "{refused}"
        );
        eprintln!("skipped reading keys: keyutils refuses them here ({err}); got `{refused}`");
        return;
    }
    let _written = Written { entry };
    let value = keyutils.resolve(&reference).await.unwrap();
    assert_eq!(value.expose_secret(), "from keyutils");
    let missing = keyutils
        .resolve(&format!("keychain://{}/nobody", encode(&service)))
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ProviderErrorKind::NotFound);
    assert_eq!(missing.provider(), "keyutils");
}

/// Locking the keyring of a Secret Service of its own (so that the other tests, which share
/// the session's, go on): a read then fails as `Unauthorized` and says how to unlock.
#[tokio::test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); CI runs it (cargo test -- --include-ignored)"]
async fn a_locked_keyring_is_unauthorized_and_says_how_to_unlock() {
    let programs = ["dbus-run-session", "gnome-keyring-daemon", "dbus-send"];
    if let Some(missing) = programs.iter().find(|p| !on_path(p)) {
        skip::<()>(&format!("`{missing}` is not on PATH"));
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let script = "echo -n throwaway | gnome-keyring-daemon --unlock --components=secrets >/dev/null \
                  && exec \"$0\" --exact keychain::locked_keyring_child --nocapture";
    let child = tokio::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script])
        .arg(std::env::current_exe().unwrap())
        .env("XDG_DATA_HOME", data.path())
        .env("REQUEST_VAULT_LOCKED_KEYRING_CHILD", "1")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), child)
        .await
        .expect("the locked-keyring child finishes within two minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The child half of [`a_locked_keyring_is_unauthorized_and_says_how_to_unlock`], run in
/// its own session; in the suite's own run it has nothing to do.
#[tokio::test]
async fn locked_keyring_child() {
    if std::env::var_os("REQUEST_VAULT_LOCKED_KEYRING_CHILD").is_none() {
        return;
    }
    let store = keyring_store();
    let service = service("locked");
    let _written = Written::new(&store, &service, "me", "locked value");
    let locked = std::process::Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
        ])
        .args([
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
        ])
        .arg("array:objpath:/org/freedesktop/secrets/collection/login")
        .output()
        .unwrap();
    assert!(locked.status.success(), "{locked:?}");

    let keychain = Keychain::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build();
    let reference = format!("keychain://{}/me", encode(&service));
    let err = keychain.resolve(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unauthorized, "{err}");
    assert!(err.message().contains("unlock"), "{err}");
    assert!(!format!("{err} {err:?}").contains("locked value"));
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
