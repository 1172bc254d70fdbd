//! A cold batch of 100 linked secrets (20 items in 2 vaults) against the Connect stand-in
//! with 50 ms per request. Goal: at most 4 x 50 ms of wall time (vault listing, item
//! listings, item fetches, and slack).

#[path = "../tests/common/connect.rs"]
mod connect;

use std::time::Duration;

use connect::{ConnectServer, Data, field, item, vault};
use criterion::{Criterion, criterion_group, criterion_main};
use request_vault::{OnePassword, Vault};

const TOKEN: &str = "bench-token";

fn cold_batch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut data = Data::default();
    for v in 0..2 {
        let items = (0..10)
            .map(|i| {
                let fields = (0..5)
                    .map(|f| field(&format!("f{f}"), "CONCEALED", &format!("{v}-{i}-{f}")))
                    .collect();
                item(&format!("item-{v}-{i}"), fields)
            })
            .collect();
        data.vaults.push(vault(&format!("vault-{v}"), items));
    }
    let server = runtime.block_on(ConnectServer::start(data, TOKEN, Duration::from_millis(50)));
    let url = server.url();
    let names: Vec<String> = (0..100).map(|n| format!("s{n}")).collect();

    let mut group = c.benchmark_group("onepassword");
    group.sample_size(10);
    group.bench_function("cold_batch_100_secrets_50ms_latency", |b| {
        b.iter(|| {
            runtime.block_on(async {
                // A new vault and provider each time: everything is cold.
                let vault = Vault::new();
                vault.add_provider(OnePassword::connect(&url, TOKEN).expect("provider"));
                for (n, name) in names.iter().enumerate() {
                    let (v, i, f) = (n / 50, (n / 5) % 10, n % 5);
                    vault
                        .link(name, &format!("op://vault-{v}/item-{v}-{i}/f{f}"))
                        .expect("link");
                }
                let values = vault.resolve_all(&names).await.expect("resolve");
                assert_eq!(values.len(), 100);
            })
        })
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, cold_batch);
criterion_main!(benches);
