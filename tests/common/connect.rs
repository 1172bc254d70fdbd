//! A stand-in for a 1Password Connect server, on 127.0.0.1, for tests and benches.
//!
//! It follows the documented REST API's shapes (the Connect OpenAPI description, v1):
//! `GET /heartbeat` (plain `.`), `GET /v1/vaults` (a list of vaults: `id`, `name`, …),
//! `GET /v1/vaults/{id}/items` (item summaries without fields: `id`, `title`, `vault`,
//! `category`, `state` for archived items), `GET /v1/vaults/{id}/items/{id}` (the full item
//! with `sections`, `fields` — OTP fields carrying the current code in `totp` — and `files`
//! with `content_path`), and `GET …/files/{id}/content` (the raw bytes). Requests need
//! `Authorization: Bearer <token>`; errors are `{"status": …, "message": …}` with 401,
//! 403 (`vault … is not in scope`) and 404 (`vault … not found`, `item … not found`).
//!
//! It counts requests, adds latency, and injects faults from a queue: a status (429 with
//! `Retry-After`, 500), a dropped connection, or a slow answer. An answer is what the data
//! held when the request arrived (latency delays it, never changes it), and a field's value
//! can be changed while it runs ([`ConnectServer::set_value`]), as a secret is rotated.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Field {
    pub id: String,
    pub label: String,
    pub kind: &'static str,
    pub purpose: &'static str,
    pub value: String,
    pub section: Option<String>,
    pub totp: Option<String>,
}

pub struct FileDef {
    pub id: String,
    pub name: String,
    pub content: Vec<u8>,
    pub section: Option<String>,
}

pub struct ItemDef {
    pub id: String,
    pub title: String,
    pub archived: bool,
    pub sections: Vec<(String, String)>,
    pub fields: Vec<Field>,
    pub files: Vec<FileDef>,
}

pub struct VaultDef {
    pub id: String,
    pub name: String,
    pub in_scope: bool,
    pub items: Vec<ItemDef>,
}

/// A fault the next request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16, Option<u64>),
    /// A 200 whose body is not JSON.
    Garbage,
    Drop,
    Slow(Duration),
}

#[derive(Default)]
pub struct Data {
    pub vaults: Vec<VaultDef>,
}

pub struct ConnectServer {
    pub addr: SocketAddr,
    data: Arc<RwLock<Data>>,
    requests: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A 26-character lower-case ID derived from `seed`.
pub fn id(seed: &str) -> String {
    let mut out = String::new();
    let mut state: u64 = 1469598103934665603;
    for b in seed.bytes() {
        state = (state ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    while out.len() < 26 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let digit = (state >> 33) % 36;
        out.push(std::char::from_digit(digit as u32, 36).unwrap());
    }
    out
}

pub fn field(label: &str, kind: &'static str, value: &str) -> Field {
    Field {
        id: id(&format!("field {label} {value}")),
        label: label.into(),
        kind,
        purpose: "",
        value: value.into(),
        section: None,
        totp: None,
    }
}

pub fn item(title: &str, fields: Vec<Field>) -> ItemDef {
    ItemDef {
        id: id(&format!("item {title} {}", fields.len())),
        title: title.into(),
        archived: false,
        sections: Vec::new(),
        fields,
        files: Vec::new(),
    }
}

pub fn vault(name: &str, items: Vec<ItemDef>) -> VaultDef {
    VaultDef {
        id: id(&format!("vault {name}")),
        name: name.into(),
        in_scope: true,
        items,
    }
}

impl ConnectServer {
    pub async fn start(data: Data, token: &str, latency: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(VecDeque::new()));
        let data = Arc::new(RwLock::new(data));
        let shared = Arc::new(Shared {
            data: Arc::clone(&data),
            token: format!("Bearer {token}"),
            latency,
            requests: Arc::clone(&requests),
            log: Arc::clone(&log),
            faults: Arc::clone(&faults),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                tokio::spawn(async move { shared.serve(stream).await });
            }
        });
        ConnectServer {
            addr,
            data,
            requests,
            log,
            faults,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn paths(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn reset_counts(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.log.lock().unwrap().clear();
    }

    pub fn fail_next(&self, fault: Fault) {
        self.faults.lock().unwrap().push_back(fault);
    }

    /// Changes the value of the field labelled `label` in every item titled `title`: the
    /// answers to requests arriving from now on carry it.
    pub fn set_value(&self, title: &str, label: &str, value: &str) {
        let mut data = self.data.write().unwrap();
        let fields = data
            .vaults
            .iter_mut()
            .flat_map(|v| v.items.iter_mut())
            .filter(|i| i.title == title)
            .flat_map(|i| i.fields.iter_mut())
            .filter(|f| f.label == label);
        for field in fields {
            field.value = value.to_owned();
        }
    }
}

struct Shared {
    data: Arc<RwLock<Data>>,
    token: String,
    latency: Duration,
    requests: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
}

impl Shared {
    async fn serve(&self, mut stream: TcpStream) {
        let mut buffer = Vec::new();
        loop {
            let Some(end) = read_head(&mut stream, &mut buffer).await else {
                return;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let request_line = lines.next().unwrap_or_default();
            let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
            let authorization = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.trim().to_owned());
            self.requests.fetch_add(1, Ordering::SeqCst);
            self.log.lock().unwrap().push(path.clone());
            // The answer as the data stands when the request arrives.
            let routed = self.route(&path, authorization.as_deref());
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            let fault = self.faults.lock().unwrap().pop_front();
            let (status, content_type, body, extra) = match fault {
                Some(Fault::Drop) => return,
                Some(Fault::Garbage) => (
                    200,
                    "application/json",
                    b"<html>proxy login</html>".to_vec(),
                    String::new(),
                ),
                Some(Fault::Slow(delay)) => {
                    tokio::time::sleep(delay).await;
                    routed
                }
                Some(Fault::Status(status, retry_after)) => {
                    let extra = retry_after
                        .map(|s| format!("Retry-After: {s}\r\n"))
                        .unwrap_or_default();
                    let body = json!({"status": status, "message": "injected fault"})
                        .to_string()
                        .into_bytes();
                    (status, "application/json", body, extra)
                }
                None => routed,
            };
            let reason = match status {
                200 => "OK",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "Not Found",
                429 => "Too Many Requests",
                _ => "Error",
            };
            let head = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
                body.len()
            );
            // One write: a head and body written apart meet Nagle's algorithm and delayed
            // ACKs, which add 40 ms to every response.
            let mut response = head.into_bytes();
            response.extend_from_slice(&body);
            if stream.write_all(&response).await.is_err() {
                return;
            }
        }
    }

    fn route(
        &self,
        path: &str,
        authorization: Option<&str>,
    ) -> (u16, &'static str, Vec<u8>, String) {
        let json_reply = |status: u16, value: Value| {
            (
                status,
                "application/json",
                value.to_string().into_bytes(),
                String::new(),
            )
        };
        let error = |status: u16, message: String| {
            json_reply(status, json!({"status": status, "message": message}))
        };
        if path == "/heartbeat" {
            return (200, "text/plain", b".".to_vec(), String::new());
        }
        if authorization != Some(self.token.as_str()) {
            return error(401, "Invalid token signature".into());
        }
        let data = self.data.read().unwrap();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let find_vault = |id: &str| data.vaults.iter().find(|v| v.id == id);
        match parts.as_slice() {
            ["v1", "vaults"] => json_reply(
                200,
                Value::Array(
                    data
                        .vaults
                        .iter()
                        .filter(|v| v.in_scope)
                        .map(|v| {
                            json!({"id": v.id, "name": v.name, "description": "", "attributeVersion": 1,
                                   "contentVersion": 1, "items": v.items.len(), "type": "USER_CREATED",
                                   "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"})
                        })
                        .collect(),
                ),
            ),
            ["v1", "vaults", vault_id, "items", rest @ ..] => {
                let Some(vault) = find_vault(vault_id) else {
                    return error(404, format!("vault {vault_id} not found"));
                };
                if !vault.in_scope {
                    return error(403, format!("vault {vault_id} is not in scope"));
                }
                match rest {
                    [] => json_reply(200, Value::Array(vault.items.iter().map(|i| summary(vault, i)).collect())),
                    [item_id, tail @ ..] => {
                        let Some(item) = vault.items.iter().find(|i| i.id == *item_id) else {
                            return error(404, format!("item {item_id} not found"));
                        };
                        match tail {
                            [] => json_reply(200, full_item(vault, item)),
                            ["files", file_id, "content"] => match item.files.iter().find(|f| f.id == *file_id) {
                                Some(file) => (200, "application/octet-stream", file.content.clone(), String::new()),
                                None => error(404, format!("file {file_id} not found")),
                            },
                            _ => error(404, "not found".into()),
                        }
                    }
                }
            }
            _ => error(404, "not found".into()),
        }
    }
}

fn summary(vault: &VaultDef, item: &ItemDef) -> Value {
    let mut value = json!({
        "id": item.id, "title": item.title, "vault": {"id": vault.id}, "category": "LOGIN",
        "version": 1, "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z",
    });
    if item.archived {
        value["state"] = json!("ARCHIVED");
    }
    value
}

fn full_item(vault: &VaultDef, item: &ItemDef) -> Value {
    let mut value = summary(vault, item);
    value["sections"] = Value::Array(
        item.sections
            .iter()
            .map(|(id, label)| json!({"id": id, "label": label}))
            .collect(),
    );
    value["fields"] = Value::Array(
        item.fields
            .iter()
            .map(|f| {
                let mut field = json!({"id": f.id, "type": f.kind, "purpose": f.purpose, "label": f.label, "value": f.value});
                if let Some(section) = &f.section {
                    field["section"] = json!({"id": section});
                }
                if let Some(totp) = &f.totp {
                    field["totp"] = json!(totp);
                }
                field
            })
            .collect(),
    );
    value["files"] = Value::Array(
        item.files
            .iter()
            .map(|f| {
                let mut file = json!({"id": f.id, "name": f.name, "size": f.content.len(),
                    "content_path": format!("v1/vaults/{}/items/{}/files/{}/content", vault.id, item.id, f.id)});
                if let Some(section) = &f.section {
                    file["section"] = json!({"id": section});
                }
                file
            })
            .collect(),
    );
    value
}

async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}
