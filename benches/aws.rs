//! 100 linked secrets, as 5 JSON keys in each of 20 secrets, and 25 linked parameters,
//! resolved through a `Vault` against moto (started by the bench on a loopback port) behind
//! a counting proxy: cold (a new vault and provider each time) and warm (the vault's cache).
//! The request counts are asserted and printed: 1 `BatchGetSecretValue` or 3 `GetParameters`
//! cold, none warm. Without moto the bench says why and measures nothing.

#[path = "../tests/common/moto.rs"]
mod moto;
// The stand-ins' shared HTTP reading, which moto's counting proxy uses.
#[allow(dead_code)]
#[path = "../tests/common/http.rs"]
mod http;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use moto::{ACCESS_KEY_ID, Moto, Proxy, REGION, SECRET_ACCESS_KEY};
use request_vault::aws::AwsBuilder;
use request_vault::{AwsParameterStore, AwsSecretsManager, Vault};

/// `builder` aimed at moto (through `url`) with test credentials and empty profile files.
fn settings<P>(builder: AwsBuilder<P>, url: &str, files: &std::path::Path) -> AwsBuilder<P> {
    builder
        .region(REGION)
        .endpoint_url(url)
        .static_credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        .profile_files(files.join("config"), files.join("credentials"))
}

async fn vault(url: &str, files: &std::path::Path) -> Vault {
    let provider = settings(AwsSecretsManager::builder(), url, files)
        .build()
        .await
        .expect("provider");
    let vault = Vault::new();
    vault.add_provider(provider);
    for n in 0..100 {
        vault
            .link(
                &format!("s{n}"),
                &format!("awssecrets://bench/secret{}#key{}", n / 5, n % 5),
            )
            .expect("link");
    }
    vault
}

fn batch(c: &mut Criterion) {
    let Some(moto) = Moto::start() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let files = tempfile::tempdir().expect("tempdir");
    std::fs::write(files.path().join("config"), "").expect("config");
    std::fs::write(files.path().join("credentials"), "").expect("credentials");
    let admin = moto::admin(&moto.url());
    let proxy = runtime.block_on(async {
        for s in 0..20 {
            let json: Vec<String> = (0..5)
                .map(|k| format!(r#""key{k}":"value-{s}-{k}""#))
                .collect();
            admin
                .create_secret()
                .name(format!("bench/secret{s}"))
                .secret_string(format!("{{{}}}", json.join(",")))
                .send()
                .await
                .expect("create");
        }
        Proxy::start(moto.url()).await
    });
    let url = proxy.url();
    let names: Vec<String> = (0..100).map(|n| format!("s{n}")).collect();

    let mut group = c.benchmark_group("aws");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("cold_batch_100_keys_in_20_secrets", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let vault = vault(&url, files.path()).await;
                proxy.reset();
                vault.resolve_all(&names).await.expect("resolve");
                assert_eq!(
                    proxy.count("BatchGetSecretValue"),
                    1,
                    "{:?}",
                    proxy.counts()
                );
            })
        })
    });
    println!("cold requests: {:?}", proxy.counts());

    let warm = runtime.block_on(async {
        let vault = vault(&url, files.path()).await;
        vault.resolve_all(&names).await.expect("resolve");
        vault
    });
    proxy.reset();
    group.bench_function("warm_batch_100_keys_in_20_secrets", |b| {
        b.iter(|| runtime.block_on(async { warm.resolve_all(&names).await.expect("resolve") }))
    });
    println!("warm requests: {:?}", proxy.counts());
    assert!(proxy.seen().is_empty());

    runtime.block_on(async {
        let admin = moto::ssm_admin(&moto.url());
        for n in 0..25 {
            admin
                .put_parameter()
                .name(format!("/bench/p{n}"))
                .value(format!("value-{n}"))
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .expect("put");
        }
    });
    let parameters: Vec<String> = (0..25).map(|n| format!("p{n}")).collect();
    let parameter_vault = |url: String, files: std::path::PathBuf| async move {
        let provider = settings(AwsParameterStore::builder(), &url, &files)
            .build()
            .await
            .expect("provider");
        let vault = Vault::new();
        vault.add_provider(provider);
        for n in 0..25 {
            vault
                .link(&format!("p{n}"), &format!("awsssm://bench/p{n}"))
                .expect("link");
        }
        vault
    };
    group.bench_function("cold_batch_25_parameters", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let vault = parameter_vault(url.clone(), files.path().to_owned()).await;
                proxy.reset();
                vault.resolve_all(&parameters).await.expect("resolve");
                assert_eq!(proxy.count("GetParameters"), 3, "{:?}", proxy.counts());
            })
        })
    });
    println!("cold requests: {:?}", proxy.counts());
    let warm = runtime.block_on(async {
        let vault = parameter_vault(url.clone(), files.path().to_owned()).await;
        vault.resolve_all(&parameters).await.expect("resolve");
        vault
    });
    proxy.reset();
    group.bench_function("warm_batch_25_parameters", |b| {
        b.iter(|| runtime.block_on(async { warm.resolve_all(&parameters).await.expect("resolve") }))
    });
    println!("warm requests: {:?}", proxy.counts());
    assert!(proxy.seen().is_empty());
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
