//! Resolving, warm and at scale.
//!
//! - `warm_resolve`: a warm `resolve` of a cached linked secret and of a local one, against
//!   a `HashMap<String, SecretString>` get plus clone (the floor any in-memory lookup pays).
//!   Goal: within 2x of the map. `clock_read` times the one reading of the clock a cached
//!   linked value's TTL check takes (`tokio::time::Instant::now()`, so that tokio's paused
//!   clock applies); `vault_local` is the same path without the cache (no clock, no cache
//!   lock): together they show what the cached path costs beyond a local one.
//! - `resolve_all_cold/N` and `resolve_all_warm/N`: `resolve_all` of N linked secrets from a
//!   provider that answers at once, with an empty cache (a fresh vault each time) and with
//!   every value cached. Goals: linear (1k to 10k at most 15x), 100k cold under a second,
//!   cold at most 5x warm.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use request_vault::{
    ExposeSecret, ExternalProvider, ProviderError, SecretString, Vault, async_trait,
};

const VALUE: &str = "a-linked-value-of-32-bytes-long!";

/// Answers every reference with a fixed value at once.
#[derive(Debug)]
struct Fixed;

#[async_trait]
impl ExternalProvider for Fixed {
    fn id(&self) -> &str {
        "fixed"
    }
    fn scheme(&self) -> &str {
        "fixed"
    }
    fn check_reference(&self, _reference: &str) -> Result<(), request_vault::ProviderError> {
        Ok(())
    }
    async fn resolve(&self, _reference: &str) -> Result<SecretString, ProviderError> {
        Ok(SecretString::from(VALUE))
    }
    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        references
            .iter()
            .map(|_| Ok(SecretString::from(VALUE)))
            .collect()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// One warm resolve, polled once (it completes without waiting). Every benchmark that
/// times a resolve calls this one function, and the map's side calls its own: so that how
/// the compiler inlines the future's poll into each loop does not differ between them.
#[inline(never)]
fn resolve_now(vault: &Vault, name: &str) -> SecretString {
    vault
        .resolve(name)
        .now_or_never()
        .expect("warm resolve is ready")
        .expect("value")
}

/// The floor: a map get and a clone, behind a call as [`resolve_now`] is.
#[inline(never)]
fn get_now(map: &HashMap<String, SecretString>, name: &str) -> SecretString {
    map.get(name).cloned().expect("value")
}

fn warm_resolve(c: &mut Criterion) {
    let runtime = runtime();
    // The runtime is entered only for the first fetch: outside it, `tokio::time::Instant`
    // reads the system clock directly, as it always does in builds without tokio's
    // `test-util` feature (which the test suite enables to pause time).
    let vault = Vault::new();
    vault.add_provider(Fixed);
    let mut map: HashMap<String, SecretString> = HashMap::new();
    for i in 0..100 {
        let name = format!("secret-{i}");
        vault
            .link(&name, &format!("fixed://Vault/Item{i}/password"))
            .expect("link");
        map.insert(name, SecretString::from(VALUE));
    }
    vault
        .link("db", "fixed://Prod/Postgres/password")
        .expect("link");
    vault.set("local", VALUE).expect("set");
    map.insert("db".into(), SecretString::from(VALUE));
    runtime.block_on(vault.resolve("db")).expect("first fetch");

    let mut group = c.benchmark_group("warm_resolve");
    for name in ["db", "local"] {
        let id = if name == "db" {
            "vault_cached_linked"
        } else {
            "vault_local"
        };
        group.bench_function(id, |b| {
            b.iter(|| {
                let value = resolve_now(&vault, black_box(name));
                black_box(value.expose_secret().len())
            })
        });
    }
    // Nine names resolved one by one, and all at once: `resolve_all` per secret against one
    // warm `resolve`.
    let local: Vec<String> = (0..9).map(|i| format!("local-{i}")).collect();
    for name in &local {
        vault.set(name, VALUE).expect("set");
    }
    let linked: Vec<String> = (0..9).map(|i| format!("secret-{i}")).collect();
    runtime
        .block_on(vault.resolve_all(&linked))
        .expect("first fetch");
    for (kind, names) in [("local", &local), ("linked", &linked)] {
        group.bench_function(format!("vault_{kind}_9_resolves"), |b| {
            b.iter(|| {
                for name in names {
                    let value = resolve_now(&vault, black_box(name));
                    black_box(value.expose_secret().len());
                }
            })
        });
        group.bench_function(format!("vault_{kind}_resolve_all_9"), |b| {
            b.iter(|| {
                let values = vault
                    .resolve_all(black_box(names))
                    .now_or_never()
                    .expect("warm values are ready")
                    .expect("values");
                black_box(values.len())
            })
        });
    }
    group.bench_function("clock_read", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    group.bench_function("hashmap_get_clone", |b| {
        b.iter(|| {
            let value = get_now(&map, black_box("db"));
            black_box(value.expose_secret().len())
        })
    });
    group.finish();
}

/// A vault with `n` linked secrets, and their names.
fn linked_vault(n: usize) -> (Vault, Vec<String>) {
    let vault = Vault::new();
    vault.add_provider(Fixed);
    let names: Vec<String> = (0..n).map(|i| format!("secret-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        vault
            .link(name, &format!("fixed://Vault/Item{i}/password"))
            .expect("link");
    }
    (vault, names)
}

fn scale(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("resolve_all");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    for n in [1_000, 10_000, 100_000] {
        let (vault, names) = linked_vault(n);
        group.bench_with_input(BenchmarkId::new("cold", n), &n, |b, _| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    vault.clear_cache();
                    let started = Instant::now();
                    let values = runtime.block_on(vault.resolve_all(&names)).expect("values");
                    total += started.elapsed();
                    assert_eq!(values.len(), n);
                }
                total
            })
        });
        runtime
            .block_on(vault.resolve_all(&names))
            .expect("warm up");
        group.bench_with_input(BenchmarkId::new("warm", n), &n, |b, _| {
            b.iter(|| {
                let values = runtime.block_on(vault.resolve_all(&names)).expect("values");
                black_box(values.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, warm_resolve, scale);
criterion_main!(benches);
