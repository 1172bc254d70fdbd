//! The cost of `VaultMiddleware` on a request with 3 placeholders (URL path, query and a
//! header) sent to a loopback server, against `Vault::render_request` plus
//! `Client::execute` of the same request to the same server (`render_request_execute`).
//! Goal: `middleware_send` within 1.5x of `render_request_execute`. `execute_only` (the
//! request rendered once, beforehand) is the floor: the network round trip itself;
//! `vault_send` (`Vault::send` of the same template, whose hop-by-hop loop the middleware
//! shares) tells the reading of the request apart from the sending.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use request_vault::middleware::VaultMiddleware;
use request_vault::{RequestTemplate, Vault};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Answers every request on a keep-alive connection with `200 ok`.
async fn serve(mut stream: TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            buffer.drain(..end + 4);
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if stream.write_all(reply).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn middleware(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let address = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream));
            }
        });
        address
    });
    let base = format!("http://{address}");

    let vault = Vault::new();
    vault.set("user", "user-0123456789").expect("set");
    vault.set("key", "key/with&reserved=chars").expect("set");
    vault.set("token", "token-abcdefghijklmnop").expect("set");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let template = RequestTemplate::new(
        reqwest::Method::GET,
        format!("{base}/v1/users/<<vault:user>>/items?key=<<vault:key>>"),
    )
    .header("X-Api-Key", "<<vault:token>>");
    let with_middleware = reqwest_middleware::ClientBuilder::new(client.clone())
        .with(VaultMiddleware::new(vault.clone()))
        .build();
    let url = format!("{base}/v1/users/<<vault:user>>/items?key=<<vault:key>>");

    let mut group = c.benchmark_group("middleware_3_placeholders");
    group.bench_function("execute_only", |b| {
        let rendered = runtime
            .block_on(vault.render_request(&client, &template))
            .expect("render");
        b.iter(|| {
            runtime.block_on(async {
                let request = rendered.try_clone().expect("clone");
                let response = client.execute(request).await.expect("execute");
                black_box(response.bytes().await.expect("body"))
            })
        })
    });
    group.bench_function("render_request_execute", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request = vault
                    .render_request(&client, black_box(&template))
                    .await
                    .expect("render");
                let response = client.execute(request).await.expect("execute");
                black_box(response.bytes().await.expect("body"))
            })
        })
    });
    let sender = Vault::builder().client(client.clone()).build();
    sender.set("user", "user-0123456789").expect("set");
    sender.set("key", "key/with&reserved=chars").expect("set");
    sender.set("token", "token-abcdefghijklmnop").expect("set");
    group.bench_function("vault_send", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = sender.send(black_box(&template)).await.expect("send");
                black_box(response.bytes().await.expect("body"))
            })
        })
    });
    group.bench_function("middleware_send", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = with_middleware
                    .get(black_box(url.as_str()))
                    .header("X-Api-Key", "<<vault:token>>")
                    .send()
                    .await
                    .expect("send");
                black_box(response.bytes().await.expect("body"))
            })
        })
    });
    group.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);
