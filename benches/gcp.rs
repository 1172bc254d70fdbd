//! 100 linked secrets (JSON keys of 40 secrets) against the HTTPS Secret Manager stand-in,
//! signed in with a service account key: a cold batch (new vault and provider: one token
//! request, 40 accesses) and a warm one (all cached: no request). The request counts are
//! asserted once and printed; criterion measures the wall time of each.

#[path = "../tests/common/gcp/mod.rs"]
mod gcp;
// The stand-ins' shared HTTP reading.
#[allow(dead_code)]
#[path = "../tests/common/http.rs"]
mod http;

use criterion::{Criterion, criterion_group, criterion_main};
use gcp::{GcpServer, service_account_json};
use request_vault::Vault;

fn references() -> Vec<(String, String)> {
    let mut references = Vec::new();
    for i in 0..40 {
        let keys: &[&str] = if i < 20 {
            &["a", "b", "c"]
        } else {
            &["a", "b"]
        };
        for key in keys {
            references.push((
                format!("n{i}{key}"),
                format!("gcpsecrets://test-project/s{i}#{key}"),
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
    let server = runtime.block_on(GcpServer::start());
    for i in 0..40 {
        server.put(
            &format!("s{i}"),
            &format!(r#"{{"a":"a{i}","b":"b{i}","c":"c{i}"}}"#),
        );
    }
    let key_file = service_account_json();
    let references = references();
    let names: Vec<String> = references.iter().map(|(n, _)| n.clone()).collect();
    let new_vault = || {
        let vault = Vault::new();
        let provider = server
            .builder()
            .service_account_key(&key_file)
            .expect("provider");
        vault.add_provider(provider);
        for (name, reference) in &references {
            vault.link(name, reference).expect("link");
        }
        vault
    };

    // The counts, once: cold = 1 token request + 40 accesses; warm = nothing.
    let vault = new_vault();
    server.reset_counts();
    let values = runtime
        .block_on(vault.resolve_all(&names))
        .expect("resolve");
    assert_eq!(values.len(), 100);
    let cold = (server.token_requests(), server.accesses());
    assert_eq!(cold, (1, 40));
    server.reset_counts();
    runtime
        .block_on(vault.resolve_all(&names))
        .expect("resolve");
    let warm = server.token_requests() + server.accesses();
    assert_eq!(warm, 0);
    println!(
        "gcp: cold batch: {} token request, {} accesses; warm batch: {warm} requests",
        cold.0, cold.1
    );

    let mut group = c.benchmark_group("gcp");
    group.sample_size(10);
    group.bench_function("cold_batch_100_keys_40_secrets", |b| {
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
