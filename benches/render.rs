//! Rendering a 64 KiB template with one placeholder per KiB and warm values, against
//! allocating and copying the output once (`alloc_copy_output`), the same into a
//! `SecretString` that is wiped when dropped, as every rendered output is
//! (`alloc_copy_output_secret`), a `memcpy` into a buffer allocated beforehand, and
//! minijinja rendering the equivalent template.
//! Goals: `Template::render_with` within 2x of `alloc_copy_output`, `Vault::render_template`
//! (64 named local secrets) within 4x. The wipe alone costs about half of
//! `alloc_copy_output`, so `alloc_copy_output_secret` is the floor of any rendering here.
//! minijinja is a reference point: it already runs at about 5x `alloc_copy_output`, so the
//! first round's "10x faster than minijinja" would mean beating the copy itself.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::FutureExt;
use request_vault::{ExposeSecret, SecretString, Template, Vault};

const PLACEHOLDERS: usize = 64;

fn render(c: &mut Criterion) {
    let mut ours = String::new();
    let mut jinja = String::new();
    for i in 0..PLACEHOLDERS {
        let placeholder = format!("<<vault:secret-{i}>>");
        let filler = "lorem ipsum ".repeat(90);
        let filler = &filler[..1024 - placeholder.len()];
        ours.push_str(filler);
        ours.push_str(&placeholder);
        jinja.push_str(filler);
        jinja.push_str(&format!("{{{{ secret_{i} }}}}"));
    }
    assert_eq!(ours.len(), 64 * 1024);

    let vault = Vault::new();
    let mut values = HashMap::new();
    let mut context = HashMap::new();
    for i in 0..PLACEHOLDERS {
        let value = format!("value-{i:04}-0123456789abcdef");
        vault
            .set(&format!("secret-{i}"), value.as_str())
            .expect("set");
        values.insert(format!("secret-{i}"), SecretString::from(value.as_str()));
        context.insert(format!("secret_{i}"), value);
    }
    let template = Template::parse(&ours).expect("parse");
    let output = template
        .render_with(&values, |v, out| out.push_str(v))
        .expect("render");
    let output_bytes = output.expose_secret().as_bytes().to_vec();

    let context = minijinja::Value::from(
        context
            .into_iter()
            .map(|(k, v)| (k, minijinja::Value::from(v)))
            .collect::<std::collections::BTreeMap<String, minijinja::Value>>(),
    );
    let mut env = minijinja::Environment::new();
    env.add_template("t", &jinja).expect("minijinja template");
    let jinja_template = env.get_template("t").expect("template");
    let jinja_output = jinja_template.render(&context).expect("minijinja");
    assert!(
        jinja_output == output.expose_secret(),
        "the two templates render alike"
    );

    let mut group = c.benchmark_group("render_64k");
    group.throughput(Throughput::Bytes(output_bytes.len() as u64));
    group.bench_function("template_render_with", |b| {
        b.iter(|| {
            let out = template
                .render_with(black_box(&values), |v, out| out.push_str(v))
                .expect("render");
            black_box(out.expose_secret().len())
        })
    });
    group.bench_function("vault_render_template", |b| {
        b.iter(|| {
            let out = vault
                .render_template(black_box(&template))
                .now_or_never()
                .expect("local values are ready")
                .expect("render");
            black_box(out.expose_secret().len())
        })
    });
    group.bench_function("alloc_copy_output", |b| {
        b.iter(|| {
            let mut destination = Vec::with_capacity(output_bytes.len());
            destination.extend_from_slice(black_box(&output_bytes));
            black_box(destination.into_boxed_slice().len())
        })
    });
    group.bench_function("alloc_copy_output_secret", |b| {
        let text = String::from_utf8(output_bytes.clone()).expect("the output is UTF-8");
        b.iter(|| {
            let mut destination = String::with_capacity(text.len());
            destination.push_str(black_box(&text));
            let secret = SecretString::from(destination);
            black_box(secret.expose_secret().len())
        })
    });
    group.bench_function("memcpy_output_size", |b| {
        let mut destination = vec![0u8; output_bytes.len()];
        b.iter(|| {
            destination.copy_from_slice(black_box(&output_bytes));
            black_box(destination.len())
        })
    });
    group.bench_function("minijinja", |b| {
        b.iter(|| {
            black_box(
                jinja_template
                    .render(black_box(&context))
                    .expect("render")
                    .len(),
            )
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| black_box(Template::parse(black_box(&ours)).expect("parse")))
    });
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
