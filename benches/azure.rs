//! 100 linked secrets (JSON keys of 40 secrets in 2 vaults of 2 tenants) against the HTTPS
//! Key Vault stand-in: a cold batch (new vault and provider: tokens, the challenge, 40
//! secret reads) and a warm one (all cached: no request). The request counts are asserted
//! once and printed; criterion measures the wall time of each.

#[path = "../tests/common/azure/mod.rs"]
mod azure;
// The stand-ins' shared HTTP reading.
#[allow(dead_code)]
#[path = "../tests/common/http.rs"]
mod http;

use azure::{AzureServer, CLIENT_ID, CLIENT_SECRET, TENANT};
use criterion::{Criterion, criterion_group, criterion_main};
use request_vault::Vault;

fn references() -> Vec<(String, String)> {
    let mut references = Vec::new();
    for i in 0..40 {
        let vault = if i % 2 == 0 { "vault-a" } else { "vault-b" };
        let keys: &[&str] = if i < 20 {
            &["a", "b", "c"]
        } else {
            &["a", "b"]
        };
        for key in keys {
            references.push((
                format!("n{i}{key}"),
                format!("azurekeyvault://{vault}/s{i}#{key}"),
            ));
        }
    }
    references
}

fn batch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(AzureServer::start());
    server.set_tenant("vault-b", "tenant-b");
    for i in 0..40 {
        let vault = if i % 2 == 0 { "vault-a" } else { "vault-b" };
        server.put(
            vault,
            &format!("s{i}"),
            &format!(r#"{{"a":"a{i}","b":"b{i}","c":"c{i}"}}"#),
        );
    }
    let references = references();
    let names: Vec<String> = references.iter().map(|(n, _)| n.clone()).collect();
    let new_vault = || {
        let vault = Vault::new();
        let provider = server
            .builder(&["vault-a", "vault-b"])
            .additionally_allowed_tenants(["tenant-b"])
            .client_secret(TENANT, CLIENT_ID, CLIENT_SECRET)
            .expect("provider");
        vault.add_provider(provider);
        for (name, reference) in &references {
            vault.link(name, reference).expect("link");
        }
        vault
    };

    // The counts, once: cold = 40 secret reads + 1 token per tenant (+ 1 challenge for the
    // vault of the second tenant); warm = nothing.
    let vault = new_vault();
    server.reset_counts();
    let values = runtime
        .block_on(vault.resolve_all(&names))
        .expect("resolve");
    assert_eq!(values.len(), 100);
    let cold = (
        server.secret_reads(),
        server.token_requests(),
        server.challenges(),
    );
    assert_eq!(cold, (40, 2, 1));
    server.reset_counts();
    runtime
        .block_on(vault.resolve_all(&names))
        .expect("resolve");
    let warm = server.vault_requests() + server.token_requests();
    assert_eq!(warm, 0);
    println!(
        "azure: cold batch: {} secret reads, {} token requests, {} challenge; warm batch: {warm} requests",
        cold.0, cold.1, cold.2
    );

    let mut group = c.benchmark_group("azure");
    group.sample_size(10);
    group.bench_function("cold_batch_100_keys_40_secrets_2_tenants", |b| {
        b.iter(|| {
            let vault = new_vault();
            let values = runtime
                .block_on(vault.resolve_all(&names))
                .expect("resolve");
            assert_eq!(values.len(), 100);
        })
    });
    group.bench_function("warm_batch_100_keys", |b| {
        b.iter(|| {
            let values = runtime
                .block_on(vault.resolve_all(&names))
                .expect("resolve");
            assert_eq!(values.len(), 100);
        })
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, batch);
criterion_main!(benches);
