//! Child processes: `Vault::render_env` through the public API, and `examples/run.rs` end to
//! end (its job runs here as the example runs it): a child that prints its environment shows
//! only masks.

use crate::common;

#[path = "../../examples/support/run.rs"]
mod job;

use common::MapProvider;
use request_vault::{Error, ErrorKind, ExposeSecret, Vault};

const DB: &str = "correct horse battery staple";

fn vault() -> (Vault, MapProvider) {
    let vault = Vault::new();
    vault.set("db", DB).unwrap();
    let provider = MapProvider::new("map", "map");
    vault.add_provider(provider.clone());
    vault
        .link("token", &provider.insert("token", "linked-t0ken/value"))
        .unwrap();
    (vault, provider)
}

/// Whether `sh` can be run; without it the end-to-end tests say why and skip, unless
/// `REQUEST_VAULT_REQUIRE_EXTERNAL=1` makes that a failure.
fn have_sh() -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", "exit 0"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("REQUEST_VAULT_REQUIRE_EXTERNAL").as_deref() != Ok("1"),
            "`sh` is needed and REQUEST_VAULT_REQUIRE_EXTERNAL=1"
        );
        eprintln!("skipped: no `sh` to run a child process");
    }
    found
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

#[tokio::test]
async fn render_env_renders_raw_in_one_batch() {
    let (vault, provider) = vault();
    vault
        .link("other", &provider.insert("other", "other-value"))
        .unwrap();
    let env = vault
        .render_env([
            ("DB_PASSWORD", "<<vault:db>>"),
            (
                "DSN",
                "postgres://app:<<vault:db>>@db/app?t=<<vault:token>>",
            ),
            ("OTHER", "<<vault:other>>"),
        ])
        .await
        .unwrap();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(n, v)| (n.as_str(), v.expose_secret()))
        .collect();
    assert_eq!(
        env,
        [
            ("DB_PASSWORD", DB),
            (
                "DSN",
                "postgres://app:correct horse battery staple@db/app?t=linked-t0ken/value"
            ),
            ("OTHER", "other-value"),
        ]
    );
    assert_eq!(provider.batches(), 1, "both linked secrets in one call");
    assert_eq!(provider.resolves(), 0);
}

#[tokio::test]
async fn render_env_fails_closed_naming_every_problem() {
    let (vault, _) = vault();
    let err = vault
        .render_env([
            ("A", "<<vault:db>>"),
            ("B", "<<vault:nope>> <<vault:gone>>"),
        ])
        .await
        .unwrap_err();
    let names: Vec<_> = err.errors().iter().filter_map(Error::secret_name).collect();
    assert_eq!(names, ["nope", "gone"]);
    for (name, reason) in [("", "empty"), ("A=B", "`=`"), ("NUL\0", "NUL")] {
        let err = vault.render_env([(name, "x")]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName);
        assert!(err.to_string().contains(reason), "{err}");
    }
    vault.set("nul", "a\0b").unwrap();
    let err = vault
        .render_env([("V", "<<vault:nul>>")])
        .await
        .unwrap_err();
    assert_eq!(err.secret_name(), Some("nul"));
    assert!(
        err.to_string().contains("environment variable `V`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_child_printing_its_environment_shows_only_masks() {
    if !have_sh() {
        return;
    }
    let (vault, _) = vault();
    let env = job::parse_env_file(
        "# secrets for the child\n\nDB_PASSWORD=<<vault:db>>\n  DSN = postgres://app:<<vault:db>>@db/app\nTOKEN=Bearer <<vault:token>>\n",
    )
    .unwrap();
    let script = "env | grep -E '^(DB_PASSWORD|DSN|TOKEN)=' | sort; printf 'err: %s' \"$TOKEN\" >&2; printenv DB_PASSWORD";
    let (status, out, err) = job::run(&vault, env, &sh(script), Vec::new(), Vec::new())
        .await
        .unwrap();
    assert!(status.success());
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(
        out,
        "DB_PASSWORD=[vault:db]\nDSN=postgres://app:[vault:db]@db/app\nTOKEN=Bearer [vault:token]\n[vault:db]\n"
    );
    assert_eq!(err, "err: Bearer [vault:token]");
}

#[tokio::test]
async fn the_command_does_not_run_unless_every_variable_renders() {
    if !have_sh() {
        return;
    }
    let (vault, _) = vault();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let env = job::parse_env_file("A=<<vault:db>>\nB=<<vault:missing>>\n").unwrap();
    let script = format!("touch '{}'", marker.display());
    let err = job::run(&vault, env, &sh(&script), Vec::new(), Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`missing`"), "{err}");
    assert!(!marker.exists(), "the command ran");
    assert_eq!(
        job::parse_env_file("A=1\nsecret-without-a-name\n").unwrap_err(),
        "line 2: expected NAME=template"
    );
}
