//! Benchmarks of the redactor: building one for 1k, 10k and 100k secrets (linear, not
//! quadratic: 100k in under a second, 10k at most 15 times 1k), masking a log line with 10k
//! secrets known (a live redactor against a snapshot of the same values), and a
//! `RedactingWriter` against `redact` on 1 MiB of log lines.

use std::io::Write;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use request_vault::{Redactor, Vault};

fn value(i: usize) -> String {
    format!("value-{i:08}-{}", i * 7919)
}

fn vault_with(n: usize) -> Vault {
    let vault = Vault::new();
    for i in 0..n {
        vault
            .set(&format!("secret-{i}"), value(i))
            .expect("a valid name");
    }
    vault
}

/// A log line of about 200 bytes holding one secret, percent-encoded text and a bearer
/// token (so that every pass of the redactor runs).
fn log_line() -> String {
    let line = format!(
        "2024-05-01T12:00:00.123Z INFO request_vault::send: GET https://api.example.com/v1/items?key={}&q=a%20b \
         status=200 auth=\"Bearer dmFsdWUtMDAwMDAwNDItMzMyNTk4\" took=12ms\n",
        value(42)
    );
    assert!((180..=220).contains(&line.len()), "{}", line.len());
    line
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
    let vault = vault_with(10_000);
    let live = vault.redactor();
    let snapshot = Redactor::new((0..10_000).map(|i| (format!("secret-{i}"), value(i))));
    let line = log_line();
    let mut group = c.benchmark_group("redact");
    group.sample_size(20);
    group.bench_function("10k secrets, 200-byte line, snapshot", |b| {
        b.iter(|| snapshot.redact(&line))
    });
    group.bench_function("10k secrets, 200-byte line, live", |b| {
        b.iter(|| live.redact(&line))
    });
    let long = "GET /v1/items?key=value-00000042-332598&x=p%40ss HTTP/1.1 Authorization: Bearer dmFsdWUtMDAwMDAwNDItMzMyNTk4"
        .repeat(8);
    group.bench_function("10k secrets, 1 KiB line, live", |b| {
        b.iter(|| live.redact(&long))
    });
    group.finish();
}

fn writer(c: &mut Criterion) {
    let redactor = vault_with(10_000).redactor();
    let line = log_line();
    let text = line.repeat((1 << 20) / line.len());
    let mut group = c.benchmark_group("writer");
    group
        .sample_size(10)
        .throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("redact, 1 MiB at once", |b| {
        b.iter(|| redactor.redact(&text))
    });
    let mut out = Vec::with_capacity(2 * text.len());
    group.bench_function("RedactingWriter, 1 MiB in 8 KiB writes", |b| {
        b.iter(|| {
            out.clear();
            let mut w = redactor.writer(&mut out);
            for chunk in text.as_bytes().chunks(8 * 1024) {
                w.write_all(chunk).expect("a Vec takes everything");
            }
            w.flush().expect("a Vec takes everything");
        })
    });
    group.bench_function("RedactingWriter, 1 MiB a line per write", |b| {
        b.iter(|| {
            out.clear();
            let mut w = redactor.writer(&mut out);
            for one in text.as_bytes().split_inclusive(|&b| b == b'\n') {
                w.write_all(one).expect("a Vec takes everything");
            }
            w.flush().expect("a Vec takes everything");
        })
    });
    group.finish();
}

criterion_group!(benches, build, redact, writer);
criterion_main!(benches);
