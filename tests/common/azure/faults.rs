//! The stand-in's faults: what the next request of a kind (a token request, or an
//! authorized vault request) meets instead of its normal answer. Besides the transient
//! ones (an error status, a dropped connection), the hostile ones a compromised server or
//! proxy plays: a redirect to another origin, an endless answer, an error body echoing the
//! request, and an answer whose JSON numbers are all absurd.

use serde_json::{Value, json};

use super::{Reply, Request};

/// A fault the next matching request meets (after authentication, for vault requests).
#[derive(Debug, Clone)]
pub enum Fault {
    /// A status with the endpoint's own error body, and `Retry-After` seconds if given.
    Status(u16, Option<u64>),
    /// The connection is closed without an answer.
    Drop,
    /// This redirect status with `Location: location`.
    Redirect(u16, String),
    /// A 200 of `bytes` bytes of filler, sent until the client stops reading; with
    /// `Content-Length` when `declared`, else delimited by the close.
    Oversized { bytes: u64, declared: bool },
    /// This status with a JSON error body quoting the whole request, head and body, in the
    /// fields Azure's error bodies have (`error`, `error_description`, `message`).
    Echo(u16),
    /// The normal answer with every JSON number replaced by this one.
    Numbers(u64),
}

/// How an endpoint writes its errors: Key Vault's `{"error": {"code", "message"}}`, or
/// OAuth's `{"error": "code", "error_description"}` (Entra ID, IMDS, App Service).
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    Vault,
    OAuth,
}

/// What the stand-in does with a request.
pub enum Answer {
    Reply(Reply),
    Drop,
    Oversized { bytes: u64, declared: bool },
}

impl From<Option<Reply>> for Answer {
    fn from(reply: Option<Reply>) -> Self {
        reply.map_or(Answer::Drop, Answer::Reply)
    }
}

/// The answer to `request` under `fault` (none: the normal answer). `status` makes the
/// endpoint's own error answer for a status; `normal` its normal answer.
pub(super) fn answer(
    fault: Option<Fault>,
    shape: Shape,
    request: &Request,
    status: impl FnOnce(u16) -> Option<Reply>,
    normal: impl FnOnce() -> Option<Reply>,
) -> Answer {
    let Some(fault) = fault else {
        return normal().into();
    };
    match fault {
        Fault::Status(code, after) => {
            let mut reply = status(code);
            if let (Some(reply), Some(after)) = (reply.as_mut(), after) {
                reply
                    .headers
                    .push(("Retry-After".into(), after.to_string()));
            }
            reply.into()
        }
        Fault::Drop => Answer::Drop,
        Fault::Redirect(code, location) => Answer::Reply(Reply {
            status: code,
            headers: vec![("Location".into(), location)],
            body: String::new(),
        }),
        Fault::Oversized { bytes, declared } => Answer::Oversized { bytes, declared },
        Fault::Echo(code) => Answer::Reply(echo(code, shape, request)),
        Fault::Numbers(number) => {
            let mut reply = normal();
            if let Some(reply) = reply.as_mut()
                && let Ok(mut body) = serde_json::from_str::<Value>(&reply.body)
            {
                replace_numbers(&mut body, number);
                reply.body = body.to_string();
            }
            reply.into()
        }
    }
}

/// An error body quoting the request wherever the endpoint's errors hold text, codes
/// included (the provider quotes codes: they must come out scrubbed).
fn echo(status: u16, shape: Shape, request: &Request) -> Reply {
    let text = format!(
        "{}\r\n\r\n{}",
        request.head,
        String::from_utf8_lossy(&request.body)
    );
    let body = match shape {
        Shape::Vault => json!({
            "error": {"code": text, "message": text, "innererror": {"code": text}},
        }),
        Shape::OAuth => json!({
            "error": text,
            "error_description": text,
            "message": text,
        }),
    };
    Reply {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string(),
    }
}

fn replace_numbers(value: &mut Value, number: u64) {
    match value {
        Value::Number(n) => *n = number.into(),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_numbers(v, number)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_numbers(v, number)),
        _ => {}
    }
}
