//! The redactor through the public API: the encoded forms it masks, how a live redactor
//! follows its vault, and the writers that mask what goes through them.

use crate::common;

use std::io::Write;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::MapProvider;
use request_vault::{Redactor, Vault};

/// A secret with every character the escapes below touch: `"`, `\`, `/`, `@`, a space.
const TRICKY: &str = "p@ss\"w\\rd/ 42";

/// A JSON log line carried as a string inside another JSON document escapes the secret
/// twice: `"` becomes `\\\"` and `\` becomes `\\\\`.
#[test]
fn a_secret_json_escaped_twice_is_masked() {
    let r = Redactor::new([("k", TRICKY)]);
    let inner = serde_json::json!({ "password": TRICKY }).to_string();
    let outer = serde_json::json!({ "log": inner }).to_string();
    assert!(outer.contains(r#"\\\""#), "escaped twice: {outer}");
    let masked = r.redact(&outer);
    assert_eq!(masked, r#"{"log":"{\"password\":\"[vault:k]\"}"}"#);
    // Three times, as a log shipper wrapping it once more writes it.
    let thrice = serde_json::json!({ "event": outer }).to_string();
    assert!(!r.redact(&thrice).contains("42"), "{}", r.redact(&thrice));
}

/// A percent-encoded value encoded again (`%40` -> `%2540`), in either case.
#[test]
fn double_percent_encoding_is_masked_in_any_case() {
    let r = Redactor::new([("k", "p@ss/w rd")]);
    for form in [
        "p%2540ss%252Fw%2520rd",
        "p%2540ss%252fw%2520rd",
        "p%2540ss/w%2520rd",
        "p%40ss%252Fw rd",
        "p%2540ss%252Fw+rd",
    ] {
        let text = format!("GET /cb?next=%2Fx%3Fk%3D{form}&y=1");
        let masked = r.redact(&text);
        assert_eq!(masked, "GET /cb?next=%2Fx%3Fk%3D[vault:k]&y=1", "{form}");
    }
}

/// The base64 of a longer text that contains the secret holds the secret's bits at one of
/// three alignments; each is masked, in both alphabets, with the characters that mix the
/// secret's bits with its neighbours'.
#[test]
fn a_secret_inside_longer_base64_is_masked_at_every_alignment() {
    let secret = "hunter2-Correct-Horse";
    let r = Redactor::new([("k", secret)]);
    for prefix in ["", "a", "ab", "abc", r#"{"user":"admin","password":""#] {
        let body = format!("{prefix}{secret}\", \"remember\": true}}");
        // The base64 characters that carry some bit of the secret.
        let first = prefix.len() * 4 / 3;
        let end = ((prefix.len() + secret.len()) * 4).div_ceil(3);
        for encoded in [STANDARD.encode(&body), URL_SAFE_NO_PAD.encode(&body)] {
            let text = format!("body={encoded} end");
            let expected = format!("body={}[vault:k]{} end", &encoded[..first], &encoded[end..]);
            assert_eq!(r.redact(&text), expected, "{prefix:?}");
        }
    }
    let unrelated = STANDARD.encode("nothing to see here, move along");
    assert_eq!(r.redact(&unrelated), unrelated);
}

// --- The live redactor ---------------------------------------------------------------------

fn linked_vault() -> (Vault, MapProvider) {
    let vault = Vault::new();
    let provider = MapProvider::new("map", "map");
    vault.add_provider(provider.clone());
    vault
        .link("db", &provider.insert("db", "db-password-1"))
        .unwrap();
    (vault, provider)
}

#[tokio::test]
async fn values_set_or_fetched_after_the_redactor_was_made_are_masked() {
    let (vault, _provider) = linked_vault();
    let redactor = vault.redactor();
    assert!(redactor.is_empty(), "nothing is cached yet");
    vault.set("api-key", "api-key-value").unwrap();
    vault.resolve("db").await.unwrap();
    assert_eq!(
        redactor.redact("k=api-key-value p=db-password-1"),
        "k=[vault:api-key] p=[vault:db]"
    );
    assert_eq!(redactor.len(), 2);
}

#[tokio::test]
async fn a_batch_fetch_is_masked_too() {
    let (vault, provider) = linked_vault();
    vault
        .link("other", &provider.insert("other", "other-value"))
        .unwrap();
    let redactor = vault.redactor();
    vault.resolve_all(["db", "other"]).await.unwrap();
    vault.render("<<vault:db>>").await.unwrap();
    assert_eq!(
        redactor.redact("db-password-1 other-value"),
        "[vault:db] [vault:other]"
    );
}

#[tokio::test]
async fn both_values_of_a_rotation_stay_masked() {
    let (vault, provider) = linked_vault();
    let redactor = vault.redactor();
    vault.set("api-key", "old-api-key").unwrap();
    vault.set("api-key", "new-api-key").unwrap();
    vault.resolve("db").await.unwrap();
    provider.insert("db", "db-password-2");
    vault.clear_cache();
    vault.resolve("db").await.unwrap();
    assert_eq!(
        redactor.redact("old-api-key new-api-key db-password-1 db-password-2"),
        "[vault:api-key] [vault:api-key] [vault:db] [vault:db]"
    );
    // Once masked, masked for good: through clear_cache and unset.
    vault.clear_cache();
    vault.unset("api-key").unwrap();
    vault.unset("db").unwrap();
    assert_eq!(
        redactor.redact("old-api-key db-password-2"),
        "[vault:api-key] [vault:db]"
    );
    assert_eq!(redactor.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_value_rotated_between_ttl_refetches_is_masked() {
    let vault = Vault::builder().cache_ttl(Duration::from_secs(60)).build();
    let provider = MapProvider::new("map", "map");
    vault.add_provider(provider.clone());
    vault
        .link("db", &provider.insert("db", "first-lease"))
        .unwrap();
    let redactor = vault.redactor();
    vault.resolve("db").await.unwrap();
    provider.insert("db", "second-lease");
    tokio::time::advance(Duration::from_secs(61)).await;
    vault.resolve("db").await.unwrap();
    // Nobody redacted in between: both values were announced all the same.
    assert_eq!(
        redactor.redact("first-lease second-lease"),
        "[vault:db] [vault:db]"
    );
}

#[tokio::test]
async fn clones_share_what_they_mask_across_threads() {
    fn send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    let vault = Vault::new();
    let redactor = vault.redactor();
    send_sync(&redactor);
    let clone = redactor.clone();
    vault.set("a", "value-of-a").unwrap();
    let masked = std::thread::spawn(move || clone.redact("value-of-a"))
        .join()
        .unwrap();
    assert_eq!(masked, "[vault:a]");
    vault.set("b", "value-of-b").unwrap();
    assert_eq!(redactor.redact("value-of-b"), "[vault:b]");
    // The redactor outlives its vault, and keeps what it knew.
    drop(vault);
    assert_eq!(
        redactor.redact("value-of-a value-of-b"),
        "[vault:a] [vault:b]"
    );
}

#[tokio::test]
async fn a_value_whose_secret_is_gone_is_masked_as_its_reference() {
    let (vault, _provider) = linked_vault();
    let redactor = vault.redactor();
    vault.resolve("db").await.unwrap();
    vault.unset("db").unwrap();
    assert_eq!(redactor.redact("db-password-1"), "[vault:map://db]");
}

/// Values that come back through `unlock` and `import` are announced as `set` ones are.
#[cfg(feature = "file")]
#[test]
fn values_unlocked_or_imported_are_masked() {
    use request_vault::{ExposeSecret, ImportOptions, VaultKey};
    let dir = tempfile::tempdir().unwrap();
    let key = VaultKey::generate();
    let vault = Vault::create(dir.path().join("v.age"), &key).unwrap();
    vault.set("stored", "stored-value").unwrap();
    vault.lock();
    let redactor = vault.redactor();
    assert!(redactor.is_empty(), "a locked vault holds no value");
    vault.unlock(&key).unwrap();
    assert_eq!(redactor.redact("stored-value"), "[vault:stored]");

    let other = Vault::new();
    let follows_other = other.redactor();
    let export = vault.export_plain().unwrap();
    other
        .import(export.expose_secret().as_bytes(), ImportOptions::new())
        .unwrap();
    assert_eq!(follows_other.redact("stored-value"), "[vault:stored]");
}

#[test]
fn a_snapshot_redactor_stays_as_made() {
    let vault = Vault::new();
    let fixed = Redactor::new([("x", "fixed-value")]);
    vault.set("y", "later-value").unwrap();
    assert_eq!(
        fixed.redact("fixed-value later-value"),
        "[vault:x] later-value"
    );
    assert!(!format!("{fixed:?}").contains("fixed-value"));
}

// --- Writers -------------------------------------------------------------------------------

/// A writer whose output the test can read while the redacting writer still holds it.
#[derive(Clone, Default)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_secret_split_across_writes_is_masked_and_lines_go_out_at_their_end() {
    let redactor = Redactor::new([("token", "t0k3n-value")]);
    let sink = Sink::default();
    let mut w = redactor.writer(sink.clone());
    w.write_all(b"first t0k").unwrap();
    assert_eq!(sink.text(), "", "nothing before the line ends");
    w.write_all(b"3n-value\nsecond t0k3n").unwrap();
    assert_eq!(sink.text(), "first [vault:token]\n");
    w.write_all(b"-value").unwrap();
    w.flush().unwrap();
    assert_eq!(sink.text(), "first [vault:token]\nsecond [vault:token]");
    w.write_all(b" third t0k3n-val").unwrap();
    w.write_all(b"ue").unwrap();
    drop(w);
    assert_eq!(
        sink.text(),
        "first [vault:token]\nsecond [vault:token] third [vault:token]"
    );
    let mut w = redactor.writer(Vec::new());
    w.write_all(b"x t0k3n-value \xff\xfe y").unwrap();
    assert_eq!(w.into_inner(), b"x [vault:token] \xff\xfe y");
}

/// A line longer than the writer's bound goes out in parts, and no part ends inside a
/// secret, whatever the sizes of the writes.
#[test]
fn a_long_line_goes_out_in_parts_without_cutting_a_secret() {
    let secret = "Sup3r/S3cret+Value?=";
    let redactor = Redactor::new([("s", secret)]);
    let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let bearer = format!("Bearer {}", STANDARD.encode(format!("user:{secret}")));
    let mut line = String::new();
    let mut i = 0;
    while line.len() < 300_000 {
        line.push_str(&"x".repeat(i % 97));
        line.push_str(match i % 3 {
            0 => secret,
            1 => &encoded,
            _ => &bearer,
        });
        line.push(' ');
        i += 1;
    }
    let expected = redactor.redact(&line);
    assert!(!expected.contains(secret) && !expected.contains(&encoded));
    for chunk in [1, 7, 4096, 65_536, 100_003] {
        let sink = Sink::default();
        let mut w = redactor.writer(sink.clone());
        for part in line.as_bytes().chunks(chunk) {
            w.write_all(part).unwrap();
        }
        assert!(
            sink.text().len() > 100_000,
            "a long line goes out before it ends ({chunk})"
        );
        drop(w);
        let got = sink.text();
        if got != expected {
            let at = got
                .bytes()
                .zip(expected.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(expected.len()));
            let around = |s: &str| s[at.saturating_sub(80)..(at + 80).min(s.len())].to_owned();
            panic!(
                "writes of {chunk} bytes differ at {at}:\n got {:?}\nwant {:?}",
                around(&got),
                around(&expected)
            );
        }
    }
}

#[test]
fn a_multi_line_secret_written_line_by_line_is_masked() {
    let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
    let redactor = Redactor::new([("key", key)]);
    let sink = Sink::default();
    let mut w = redactor.writer(sink.clone());
    w.write_all(b"loading key:\n").unwrap();
    for line in key.split_inclusive('\n') {
        w.write_all(line.as_bytes()).unwrap();
    }
    w.write_all(b"done\n").unwrap();
    assert_eq!(sink.text(), "loading key:\n[vault:key]done\n");
    // A line that only looks like the start goes out with the next.
    let mut w = redactor.writer(Vec::new());
    w.write_all(b"-----BEGIN PRIVATE KEY-----\nnot the key\n")
        .unwrap();
    assert_eq!(
        w.into_inner(),
        b"-----BEGIN PRIVATE KEY-----\nnot the key\n"
    );
}

#[tokio::test]
async fn a_live_writer_masks_a_value_fetched_while_it_is_in_use() {
    let (vault, _provider) = linked_vault();
    let sink = Sink::default();
    let mut w = vault.redactor().writer(sink.clone());
    vault.resolve("db").await.unwrap();
    writeln!(w, "connecting with db-password-1").unwrap();
    assert_eq!(sink.text(), "connecting with [vault:db]\n");
}

/// `tracing_subscriber::fmt` with a redacting writer never prints a secret, one fetched after
/// the subscriber was installed included; and the vault's own events, written while it holds
/// its lock, do not deadlock the redactor catching up.
#[cfg(feature = "tracing")]
#[test]
fn tracing_through_a_live_redactor_prints_only_masks() {
    let (vault, provider) = linked_vault();
    let sink = Sink::default();
    let writer = {
        let sink = sink.clone();
        move || sink.clone()
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(vault.redactor().make_writer(writer))
        .finish();
    let (done, finished) = std::sync::mpsc::channel();
    let worker = {
        let vault = vault.clone();
        std::thread::spawn(move || {
            tracing::subscriber::with_default(subscriber, || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let value = runtime.block_on(vault.resolve("db")).unwrap();
                tracing::info!(password = %request_vault::ExposeSecret::expose_secret(&value), "connecting");
                // A refetch brings a new value; `set` then logs under the vault's write lock
                // while the redactor has that value to take in (it cannot look up the name
                // then: the value is masked as its reference).
                provider.insert("db", "db-password-2");
                vault.clear_cache();
                runtime.block_on(vault.resolve("db")).unwrap();
                vault.set("api-key", "api-key-value").unwrap();
                tracing::warn!("retrying with db-password-2 and api-key-value");
            });
            done.send(()).unwrap();
        })
    };
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("no deadlock");
    worker.join().unwrap();
    let log = sink.text();
    assert!(log.contains("connecting password=[vault:db]"), "{log}");
    assert!(log.contains("retrying with [vault:"), "{log}");
    for secret in ["db-password-1", "db-password-2", "api-key-value"] {
        assert!(!log.contains(secret), "{log}");
    }
}
