//! Parsing speed of 1Password secret references.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use request_vault::SecretReference;

const REFERENCES: [&str; 4] = [
    "op://Prod/Postgres/password",
    "op://dev/stripe/api keys/secret?attribute=otp",
    "op://Private/ssh keys/private key?ssh-format=openssh",
    "op://zgv4brqz2t4kg7bvpurm5jwtyu/xkxfwbxu7fcb4ewgd2sjqrxqcq/Admin/password",
];

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("reference_parse");
    group.throughput(Throughput::Elements(REFERENCES.len() as u64));
    group.bench_function("four_references", |b| {
        b.iter(|| {
            for reference in REFERENCES {
                black_box(
                    black_box(reference)
                        .parse::<SecretReference>()
                        .expect("valid"),
                );
            }
        })
    });
    group.bench_function("display", |b| {
        let parsed: Vec<SecretReference> = REFERENCES
            .iter()
            .map(|r| r.parse().expect("valid"))
            .collect();
        b.iter(|| {
            for reference in &parsed {
                black_box(reference.to_string());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
