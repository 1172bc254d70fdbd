//! A plain HTTP/1.1 server on 127.0.0.1 that records the exact bytes of every request and
//! answers through a handler, for request-rendering and redirect tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request line and headers, exactly as sent (without the blank line).
    pub head: String,
    pub body: Vec<u8>,
}

impl Received {
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// A reply: status, extra headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn ok(body: &str) -> Self {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Self {
        Reply {
            status,
            headers: vec![("Location".into(), location.into())],
            body: String::new(),
        }
    }
}

type Handler = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

pub struct HttpServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpServer {
    /// A server answering 200 `ok` to everything.
    pub async fn start() -> Self {
        Self::with_handler(|_| Reply::ok("ok")).await
    }

    pub async fn with_handler(
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let log = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&handler), Arc::clone(&log)));
            }
        });
        HttpServer {
            addr,
            received,
            task,
        }
    }

    /// A server answering 200 `welcome` to `Authorization: Bearer {token}` and 401 to
    /// anything else.
    pub async fn accepting_bearer(token: &str) -> Self {
        let expected = format!("Bearer {token}");
        Self::with_handler(move |r| {
            if r.header("authorization") == Some(expected.as_str()) {
                Reply::ok("welcome")
            } else {
                Reply::status(401)
            }
        })
        .await
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://localhost:PORT`: the same server under another host name.
    pub fn localhost_url(&self) -> String {
        format!("http://localhost:{}", self.addr.port())
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request from `stream`: its head (without the blank line) and its body
/// (by `Content-Length`), keeping what follows in `buffer`. `None` when the peer closed or
/// the connection broke. Shared by every loopback stand-in.
pub async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        read_more(stream, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    buffer.drain(..end + 4);
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < length {
        read_more(stream, buffer).await?;
    }
    let body = buffer.drain(..length).collect();
    Some((head, body))
}

async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

async fn serve(mut stream: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Received>>>) {
    let mut buffer = Vec::new();
    while let Some((head, body)) = read_request(&mut stream, &mut buffer).await {
        let request = Received { head, body };
        let reply = handler(&request);
        log.lock().unwrap().push(request);
        let mut response = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&reply.body);
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
