//! Benchmarks of the redactor: building one for 1k, 10k and 100k secrets (linear, not
//! quadratic), and masking a log line with 10k secrets known.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use request_vault::Vault;

fn vault_with(n: usize) -> Vault {
    let vault = Vault::new();
    for i in 0..n {
        vault
            .set(&format!("secret-{i}"), format!("value-{i:08}-{}", i * 7919))
            .expect("a valid name");
    }
    vault
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("redactor_build");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500));
    for n in [1_000, 10_000, 100_000] {
        let vault = vault_with(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &vault, |b, vault| {
            b.iter(|| vault.redactor())
        });
    }
    group.finish();
}

fn redact(c: &mut Criterion) {
    let redactor = vault_with(10_000).redactor();
    let line = "GET /v1/items?key=value-00000042-332598&x=p%40ss HTTP/1.1 Authorization: Bearer dmFsdWUtMDAwMDAwNDItMzMyNTk4"
        .repeat(8);
    let mut group = c.benchmark_group("redact");
    group.sample_size(20);
    group.bench_function("10k secrets, 1 KiB line", |b| {
        b.iter(|| redactor.redact(&line))
    });
    group.finish();
}

criterion_group!(benches, build, redact);
criterion_main!(benches);
