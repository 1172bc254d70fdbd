//! The vault file: round trips, failure modes that never touch the file, atomic saves,
//! conflicts, locking, re-keying, export and import, interop with the `age` CLI, and crash
//! safety under SIGKILL.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::MapProvider;
use request_vault::{
    Error, ErrorKind, ExposeSecret, ImportOptions, OnClash, SecretKind, SecretString, Vault,
    VaultKey,
};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn sample(path: &Path, key: &VaultKey) -> Vault {
    let vault = Vault::create(path, key).unwrap();
    vault.set("api-key", "s3cr3t value \"quoted\" é").unwrap();
    vault
        .set_allowed_domains("api-key", ["api.example.com", "*.example.org"])
        .unwrap();
    vault.set("off", "disabled value").unwrap();
    vault.set_enabled("off", false).unwrap();
    let provider = MapProvider::new("1password", "op");
    vault.add_provider(provider);
    vault.link("db", "op://Prod/Postgres/password").unwrap();
    vault.save().unwrap();
    vault
}

async fn value(vault: &Vault, name: &str) -> String {
    vault
        .resolve(name)
        .await
        .unwrap()
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn a_saved_vault_reopens_with_everything_but_fetched_values() {
    let dir = dir();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    let original = sample(&path, &key);
    let reopened = Vault::open(&path, &key).unwrap();
    assert_eq!(
        value(&reopened, "api-key").await,
        "s3cr3t value \"quoted\" é"
    );
    let info = reopened.describe("api-key").unwrap();
    assert_eq!(info.allowed_domains.len(), 2);
    assert_eq!(
        info.created,
        original
            .describe("api-key")
            .unwrap()
            .created
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| std::time::UNIX_EPOCH + Duration::from_millis(d.as_millis() as u64))
            .unwrap()
    );
    assert!(!reopened.describe("off").unwrap().enabled);
    let db = reopened.describe("db").unwrap();
    assert_eq!(db.kind, SecretKind::Linked);
    assert_eq!(db.reference.as_deref(), Some("op://Prod/Postgres/password"));
    assert_eq!(db.provider.as_deref(), Some("1password"));
    assert_eq!(
        reopened.resolve("db").await.unwrap_err().kind(),
        ErrorKind::NoProvider
    );
    assert_eq!(reopened.path().as_deref(), Some(path.as_path()));
}

#[test]
fn saves_are_private_and_leave_no_temporary_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = dir();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    let vault = sample(&path, &key);
    for i in 0..5 {
        vault.set("api-key", format!("v{i}")).unwrap();
        vault.save().unwrap();
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["vault.age"]);
    let err = Vault::create(&path, &key).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(Vault::new().save().unwrap_err().kind(), ErrorKind::Storage);
}

/// Opening `bytes` as a vault fails with `kind`, and leaves the file exactly as it was.
fn refuses(path: &Path, bytes: &[u8], key: &VaultKey, kind: ErrorKind) -> Error {
    std::fs::write(path, bytes).unwrap();
    let err = Vault::open(path, key).unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(std::fs::read(path).unwrap(), bytes, "the file is untouched");
    err
}

#[test]
fn failures_have_their_kind_and_never_modify_the_file() {
    let dir = dir();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    sample(&path, &key);
    let good = std::fs::read(&path).unwrap();

    let err = refuses(&path, &good, &VaultKey::generate(), ErrorKind::WrongKey);
    assert!(err.to_string().contains("does not open"), "{err}");

    for at in [good.len() - 1, good.len() / 2, good.len() - 40] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x01;
        refuses(&path, &flipped, &key, ErrorKind::Corrupt);
    }
    let mut header = good.clone();
    header[3] ^= 0x20; // inside "age-encryption.org/v1"
    refuses(&path, &header, &key, ErrorKind::Corrupt);
    for cut in [good.len() - 1, good.len() - 17, good.len() / 2, 10, 0] {
        refuses(&path, &good[..cut], &key, ErrorKind::Corrupt);
    }
    refuses(
        &path,
        b"{\"format\": \"request-vault\"}",
        &key,
        ErrorKind::Corrupt,
    );

    let future = br#"{"format": "request-vault", "version": 7, "secrets": [], "new": "shape"}"#;
    let encrypted = encrypt_to(future, &key);
    let err = refuses(&path, &encrypted, &key, ErrorKind::UnsupportedVersion);
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("version 7") && err.to_string().contains("upgrade"),
        "{err}"
    );
}

/// Encrypts `plaintext` to `key`'s recipient with the `age` crate, as another tool would.
fn encrypt_to(plaintext: &[u8], key: &VaultKey) -> Vec<u8> {
    use std::io::Write;
    let recipient: age::x25519::Recipient = key.recipient().parse().unwrap();
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).unwrap();
    writer.write_all(plaintext).unwrap();
    writer.finish().unwrap();
    out
}

#[test]
fn concurrent_writers_do_not_lose_each_others_writes_silently() {
    let dir = dir();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    sample(&path, &key);
    let first = Vault::open(&path, &key).unwrap();
    let second = Vault::open(&path, &key).unwrap();
    first.set("from-first", "1").unwrap();
    first.save().unwrap();
    second.set("from-second", "2").unwrap();
    let err = second.save().unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let on_disk = Vault::open(&path, &key).unwrap();
    assert!(on_disk.describe("from-first").is_ok());
    assert!(on_disk.describe("from-second").is_err());
}

#[tokio::test]
async fn lock_wipes_values_and_unlock_restores_them() {
    let dir = dir();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    let vault = sample(&path, &key);
    vault.set("unsaved", "kept across lock").unwrap();
    vault.lock();
    assert!(vault.is_locked());
    assert_eq!(
        vault.resolve("api-key").await.unwrap_err().kind(),
        ErrorKind::Locked
    );
    assert!(
        vault
            .resolve("api-key")
            .await
            .unwrap_err()
            .kind()
            .is_unresolved()
    );
    assert_eq!(vault.set("x", "y").unwrap_err().kind(), ErrorKind::Locked);
    assert_eq!(vault.save().unwrap_err().kind(), ErrorKind::Locked);
    assert_eq!(vault.export_plain().unwrap_err().kind(), ErrorKind::Locked);
    assert_eq!(vault.secrets().len(), 4, "names stay visible");
    assert!(vault.redactor().is_empty(), "no value is left to mask");
    assert_eq!(
        vault.unlock(&VaultKey::generate()).unwrap_err().kind(),
        ErrorKind::WrongKey
    );
    assert!(vault.is_locked());
    vault.unlock(&key).unwrap();
    assert_eq!(value(&vault, "unsaved").await, "kept across lock");
    assert_eq!(value(&vault, "api-key").await, "s3cr3t value \"quoted\" é");
    vault.save().unwrap();
}

#[tokio::test]
async fn rekey_moves_the_file_to_the_new_key() {
    let dir = dir();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    let vault = sample(&path, &key);
    let new_key = VaultKey::generate();
    vault.rekey(&new_key).unwrap();
    assert_eq!(
        Vault::open(&path, &key).unwrap_err().kind(),
        ErrorKind::WrongKey
    );
    let reopened = Vault::open(&path, &new_key).unwrap();
    assert_eq!(
        value(&reopened, "api-key").await,
        "s3cr3t value \"quoted\" é"
    );
    vault.set("after", "rekey").unwrap();
    vault.save().unwrap();
    assert!(
        Vault::open(&path, &new_key)
            .unwrap()
            .describe("after")
            .is_ok()
    );
}

#[tokio::test]
async fn passphrase_keys_work_and_short_ones_are_refused() {
    let dir = dir();
    let path = dir.path().join("vault.age");
    let weak = VaultKey::from_passphrase(SecretString::from("too short"));
    let err = Vault::create(&path, &weak).unwrap_err();
    assert!(matches!(err, Error::WeakPassphrase { min: 12 }), "{err}");
    assert!(!path.exists(), "nothing was written");
    let key = VaultKey::from_passphrase(SecretString::from("correct horse battery staple"));
    assert_eq!(key.recipient(), "scrypt");
    let vault = Vault::create(&path, &key).unwrap();
    vault.set("k", "v").unwrap();
    vault.save().unwrap();
    let reopened = Vault::open(&path, &key).unwrap();
    assert_eq!(value(&reopened, "k").await, "v");
    let wrong = VaultKey::from_passphrase(SecretString::from("incorrect horse battery"));
    assert_eq!(
        Vault::open(&path, &wrong).unwrap_err().kind(),
        ErrorKind::WrongKey
    );
    assert_eq!(
        Vault::open(&path, &VaultKey::generate())
            .unwrap_err()
            .kind(),
        ErrorKind::WrongKey
    );
    assert_eq!(
        reopened.rekey(&weak).unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
}

#[test]
fn keys_parse_and_refuse_garbage() {
    let key = VaultKey::generate();
    let parsed: VaultKey = format!("  {}\n", key.expose_secret()).parse().unwrap();
    assert_eq!(parsed.recipient(), key.recipient());
    for bad in ["", "AGE-SECRET-KEY-1", "age1notasecret", "hunter2"] {
        assert_eq!(
            bad.parse::<VaultKey>().unwrap_err().kind(),
            ErrorKind::InvalidKey,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn exports_round_trip_in_every_shape() {
    let dir = dir();
    let key = VaultKey::generate();
    let source = sample(&dir.path().join("vault.age"), &key);

    // Encrypted with a password.
    assert_eq!(
        source.export_encrypted("short").unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
    let encrypted = source.export_encrypted("a long enough password").unwrap();
    assert!(encrypted.starts_with(b"age-encryption.org/v1"));
    let target = Vault::new();
    let err = target.import(&encrypted, ImportOptions::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongKey);
    let err = target
        .import(
            &encrypted,
            ImportOptions::new().password("the wrong password"),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongKey);
    let report = target
        .import(
            &encrypted,
            ImportOptions::new().password("a long enough password"),
        )
        .unwrap();
    assert_eq!(report.added, ["api-key", "db", "off"]);
    assert_eq!(value(&target, "api-key").await, "s3cr3t value \"quoted\" é");
    assert_eq!(
        target.describe("db").unwrap().kind,
        SecretKind::Linked,
        "links come back as links"
    );

    // Plain, an explicit opt-in.
    let plain = source.export_plain().unwrap();
    let target = Vault::new();
    target
        .import(plain.expose_secret().as_bytes(), ImportOptions::new())
        .unwrap();
    assert_eq!(value(&target, "api-key").await, "s3cr3t value \"quoted\" é");
    assert!(!target.describe("off").unwrap().enabled);

    // References only: no values at all.
    let references = source.export_references();
    assert!(!references.contains("s3cr3t"), "{references}");
    assert!(references.contains("op://Prod/Postgres/password"));
    let target = Vault::new();
    let report = target
        .import(references.as_bytes(), ImportOptions::new())
        .unwrap();
    assert_eq!(report.added, ["db"]);
    assert_eq!(report.skipped, ["api-key", "off"]);
    assert_eq!(
        target.describe("db").unwrap().reference.as_deref(),
        Some("op://Prod/Postgres/password")
    );
}

#[tokio::test]
async fn import_clash_policies() {
    let source = Vault::new();
    source.set("shared", "from export").unwrap();
    source.set("new", "n").unwrap();
    let export = source.export_plain().unwrap();
    let bytes = export.expose_secret().as_bytes();
    let target = || {
        let vault = Vault::new();
        vault.set("shared", "mine").unwrap();
        vault.set("other", "o").unwrap();
        vault
    };

    let skip = target();
    let report = skip
        .import(bytes, ImportOptions::new().on_clash(OnClash::Skip))
        .unwrap();
    assert_eq!(
        (report.added, report.skipped),
        (vec!["new".to_owned()], vec!["shared".to_owned()])
    );
    assert_eq!(value(&skip, "shared").await, "mine");

    let overwrite = target();
    let report = overwrite
        .import(bytes, ImportOptions::new().on_clash(OnClash::Overwrite))
        .unwrap();
    assert_eq!(report.replaced, ["shared"]);
    assert_eq!(value(&overwrite, "shared").await, "from export");

    let fail = target();
    let err = fail
        .import(bytes, ImportOptions::new().on_clash(OnClash::Fail))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(err.secret_name(), Some("shared"));
    assert!(fail.describe("new").is_err(), "nothing was imported");

    let cleared = target();
    cleared
        .import(
            bytes,
            ImportOptions::new()
                .clear_first(true)
                .on_clash(OnClash::Fail),
        )
        .unwrap();
    assert!(cleared.describe("other").is_err());
    assert_eq!(value(&cleared, "shared").await, "from export");

    let err = target()
        .import(b"not json", ImportOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}

/// The `age` CLI, or `None` (with the reason printed) when it is not installed; under
/// `REQUEST_VAULT_REQUIRE_EXTERNAL=1` (as in CI) a missing CLI fails the test.
fn age_cli() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("age"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("REQUEST_VAULT_REQUIRE_EXTERNAL").is_none(),
            "the `age` CLI is required here (REQUEST_VAULT_REQUIRE_EXTERNAL is set); install it with `apt-get install age`"
        );
        eprintln!("skipping: the `age` CLI is not installed (apt-get install age)");
    }
    found
}

#[tokio::test]
#[ignore = "needs the age CLI (apt-get install age); CI runs it (cargo test -- --include-ignored)"]
async fn the_age_cli_reads_our_files_and_writes_files_we_open() {
    let Some(age) = age_cli() else { return };
    let dir = dir();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    sample(&path, &key);
    let key_file = dir.path().join("key.txt");
    std::fs::write(&key_file, format!("{}\n", key.expose_secret())).unwrap();

    let output = Command::new(&age)
        .arg("-d")
        .arg("-i")
        .arg(&key_file)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["format"], "request-vault");
    assert_eq!(document["version"], 1);
    let api_key = document["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "api-key")
        .unwrap();
    assert_eq!(api_key["value"], "s3cr3t value \"quoted\" é");

    let plain = dir.path().join("plain.json");
    std::fs::write(
        &plain,
        r#"{"format": "request-vault", "version": 1, "secrets": [
            {"name": "from-cli", "kind": "local", "value": "written by age"},
            {"name": "linked", "kind": "linked", "provider": "1password", "reference": "op://a/b/c"}]}"#,
    )
    .unwrap();
    let made = dir.path().join("made-by-cli.age");
    let status = Command::new(&age)
        .arg("-r")
        .arg(key.recipient())
        .arg("-o")
        .arg(&made)
        .arg(&plain)
        .status()
        .unwrap();
    assert!(status.success());
    let vault = Vault::open(&made, &key).unwrap();
    assert_eq!(value(&vault, "from-cli").await, "written by age");
    assert_eq!(
        vault.describe("linked").unwrap().reference.as_deref(),
        Some("op://a/b/c")
    );
}

/// 60 times: a child process saves in a loop and is killed with SIGKILL at a random moment
/// (from its start to well into its saves); the file always opens and holds one consistent
/// save.
#[test]
fn saves_survive_sigkill_at_any_moment() {
    let dir = dir();
    let path = dir.path().join("vault.age");
    let key = VaultKey::generate();
    let vault = Vault::create(&path, &key).unwrap();
    vault.set("counter", "0").unwrap();
    vault.set("payload", payload(0)).unwrap();
    vault.save().unwrap();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..60 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(10 + seed % 60);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::save_loop_child",
                "--ignored",
                "--nocapture",
            ])
            .env("REQUEST_VAULT_CHILD_PATH", &path)
            .env("REQUEST_VAULT_CHILD_KEY", key.expose_secret())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let reopened = Vault::open(&path, &key).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let counter = futures_util::FutureExt::now_or_never(reopened.resolve("counter"))
            .unwrap()
            .unwrap();
        let counter: u64 = counter.expose_secret().parse().unwrap();
        let body = futures_util::FutureExt::now_or_never(reopened.resolve("payload"))
            .unwrap()
            .unwrap();
        assert_eq!(
            body.expose_secret(),
            payload(counter),
            "round {round}: a consistent save"
        );
        seen.insert(counter);
    }
    assert!(
        seen.len() > 10,
        "the child got to save many times: {seen:?}"
    );
}

fn payload(counter: u64) -> String {
    format!("{counter}-").repeat(2000)
}

#[test]
#[ignore = "run by saves_survive_sigkill_at_any_moment in a child process"]
fn save_loop_child() {
    // Run on its own (`--include-ignored`), it has nothing to do.
    let Ok(path) = std::env::var("REQUEST_VAULT_CHILD_PATH") else {
        return;
    };
    let key: VaultKey = std::env::var("REQUEST_VAULT_CHILD_KEY")
        .unwrap()
        .parse()
        .unwrap();
    let vault = Vault::open(&path, &key).unwrap();
    let start: u64 = futures_util::FutureExt::now_or_never(vault.resolve("counter"))
        .unwrap()
        .unwrap()
        .expose_secret()
        .parse()
        .unwrap();
    for counter in start + 1.. {
        vault.set("counter", counter.to_string()).unwrap();
        vault.set("payload", payload(counter)).unwrap();
        vault.save().unwrap();
    }
}
