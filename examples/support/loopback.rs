//! A one-request HTTP server on 127.0.0.1 for the examples: it answers `200 OK` and hands
//! back the raw bytes it received.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Starts the server; returns its base URL and the request it will receive.
pub async fn start() -> std::io::Result<(String, oneshot::Receiver<String>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (sender, receiver) = oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read the head, then as many body bytes as Content-Length says.
        loop {
            let Ok(n) = stream.read(&mut chunk).await else {
                return;
            };
            received.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&received);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if received.len() >= end + 4 + length || n == 0 {
                    break;
                }
            } else if n == 0 {
                break;
            }
        }
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await;
        let _ = sender.send(String::from_utf8_lossy(&received).into_owned());
    });
    Ok((url, receiver))
}
