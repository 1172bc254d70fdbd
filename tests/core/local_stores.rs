//! The built-in `env://` and `file://` providers through the public API: never registered
//! by default, `Files` confined to its directory (absolute paths, `..`, symlinks leading
//! out), its size cap, `#KEY` selection, and the conformance suite for both.

use crate::common;

use std::path::Path;

use request_vault::provider::{Env, Files, MAX_FILE_BYTES};
use request_vault::{Error, ErrorKind, ExposeSecret, ExternalProvider, ProviderErrorKind, Vault};

/// A variable of this process with a portable name and a UTF-8 value, read now (the tests
/// never set variables: that races with other threads).
fn some_variable() -> (String, String) {
    std::env::vars()
        .find(|(name, value)| {
            !value.is_empty()
                && !name.as_bytes()[0].is_ascii_digit()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .expect("the test process has an environment variable")
}

#[tokio::test]
async fn neither_provider_is_registered_by_default() {
    let vault = Vault::new();
    for reference in ["env://HOME", "file://id_ed25519"] {
        let err = vault.link("x", reference).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoProvider, "{reference}: {err}");
    }
}

#[tokio::test]
async fn env_references_read_the_process_environment() {
    let (name, value) = some_variable();
    let vault = Vault::new();
    vault.add_provider(Env);
    vault.link("var", &format!("env://{name}")).unwrap();
    assert_eq!(vault.resolve("var").await.unwrap().expose_secret(), value);

    vault
        .link("unset", "env://REQUEST_VAULT_TEST_NEVER_SET_1b7c")
        .unwrap();
    let err = vault.resolve("unset").await.unwrap_err();
    let Error::Provider { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(source.kind(), ProviderErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains("REQUEST_VAULT_TEST_NEVER_SET_1b7c")
    );

    let err = vault.link("bad", "env://MY-VAR").unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidReference {
                offset: Some(8),
                ..
            }
        ),
        "{err:?}"
    );
}

fn write(dir: &Path, relative: &str, contents: &[u8]) {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

#[tokio::test]
async fn files_resolve_contents_and_fields_under_their_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "token", b"t0ken\n");
    write(
        dir.path(),
        "my app/db #1.json",
        br#"{"user":"app","db":{"password":"pa55"},"port":5432}"#,
    );
    let files = Files::new(dir.path());
    assert_eq!(files.dir(), dir.path());

    let results = files
        .resolve_all(&[
            "file://token",
            "file://my%20app/db%20%231.json#user",
            "ref+file://my%20app/db%20%231.json#/db/password",
            "file://my%20app/db%20%231.json#port",
            "file://my%20app/db%20%231.json#nope",
            "file://token#key",
            "file://absent",
            "file://my%20app",
        ])
        .await;
    assert_eq!(
        common::outcomes(&results),
        [
            Ok("t0ken\n".to_owned()),
            Ok("app".to_owned()),
            Ok("pa55".to_owned()),
            Ok("5432".to_owned()),
            Err(ProviderErrorKind::NotFound),
            Err(ProviderErrorKind::Unsupported),
            Err(ProviderErrorKind::NotFound),
            Err(ProviderErrorKind::Unsupported),
        ]
    );
    let missing = results[4].as_ref().unwrap_err();
    assert!(missing.message().contains("db, port, user"), "{missing}");
    assert!(!missing.to_string().contains("pa55"));
}

#[tokio::test]
async fn files_refuse_paths_that_leave_their_directory_offline() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new();
    vault.add_provider(Files::new(dir.path()));
    for (reference, offset) in [
        ("file:///etc/passwd", 7),
        ("file://../secret", 7),
        ("file://a/../../secret", 9),
        ("file://a/%2e%2e/secret", 9),
        ("file://a/./b", 9),
        ("file://a%2F..%2Fb", 7),
    ] {
        let err = vault.link("x", reference).unwrap_err();
        assert!(
            matches!(err, Error::InvalidReference { offset: Some(o), .. } if o == offset),
            "{reference}: {err:?}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_are_followed_only_while_they_stay_inside() {
    use std::os::unix::fs::symlink;

    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret", b"outside value");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "real/inside", b"inside value");
    symlink(outside.path().join("secret"), dir.path().join("to-file")).unwrap();
    symlink(outside.path(), dir.path().join("to-dir")).unwrap();
    symlink(dir.path().join("real"), dir.path().join("alias")).unwrap();
    let sibling = outside.path().file_name().unwrap().to_str().unwrap();
    symlink(format!("../{sibling}/secret"), dir.path().join("relative")).unwrap();

    let files = Files::new(dir.path());
    let value = files.resolve("file://alias/inside").await.unwrap();
    assert_eq!(value.expose_secret(), "inside value");
    for reference in ["file://to-file", "file://to-dir/secret", "file://relative"] {
        let err = files.resolve(reference).await.unwrap_err();
        assert_eq!(
            err.kind(),
            ProviderErrorKind::Forbidden,
            "{reference}: {err}"
        );
        assert!(!err.to_string().contains("outside value"));
    }

    // A directory reached through a symlink is confined to that symlink's target too.
    let through = Files::new(dir.path().join("alias"));
    assert_eq!(
        through
            .resolve("file://inside")
            .await
            .unwrap()
            .expose_secret(),
        "inside value"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn only_regular_files_are_read_and_a_fifo_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let files = Files::new(dir.path());
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        files.resolve("file://fifo"),
    )
    .await;
    let Ok(read) = read else {
        // Release the blocked reader, so that the runtime can shut down, then fail.
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
        panic!("opening a FIFO waited for a writer");
    };
    assert_eq!(read.unwrap_err().kind(), ProviderErrorKind::Unsupported);
}

#[tokio::test]
async fn files_over_the_cap_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("big")).unwrap();
    big.set_len(MAX_FILE_BYTES + 1).unwrap();
    let at_cap = std::fs::File::create(dir.path().join("at-cap")).unwrap();
    at_cap.set_len(MAX_FILE_BYTES).unwrap();
    let files = Files::new(dir.path());
    let err = files.resolve("file://big").await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unsupported);
    assert!(err.message().contains("16777217 bytes"), "{err}");
    let value = files.resolve("file://at-cap").await.unwrap();
    assert_eq!(value.expose_secret().len() as u64, MAX_FILE_BYTES);
}

#[tokio::test]
async fn a_missing_directory_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::new(dir.path().join("not-there"));
    let err = files.resolve("file://token").await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Configuration);
    assert!(err.message().contains("not-there"), "{err}");
}

#[tokio::test]
async fn text_that_is_not_utf8_is_refused_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "binary", &[0xff, 0xfe, b's', b'3']);
    let err = Files::new(dir.path())
        .resolve("file://binary")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unsupported);
}

#[cfg(feature = "conformance")]
#[tokio::test]
async fn env_and_files_conform() {
    use request_vault::provider::conformance::{Case, check};
    use std::sync::Arc;

    let (name, value) = some_variable();
    let failures = check(
        Arc::new(Env),
        &[
            Case::value(format!("env://{name}"), value),
            Case::error(
                "env://REQUEST_VAULT_TEST_NEVER_SET_1b7c",
                ProviderErrorKind::NotFound,
            ),
            Case::invalid("env://"),
            Case::invalid("env://A.B"),
        ],
    )
    .await;
    assert!(failures.is_empty(), "env: {failures:#?}");

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sub/token", b"file value");
    write(dir.path(), "app.json", br#"{"key":"json value"}"#);
    let failures = check(
        Arc::new(Files::new(dir.path())),
        &[
            Case::value("file://sub/token", "file value"),
            Case::value("file://app.json#key", "json value"),
            Case::error("file://absent", ProviderErrorKind::NotFound),
            Case::error("file://app.json#absent", ProviderErrorKind::NotFound),
            Case::invalid("file:///etc/passwd"),
            Case::invalid("file://../x"),
        ],
    )
    .await;
    assert!(failures.is_empty(), "files: {failures:#?}");
}
