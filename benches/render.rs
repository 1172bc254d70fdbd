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
use request_vault::{ExposeSecret, RequestTemplate, SecretString, Template, Vault};

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
    group.bench_function("vault_render_text", |b| {
        b.iter(|| {
            let out = vault
                .render(black_box(&ours))
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

/// The realistic request's JSON body (about 2 KiB) as a `format!` string with five `{}`:
/// login, password, card, session, api key.
macro_rules! body_format {
    () => {
        concat!(
            "{{\"customer\": {{\"login\": \"{}\", \"password\": \"{}\"}}, ",
            "\"payment\": {{\"card\": \"{}\", \"session\": \"{}\", \"api_key\": \"{}\"}}, ",
            "\"currency\": \"EUR\", \"items\": [",
        "{{\"sku\": \"SKU-1000\", \"name\": \"Widget 0\", \"quantity\": 1, \"price\": \"10.99\"}}, ",
        "{{\"sku\": \"SKU-1001\", \"name\": \"Widget 1\", \"quantity\": 2, \"price\": \"11.99\"}}, ",
        "{{\"sku\": \"SKU-1002\", \"name\": \"Widget 2\", \"quantity\": 3, \"price\": \"12.99\"}}, ",
        "{{\"sku\": \"SKU-1003\", \"name\": \"Widget 3\", \"quantity\": 4, \"price\": \"13.99\"}}, ",
        "{{\"sku\": \"SKU-1004\", \"name\": \"Widget 4\", \"quantity\": 5, \"price\": \"14.99\"}}, ",
        "{{\"sku\": \"SKU-1005\", \"name\": \"Widget 5\", \"quantity\": 1, \"price\": \"15.99\"}}, ",
        "{{\"sku\": \"SKU-1006\", \"name\": \"Widget 6\", \"quantity\": 2, \"price\": \"16.99\"}}, ",
        "{{\"sku\": \"SKU-1007\", \"name\": \"Widget 7\", \"quantity\": 3, \"price\": \"17.99\"}}, ",
        "{{\"sku\": \"SKU-1008\", \"name\": \"Widget 8\", \"quantity\": 4, \"price\": \"18.99\"}}, ",
        "{{\"sku\": \"SKU-1009\", \"name\": \"Widget 9\", \"quantity\": 5, \"price\": \"19.99\"}}, ",
        "{{\"sku\": \"SKU-1010\", \"name\": \"Widget 10\", \"quantity\": 1, \"price\": \"20.99\"}}, ",
        "{{\"sku\": \"SKU-1011\", \"name\": \"Widget 11\", \"quantity\": 2, \"price\": \"21.99\"}}, ",
        "{{\"sku\": \"SKU-1012\", \"name\": \"Widget 12\", \"quantity\": 3, \"price\": \"22.99\"}}, ",
        "{{\"sku\": \"SKU-1013\", \"name\": \"Widget 13\", \"quantity\": 4, \"price\": \"23.99\"}}, ",
        "{{\"sku\": \"SKU-1014\", \"name\": \"Widget 14\", \"quantity\": 5, \"price\": \"24.99\"}}, ",
        "{{\"sku\": \"SKU-1015\", \"name\": \"Widget 15\", \"quantity\": 1, \"price\": \"25.99\"}}, ",
        "{{\"sku\": \"SKU-1016\", \"name\": \"Widget 16\", \"quantity\": 2, \"price\": \"26.99\"}}, ",
        "{{\"sku\": \"SKU-1017\", \"name\": \"Widget 17\", \"quantity\": 3, \"price\": \"27.99\"}}, ",
        "{{\"sku\": \"SKU-1018\", \"name\": \"Widget 18\", \"quantity\": 4, \"price\": \"28.99\"}}, ",
        "{{\"sku\": \"SKU-1019\", \"name\": \"Widget 19\", \"quantity\": 5, \"price\": \"29.99\"}}, ",
        "{{\"sku\": \"SKU-1020\", \"name\": \"Widget 20\", \"quantity\": 1, \"price\": \"30.99\"}}, ",
        "{{\"sku\": \"SKU-1021\", \"name\": \"Widget 21\", \"quantity\": 2, \"price\": \"31.99\"}}, ",
        "{{\"sku\": \"SKU-1022\", \"name\": \"Widget 22\", \"quantity\": 3, \"price\": \"32.99\"}}, ",
            "{{\"sku\": \"SKU-1023\", \"name\": \"Widget 23\", \"quantity\": 4, \"price\": \"33.99\"}}",
            "], \"note\": \"deliver between 9 and 5\"}}"
        )
    };
}

/// The names of the body's five placeholders, in order.
const BODY_NAMES: [&str; 5] = ["login", "password", "card", "session", "api-key"];

/// The nine local secrets of the realistic request, with values that need no escaping in
/// any part (so that every way of building the request builds the same one).
const REQUEST_SECRETS: [(&str, &str); 9] = [
    ("account-id", "acct-7f3a9c2e51d04b86"),
    ("api-key", "key-0123456789abcdef0123"),
    ("token", "tok-9a8b7c6d5e4f3a2b1c0d9e8f7a6b"),
    ("client-id", "client-4d2e8f1a"),
    ("signature", "sig-b64url-Zm9vYmFyYmF6cXV4"),
    ("login", "user-1234@example.com"),
    ("password", "pw-correct-horse-battery"),
    ("card", "card-4111-1111-1111-1111"),
    ("session", "sess-5b1e2c7d9f0a4e3b"),
];

/// The body's template text for `placeholder` (`<<vault:NAME>>`, or minijinja's `{{ NAME }}`).
fn body_template(placeholder: impl Fn(&str) -> String) -> String {
    let format = body_format!().replace("{{", "\u{1}").replace("}}", "\u{2}");
    let mut out = String::new();
    for (i, piece) in format.split("{}").enumerate() {
        if i > 0 {
            out.push_str(&placeholder(BODY_NAMES[i - 1]));
        }
        out.push_str(&piece.replace('\u{1}', "{").replace('\u{2}', "}"));
    }
    out
}

/// A built request's URL, headers (sorted) and body.
type Shape = (String, Vec<(String, Vec<u8>)>, Vec<u8>);

/// What a built request is, to check that the three ways build the same one.
fn shape(request: &reqwest::Request) -> Shape {
    let mut headers: Vec<(String, Vec<u8>)> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    headers.sort();
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .unwrap_or_default()
        .to_vec();
    (request.url().to_string(), headers, body)
}

/// A realistic request (a URL with 2 placeholders, 6 headers of which 3 have placeholders, a
/// 2 KiB JSON body with 5; 9 local secrets) built by `Vault::render_request`, by pre-compiled
/// minijinja templates plus reqwest, and by `format!` plus reqwest.
fn request(c: &mut Criterion) {
    const URL: &str =
        "https://api.example.com/v1/accounts/<<vault:account-id>>/orders?key=<<vault:api-key>>";
    const LITERAL_HEADERS: [(&str, &str); 3] = [
        ("Accept", "application/json"),
        ("User-Agent", "request-vault-bench/1.0"),
        ("X-Request-Source", "checkout"),
    ];
    let vault = Vault::new();
    let mut context = std::collections::BTreeMap::new();
    for (name, value) in REQUEST_SECRETS {
        vault.set(name, value).expect("set");
        context.insert(name.replace('-', "_"), minijinja::Value::from(value));
    }
    let context = minijinja::Value::from(context);
    let value = |name: &str| {
        REQUEST_SECRETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .expect("a known name")
    };
    let client = reqwest::Client::new();

    let mut template = RequestTemplate::new(reqwest::Method::POST, URL)
        .header("Authorization", "Bearer <<vault:token>>")
        .header("X-Client-Id", "<<vault:client-id>>")
        .header("X-Signature", "<<vault:signature>>");
    for (name, value) in LITERAL_HEADERS {
        template = template.header(name, value);
    }
    let template = template.json(body_template(|name| format!("<<vault:{name}>>")));

    let jinja = |text: &str| {
        text.replace("<<vault:", "{{ ")
            .replace(">>", " }}")
            .replace("{{ account-id }}", "{{ account_id }}")
            .replace("{{ api-key }}", "{{ api_key }}")
            .replace("{{ client-id }}", "{{ client_id }}")
    };
    let mut env = minijinja::Environment::new();
    let sources = [
        ("url", jinja(URL)),
        ("authorization", "Bearer {{ token }}".to_owned()),
        ("client_id", "{{ client_id }}".to_owned()),
        ("signature", "{{ signature }}".to_owned()),
        (
            "body",
            jinja(&body_template(|name| format!("<<vault:{name}>>"))),
        ),
    ];
    for (name, source) in &sources {
        env.add_template(name, source).expect("minijinja template");
    }
    let [url_t, authorization_t, client_id_t, signature_t, body_t] =
        ["url", "authorization", "client_id", "signature", "body"]
            .map(|name| env.get_template(name).expect("template"));
    let with_jinja = || {
        let mut builder = client
            .post(url_t.render(&context).expect("url"))
            .header(
                "Authorization",
                authorization_t.render(&context).expect("h"),
            )
            .header("X-Client-Id", client_id_t.render(&context).expect("h"))
            .header("X-Signature", signature_t.render(&context).expect("h"));
        for (name, value) in LITERAL_HEADERS {
            builder = builder.header(name, value);
        }
        builder
            .header("Content-Type", "application/json")
            .body(body_t.render(&context).expect("body"))
            .build()
            .expect("request")
    };
    let with_format = || {
        let mut builder = client
            .post(format!(
                "https://api.example.com/v1/accounts/{}/orders?key={}",
                value("account-id"),
                value("api-key")
            ))
            .header("Authorization", format!("Bearer {}", value("token")))
            .header("X-Client-Id", value("client-id"))
            .header("X-Signature", value("signature"));
        for (name, value) in LITERAL_HEADERS {
            builder = builder.header(name, value);
        }
        builder
            .header("Content-Type", "application/json")
            .body(format!(
                body_format!(),
                value("login"),
                value("password"),
                value("card"),
                value("session"),
                value("api-key")
            ))
            .build()
            .expect("request")
    };
    let ours = || {
        vault
            .render_request(&client, &template)
            .now_or_never()
            .expect("local values are ready")
            .expect("render")
    };
    let rendered = ours();
    assert!(
        shape(&rendered) == shape(&with_jinja()),
        "minijinja builds the same request"
    );
    assert!(
        shape(&rendered) == shape(&with_format()),
        "format! builds the same request"
    );
    assert!(
        (2000..2200).contains(
            &rendered
                .body()
                .and_then(reqwest::Body::as_bytes)
                .map_or(0, <[u8]>::len)
        ),
        "a 2 KiB body"
    );
    let names: Vec<&str> = REQUEST_SECRETS.iter().map(|(name, _)| *name).collect();

    let mut group = c.benchmark_group("request_9_secrets");
    group.bench_function("vault_render_request", |b| b.iter(|| black_box(ours())));
    group.bench_function("minijinja_reqwest", |b| b.iter(|| black_box(with_jinja())));
    group.bench_function("format_reqwest", |b| b.iter(|| black_box(with_format())));
    group.bench_function("vault_resolve_all", |b| {
        b.iter(|| {
            let values = vault
                .resolve_all(black_box(&names))
                .now_or_never()
                .expect("local values are ready")
                .expect("values");
            black_box(values.len())
        })
    });
    group.finish();
}

criterion_group!(benches, render, request);
criterion_main!(benches);
