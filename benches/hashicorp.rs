//! The HashiCorp provider against the Vault stand-in on 127.0.0.1.
//!
//! - `hashicorp`: 100 linked secrets across 20 paths in 2 mounts: a cold batch (a new vault
//!   and provider each time: 20 reads + 2 mount look-ups) and a warm one (served from the
//!   vault's cache: no request). Requests are counted and printed once.
//! - `hashicorp_rtt_20ms`: cold batches of 20 and 100 KV v2 paths in one mount through a
//!   delay line of 20 ms per round trip: with the mount declared on a new provider (floor:
//!   `one_round_trip`, a new client's single request through the same line), looked up by a
//!   new provider (floor: that plus `one_round_trip_kept_alive`), or known to a provider
//!   that read the mount before and keeps its connections (floor:
//!   `one_round_trip_kept_alive`). `build_provider` is what a new provider costs (its
//!   HTTP client and TLS roots). `hundred_round_trips_at_once` is the floor of a batch of
//!   100 over HTTP/1.1 here: the same 100 reads as plain GETs from a new client, all at once
//!   (100 connections through the line, and the stand-in and the line on the same 2 cores).

#[path = "../tests/common/hashicorp.rs"]
mod hashicorp;
// The stand-ins' shared HTTP reading.
#[allow(dead_code)]
#[path = "../tests/common/http.rs"]
mod http;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hashicorp::delay::DelayLine;
use hashicorp::{State, VaultServer};
use request_vault::hashicorp::KvVersion;
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
    for path in 0..100 {
        s.put(
            "",
            &format!("secret/many/{path}"),
            json!({"v": format!("value-{path}")}),
        );
    }
    s.token(TOKEN, "", &[""]);
    s
}

async fn linked(provider: HashiCorpVault, references: &[String]) -> (Vault, Vec<String>) {
    let vault = Vault::new();
    vault.add_provider(provider);
    let mut names = Vec::new();
    for (n, reference) in references.iter().enumerate() {
        let name = format!("s{n}");
        vault.link(&name, reference).expect("link");
        names.push(name);
    }
    (vault, names)
}

/// A new vault and provider resolving `references` cold.
async fn cold(provider: HashiCorpVault, references: &[String]) {
    let (vault, names) = linked(provider, references).await;
    let values = vault.resolve_all(&names).await.expect("resolve");
    assert_eq!(values.len(), references.len());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn batches(c: &mut Criterion) {
    let runtime = runtime();
    let server = runtime.block_on(VaultServer::start(state()));
    let url = server.url();
    let references = references();
    let provider = || {
        HashiCorpVault::builder(&url)
            .token(TOKEN)
            .expect("provider")
    };

    // Count once, outside the timing.
    let (vault, names) = runtime.block_on(linked(provider(), &references));
    runtime.block_on(vault.resolve_all(&names)).expect("cold");
    let cold_requests = server.requests();
    server.reset_counts();
    runtime.block_on(vault.resolve_all(&names)).expect("warm");
    let warm = server.requests();
    println!(
        "hashicorp: 100 secrets, 20 paths, 2 mounts: cold {cold_requests} requests, warm {warm}"
    );
    assert_eq!((cold_requests, warm), (22, 0));

    let mut group = c.benchmark_group("hashicorp");
    group.bench_function("cold_batch_100_secrets_20_paths_2_mounts", |b| {
        b.iter(|| runtime.block_on(cold(provider(), &references)))
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

fn round_trips(c: &mut Criterion) {
    let runtime = runtime();
    let server = runtime.block_on(VaultServer::start(state()));
    let line = runtime.block_on(DelayLine::start(server.addr, Duration::from_millis(10)));
    let url = line.url();
    let paths = |n: usize| -> Vec<String> {
        (0..n)
            .map(|p| format!("vault://secret/many/{p}#v"))
            .collect()
    };
    let builder = || HashiCorpVault::builder(&url);

    let mut group = c.benchmark_group("hashicorp_rtt_20ms");
    group.sample_size(20);
    let floor = format!("{url}/v1/secret/data/many/0");
    group.bench_function("one_round_trip", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let answer = reqwest::Client::new()
                    .get(&floor)
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .expect("send");
                assert!(answer.status().is_success());
                answer.bytes().await.expect("body");
            })
        })
    });
    let client = reqwest::Client::new();
    group.bench_function("one_round_trip_kept_alive", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let answer = client
                    .get(&floor)
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .expect("send");
                answer.bytes().await.expect("body");
            })
        })
    });
    // The floor of a batch of 100 over HTTP/1.1: the same 100 reads as plain GETs, all at
    // once, from a new client (100 connections through the line, as a cold batch opens).
    let hundred: Vec<String> = (0..100)
        .map(|p| format!("{url}/v1/secret/data/many/{p}"))
        .collect();
    group.bench_function("hundred_round_trips_at_once", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let client = reqwest::Client::new();
                let gets = hundred.iter().map(|url| {
                    let request = client.get(url).bearer_auth(TOKEN).send();
                    async move {
                        let answer = request.await.expect("send");
                        assert!(answer.status().is_success());
                        answer.bytes().await.expect("body");
                    }
                });
                futures_util::future::join_all(gets).await;
            })
        })
    });
    group.bench_function("build_provider", |b| {
        b.iter(|| builder().token(TOKEN).expect("provider"))
    });
    for n in [20, 100] {
        let references = paths(n);
        group.bench_function(format!("cold_{n}_paths_declared_mount"), |b| {
            b.iter(|| {
                let provider = builder()
                    .mount("secret", KvVersion::V2)
                    .token(TOKEN)
                    .expect("provider");
                runtime.block_on(cold(provider, &references))
            })
        });
        group.bench_function(format!("cold_{n}_paths_looked_up_mount"), |b| {
            b.iter(|| {
                let provider = builder().token(TOKEN).expect("provider");
                runtime.block_on(cold(provider, &references))
            })
        });
        // One provider: its mount stays known, while each new vault fetches every value.
        let known = builder().token(TOKEN).expect("provider");
        runtime.block_on(cold(known.clone(), &references));
        group.bench_function(format!("cold_{n}_paths_known_mount"), |b| {
            b.iter(|| runtime.block_on(cold(known.clone(), &references)))
        });
    }
    group.finish();
    drop(line);
    drop(server);
}

criterion_group!(benches, batches, round_trips);
criterion_main!(benches);
