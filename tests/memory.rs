//! Memory hygiene: no operation of the crate leaves an unwiped copy of a secret in freed heap
//! memory.
//!
//! The test binary's global allocator scans every block as it is freed, and every block a
//! reallocation moves away from, for a marker secret (a reallocation always moves here, as
//! it may under some allocator, growing or shrinking). The scan is proven
//! first: a planted, unwiped copy must be found and a wiped one must not. Each case then runs
//! an operation with the marker as the secret and drops everything it made; a freed block
//! still holding the marker is a finding, reported with its size and the stack that freed it.
//!
//! What reqwest holds once a rendered request is handed over is the caller's (the request is
//! leaked here, never freed); the only other exceptions are two call sites inside age, which
//! the crate cannot reach: `StreamWriter` keeps its plaintext chunk in a plain `Vec` that it
//! does not wipe, and `Stream::decrypt_chunk` shrinks each decrypted chunk's `Vec` into a
//! boxed slice, freeing the longer original unwiped (see `SECURITY.md`).
//!
//! The crate forbids `unsafe`; this test crate needs it for `GlobalAlloc` alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use request_vault::{
    ExposeSecret, ExternalProvider, ProviderError, RequestTemplate, SecretString, Template, Vault,
    async_trait,
};

/// The secret every case plants; found in a freed block, it is a leak.
const MARKER: &str = "Mem0ry-Canary-9c1e77b2-secret";

/// The places allowed to free the marker unwiped, both inside age: the stream writer's
/// plaintext chunk, and the reader's decrypted chunk shrunk into a `SecretSlice`.
const AGE_STREAM: [&str; 2] = [
    "age::primitives::stream::StreamWriter",
    "age::primitives::stream::Stream::decrypt_chunk",
];

struct Scanning;

static ARMED: AtomicBool = AtomicBool::new(false);
static FINDINGS: Mutex<Vec<Finding>> = Mutex::new(Vec::new());
/// Cases run one at a time: the allocator and its findings are global.
static SERIAL: Mutex<()> = Mutex::new(());

thread_local! {
    /// Set while a finding is recorded, so that the recording's own allocations pass.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

/// A freed block that held the marker.
struct Finding {
    size: usize,
    stack: Backtrace,
}

// SAFETY: every method forwards to `System` with the layout it was given; `scan` only reads
// the block being freed, which is valid for `layout.size()` bytes until it is deallocated.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe {
            if holds_marker(ptr, layout.size()) {
                record(layout.size());
                // Wiped once found, so that a later owner of the same memory, freeing it with
                // the stale bytes in its unused part, is not reported for them again.
                std::ptr::write_bytes(ptr, 0, layout.size());
            }
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Always moves, so that the old block is scanned: allocators differ on which
        // reallocations move (jemalloc and mimalloc move shrinks across size classes), and a
        // buffer holding a secret must not be reallocated under any of them.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Whether the block at `ptr` (of `size` bytes) holds the marker. Every block is scanned,
/// armed or not, so that none is freed with the marker unwiped outside a case either.
unsafe fn holds_marker(ptr: *const u8, size: usize) -> bool {
    if size < MARKER.len() {
        return false;
    }
    let block = unsafe { std::slice::from_raw_parts(ptr, size) };
    let marker = MARKER.as_bytes();
    block.windows(marker.len()).any(|window| window == marker)
}

/// Records a finding of a `size`-byte block, with the stack freeing it, while a case runs.
fn record(size: usize) {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let _ = RECORDING.try_with(|recording| {
        if recording.replace(true) {
            return;
        }
        let stack = Backtrace::force_capture();
        FINDINGS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Finding { size, stack });
        recording.set(false);
    });
}

/// Runs `case` with the scan armed and returns what it found (all but the age exception,
/// counted apart).
fn scan_case(case: impl FnOnce()) -> (Vec<String>, usize) {
    let _serial: MutexGuard<'_, ()> = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    FINDINGS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    ARMED.store(true, Ordering::SeqCst);
    case();
    ARMED.store(false, Ordering::SeqCst);
    let findings = std::mem::take(&mut *FINDINGS.lock().unwrap_or_else(|p| p.into_inner()));
    let mut reported = Vec::new();
    let mut allowed = 0;
    for finding in findings {
        let stack = finding.stack.to_string();
        if AGE_STREAM.iter().any(|site| stack.contains(site)) {
            allowed += 1;
            continue;
        }
        reported.push(format!(
            "freed block of {} bytes, freed at:\n{}",
            finding.size,
            frames(&stack)
        ));
    }
    (reported, allowed)
}

/// The frames of a stack outside the standard library and this test's allocator: who freed
/// the block, innermost first.
fn frames(stack: &str) -> String {
    let mut lines = stack.lines().map(str::trim).peekable();
    let mut out = String::new();
    let mut shown = 0;
    while let Some(line) = lines.next() {
        let location = match lines.peek() {
            Some(next) if next.starts_with("at ") => lines.next().unwrap_or_default(),
            _ => "",
        };
        let Some((_, symbol)) = line.split_once(": ") else {
            continue;
        };
        let internal = [
            "std::",
            "core::",
            "alloc::",
            "memory::record",
            "memory::holds",
        ]
        .iter()
        .any(|prefix| symbol.starts_with(prefix))
            || symbol.contains("Scanning")
            || symbol.starts_with("__rust");
        if internal || shown >= 30 {
            continue;
        }
        shown += 1;
        out.push_str(&format!("    {symbol}  {location}\n"));
    }
    out
}

fn assert_clean(what: &str, case: impl FnOnce()) {
    let (findings, allowed) = scan_case(case);
    assert_eq!(
        allowed, 0,
        "{what}: age's stream writer is not involved here"
    );
    assert!(
        findings.is_empty(),
        "{what}: {} unwiped copies of the secret freed:\n{}",
        findings.len(),
        findings.join("\n")
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn secret() -> SecretString {
    SecretString::from(MARKER)
}

/// Answers every reference with the marker, held only in `SecretString`s.
#[derive(Debug)]
struct Canary;

#[async_trait]
impl ExternalProvider for Canary {
    fn id(&self) -> &str {
        "canary"
    }

    fn scheme(&self) -> &str {
        "canary"
    }

    fn check_reference(&self, _: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn resolve(&self, _: &str) -> Result<SecretString, ProviderError> {
        Ok(secret())
    }
}

fn canary_vault() -> Vault {
    let vault = Vault::new();
    vault.add_provider(Canary);
    vault.set("local", secret()).expect("set");
    vault.link("linked", "canary://a").expect("link");
    vault
}

#[test]
fn the_scan_finds_a_planted_copy_and_not_a_wiped_one() {
    let (found, _) = scan_case(|| drop(String::from(MARKER)));
    assert_eq!(found.len(), 1, "an unwiped copy is found");
    let (found, _) = scan_case(|| {
        let mut grown = String::with_capacity(8);
        grown.push_str(MARKER);
        grown.push_str(&"x".repeat(64)); // moves the block: the old one is scanned
        std::mem::forget(grown);
    });
    assert_eq!(
        found.len(),
        1,
        "a block a reallocation moved away from is found"
    );
    let (found, _) = scan_case(|| drop(secret()));
    assert!(found.is_empty(), "a wiped copy is not found");
}

#[test]
fn set_resolve_and_drop_wipe_every_copy() {
    assert_clean("set/resolve/drop", || {
        let runtime = runtime();
        let vault = canary_vault();
        runtime.block_on(async {
            assert_eq!(
                vault.resolve("local").await.unwrap().expose_secret(),
                MARKER
            );
            assert_eq!(
                vault.resolve("linked").await.unwrap().expose_secret(),
                MARKER
            );
            let all = vault.resolve_all(["local", "linked"]).await.unwrap();
            assert_eq!(all["linked"].expose_secret(), MARKER);
        });
        vault.set("local", SecretString::from("replaced")).unwrap();
        vault.clear_cache();
        runtime.block_on(vault.resolve("linked")).unwrap();
        vault.unset("linked").unwrap();
        drop(vault);
        drop(runtime);
    });
}

#[test]
fn rendering_text_wipes_every_copy() {
    assert_clean("Vault::render / render_template", || {
        let runtime = runtime();
        let vault = canary_vault();
        let template = Template::parse("a <<vault:local>> b <<vault:linked>> c").unwrap();
        runtime.block_on(async {
            let text = vault.render("Bearer <<vault:local>>").await.unwrap();
            assert!(text.expose_secret().ends_with(MARKER));
            let text = vault.render_template(&template).await.unwrap();
            assert!(text.expose_secret().contains(MARKER));
        });
        drop(vault);
        drop(runtime);
    });
    assert_clean("Template::render_with", || {
        let template = Template::parse(&format!("{}<<vault:k>>x", "y".repeat(1000))).unwrap();
        let values = HashMap::from([("k".to_owned(), secret())]);
        let text = template
            .render_with(&values, |value, out| out.push_str(value))
            .unwrap();
        assert!(text.expose_secret().contains(MARKER));
    });
}

/// Renders `template` with the canary vault and checks `check` on the request, which is then
/// leaked: what reqwest holds after the hand-over is the caller's.
fn render_request_case(template: RequestTemplate, check: impl FnOnce(&reqwest::Request)) {
    let runtime = runtime();
    let vault = canary_vault();
    let client = reqwest::Client::new();
    let request = runtime
        .block_on(vault.render_request(&client, &template))
        .unwrap();
    check(&request);
    std::mem::forget(request);
    drop(vault);
    drop(client);
    drop(runtime);
}

fn body(request: &reqwest::Request) -> &[u8] {
    request.body().and_then(reqwest::Body::as_bytes).unwrap()
}

fn contains(haystack: &[u8]) -> bool {
    haystack
        .windows(MARKER.len())
        .any(|window| window == MARKER.as_bytes())
}

#[test]
fn render_request_headers_wipe_every_copy() {
    assert_clean("render_request, headers", || {
        let template = RequestTemplate::new(reqwest::Method::GET, "https://api.example.com/")
            .header("X-Api-Key", "<<vault:local>>")
            .bearer_auth("<<vault:linked>>");
        render_request_case(template, |request| {
            assert!(contains(request.headers()["x-api-key"].as_bytes()));
        });
    });
}

#[test]
fn render_request_json_body_wipes_every_copy() {
    assert_clean("render_request, JSON body", || {
        let template = RequestTemplate::new(reqwest::Method::POST, "https://api.example.com/")
            .json(r#"{"key": "<<vault:local>>", "other": "<<vault:linked>>"}"#);
        render_request_case(template, |request| assert!(contains(body(request))));
    });
}

#[test]
fn render_request_form_body_wipes_every_copy() {
    assert_clean("render_request, form body", || {
        let template = RequestTemplate::new(reqwest::Method::POST, "https://api.example.com/")
            .form([("key", "<<vault:local>>"), ("other", "<<vault:linked>>")]);
        render_request_case(template, |request| assert!(contains(body(request))));
    });
}

#[test]
fn render_request_basic_auth_wipes_every_copy() {
    assert_clean("render_request, basic auth", || {
        let template = RequestTemplate::new(reqwest::Method::GET, "https://api.example.com/")
            .basic_auth("user", "<<vault:local>>");
        render_request_case(template, |request| {
            assert!(request.headers().contains_key("authorization"));
        });
    });
}

#[test]
fn the_redactor_wipes_every_copy() {
    assert_clean("redactor", || {
        let runtime = runtime();
        let vault = canary_vault();
        runtime.block_on(vault.resolve("linked")).unwrap();
        let redactor = vault.redactor();
        let log = joined(&["token=", MARKER, " and again ", MARKER, "."]);
        let redacted = redactor.redact(log.expose_secret());
        assert!(!redacted.contains(MARKER));
        drop(redacted);
        drop(log);
        drop(redactor);
        drop(vault);
        drop(runtime);
    });
}

/// `parts` joined into a buffer of its exact size, wiped when dropped: the test itself frees
/// no copy of the marker.
fn joined(parts: &[&str]) -> SecretString {
    let mut line = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| line.push_str(p));
    SecretString::from(line)
}

#[test]
fn the_live_redactor_wipes_every_copy() {
    assert_clean("live redactor", || {
        let runtime = runtime();
        let vault = Vault::new();
        vault.add_provider(Canary);
        vault.link("linked", "canary://a").expect("link");
        let redactor = vault.redactor();
        let clone = redactor.clone();
        // A value set, one fetched, one rotated away and back: each announced and caught up.
        vault.set("local", secret()).unwrap();
        runtime.block_on(vault.resolve("linked")).unwrap();
        let log = joined(&["token=", MARKER, "%20and ", MARKER, "."]);
        let redacted = redactor.redact(log.expose_secret());
        assert_eq!(redacted, "token=[vault:local]%20and [vault:local].");
        vault.set("local", SecretString::from("rotated")).unwrap();
        vault.set("local", secret()).unwrap();
        drop(clone.redact(log.expose_secret()));
        // Let the fold into one automaton, on its own thread, finish within the case.
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(clone.redact(log.expose_secret()));
        drop((redacted, log, clone));
        vault.clear_cache();
        drop(vault);
        drop(redactor);
        drop(runtime);
    });
}

#[test]
fn the_redacting_writer_wipes_every_copy() {
    assert_clean("RedactingWriter", || {
        let vault = Vault::new();
        vault.set("local", secret()).unwrap();
        let redactor = vault.redactor();
        let (head, tail) = MARKER.split_at(9);
        // Sized up front: the writer's output never moves.
        let mut w = redactor.writer(Vec::with_capacity(200_000));
        w.write_all(b"a line with ").unwrap();
        w.write_all(head.as_bytes()).unwrap();
        w.write_all(tail.as_bytes()).unwrap();
        w.write_all(b" in it\nand one going out at flush ").unwrap();
        w.write_all(MARKER.as_bytes()).unwrap();
        w.flush().unwrap();
        // A line past the writer's bound, the marker everywhere in it.
        for _ in 0..3_000 {
            w.write_all(b" text ").unwrap();
            w.write_all(MARKER.as_bytes()).unwrap();
        }
        w.write_all(b"\n").unwrap();
        let out = w.into_inner();
        assert!(
            !out.windows(MARKER.len())
                .any(|window| window == MARKER.as_bytes())
        );
        drop(out);
        drop(redactor);
        drop(vault);
    });
}

#[cfg(feature = "file")]
mod file {
    use super::*;
    use request_vault::{ImportOptions, VaultKey};

    #[test]
    fn export_and_import_wipe_every_copy() {
        let (findings, allowed) = scan_case(|| {
            let vault = Vault::new();
            vault.set("k", secret()).unwrap();
            let plain = vault.export_plain().unwrap();
            let encrypted = vault
                .export_encrypted(SecretString::from("a long export password"))
                .unwrap();
            let target = Vault::new();
            target
                .import(plain.expose_secret().as_bytes(), ImportOptions::new())
                .unwrap();
            let other = Vault::new();
            other
                .import(
                    &encrypted,
                    ImportOptions::new().password(SecretString::from("a long export password")),
                )
                .unwrap();
            drop((vault, plain, encrypted, target, other));
        });
        assert!(
            findings.is_empty(),
            "export/import: {} unwiped copies freed ({allowed} inside age's stream, allowed):\n{}",
            findings.len(),
            findings.join("\n")
        );
    }

    #[test]
    fn the_vault_file_wipes_every_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.age");
        let key = VaultKey::generate();
        let (findings, allowed) = scan_case(|| {
            let vault = Vault::create(&path, &key).unwrap();
            vault.set("k", secret()).unwrap();
            vault.save().unwrap();
            vault.lock();
            vault.unlock(&key).unwrap();
            drop(vault);
            let opened = Vault::open(&path, &key).unwrap();
            let runtime = runtime();
            assert_eq!(
                runtime
                    .block_on(opened.resolve("k"))
                    .unwrap()
                    .expose_secret(),
                MARKER
            );
            drop(opened);
            drop(runtime);
        });
        assert!(
            findings.is_empty(),
            "vault file: {} unwiped copies freed ({allowed} inside age's stream, allowed):\n{}",
            findings.len(),
            findings.join("\n")
        );
    }
}
