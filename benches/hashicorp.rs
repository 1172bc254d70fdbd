//! 100 linked secrets across 20 paths in 2 mounts against the Vault stand-in: a cold batch
//! (a new vault and provider each time: 20 reads + 2 mount look-ups) and a warm one (served
//! from the vault's cache: no request). Requests are counted and printed once.

#[path = "../tests/common/hashicorp.rs"]
mod hashicorp;
// The stand-ins' shared HTTP reading.
#[allow(dead_code)]
#[path = "../tests/common/http.rs"]
mod http;

use criterion::{Criterion, criterion_group, criterion_main};
use hashicorp::{State, VaultServer};
use request_vault::{HashiCorpVault, Vault};
use serde_json::json;

const TOKEN: &str = "hvs.bench-token";

fn references() -> Vec<String> {
    (0..100)
        .map(|n| {
            let (path, field) = (n / 5, n % 5);
            let mount = if path < 10 { "secret" } else { "team" };
            format!("vault://{mount}/app{path}/config#f{field}")
        })
        .collect()
}

fn state() -> State {
    let mut s = State::default();
    s.mount("", "secret", "kv", Some("2"));
    s.mount("", "team", "kv", Some("1"));
    for path in 0..20 {
        let mount = if path < 10 { "secret" } else { "team" };
        let fields: serde_json::Map<String, serde_json::Value> = (0..5)
            .map(|f| (format!("f{f}"), json!(format!("value-{path}-{f}"))))
            .collect();
        s.put("", &format!("{mount}/app{path}/config"), fields.into());
    }
    s.token(TOKEN, "", &[""]);
    s
}

async fn linked(url: &str, references: &[String]) -> (Vault, Vec<String>) {
    let vault = Vault::new();
    vault.add_provider(HashiCorpVault::builder(url).token(TOKEN).expect("provider"));
    let mut names = Vec::new();
    for (n, reference) in references.iter().enumerate() {
        let name = format!("s{n}");
        vault.link(&name, reference).expect("link");
        names.push(name);
    }
    (vault, names)
}

fn batches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(VaultServer::start(state()));
    let url = server.url();
    let references = references();

    // Count once, outside the timing.
    let (vault, names) = runtime.block_on(linked(&url, &references));
    runtime.block_on(vault.resolve_all(&names)).expect("cold");
    let cold = server.requests();
    server.reset_counts();
    runtime.block_on(vault.resolve_all(&names)).expect("warm");
    let warm = server.requests();
    println!("hashicorp: 100 secrets, 20 paths, 2 mounts: cold {cold} requests, warm {warm}");
    assert_eq!((cold, warm), (22, 0));

    let mut group = c.benchmark_group("hashicorp");
    group.bench_function("cold_batch_100_secrets_20_paths_2_mounts", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let (vault, names) = linked(&url, &references).await;
                let values = vault.resolve_all(&names).await.expect("resolve");
                assert_eq!(values.len(), 100);
            })
        })
    });
    group.bench_function("warm_batch_100_secrets", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let values = vault.resolve_all(&names).await.expect("resolve");
                assert_eq!(values.len(), 100);
            })
        })
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, batches);
criterion_main!(benches);
