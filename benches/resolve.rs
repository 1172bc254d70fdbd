//! Warm `resolve` of a cached linked secret, against a `HashMap<String, String>` lookup and
//! clone (the floor any in-memory lookup pays). Goal: within 2x of the map.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use request_vault::{
    ExposeSecret, ExternalProvider, ProviderError, SecretString, Vault, async_trait,
};

/// Answers every reference with a fixed value; only the first fetch reaches it.
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
        Ok(SecretString::from("a-linked-value-of-32-bytes-long!"))
    }
}

fn warm_resolve(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    // The runtime is entered only for the first fetch: outside it, `tokio::time::Instant`
    // reads the system clock directly, as it always does in builds without tokio's
    // `test-util` feature (which the test suite enables to pause time).
    let vault = Vault::new();
    vault.add_provider(Fixed);
    for i in 0..100 {
        vault
            .link(
                &format!("secret-{i}"),
                &format!("fixed://Vault/Item{i}/password"),
            )
            .expect("link");
    }
    vault
        .link("db", "fixed://Prod/Postgres/password")
        .expect("link");
    runtime.block_on(vault.resolve("db")).expect("first fetch");

    let mut map: HashMap<String, String> = HashMap::new();
    for i in 0..100 {
        map.insert(
            format!("secret-{i}"),
            "a-linked-value-of-32-bytes-long!".into(),
        );
    }
    map.insert("db".into(), "a-linked-value-of-32-bytes-long!".into());

    let mut group = c.benchmark_group("warm_resolve");
    group.bench_function("vault_cached_linked", |b| {
        b.iter(|| {
            // A warm resolve completes without waiting: poll it once.
            let value = vault
                .resolve(black_box("db"))
                .now_or_never()
                .expect("warm resolve is ready")
                .expect("value");
            black_box(value.expose_secret().len())
        })
    });
    group.bench_function("hashmap_get_clone", |b| {
        b.iter(|| {
            let value = map.get(black_box("db")).cloned().expect("value");
            black_box(value.len())
        })
    });
    group.finish();
}

criterion_group!(benches, warm_resolve);
criterion_main!(benches);
