//! Just enough HTTP/1.1 for the conformance servers: reading one whole message off a
//! socket (a `Content-Length`, chunked or close-delimited body), and taking one apart.

use std::io;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The most a message's head or body may hold before a server gives up on it.
pub(super) const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Where a message without `Content-Length` or chunked encoding ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
    /// A request: it has no body.
    Empty,
    /// A response: at the close of the connection.
    ToEnd,
}

/// Reads one whole HTTP message (head, then a `Content-Length` or chunked body) from
/// `stream`, keeping what follows in `buffer`. `None` when the peer closed cleanly.
pub(super) async fn read_message(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    unframed: Body,
) -> io::Result<Option<Vec<u8>>> {
    let head_end = loop {
        if let Some(i) = find(buffer, b"\r\n\r\n") {
            break i + 4;
        }
        if !fill(stream, buffer).await? {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.split("\r\n")
            .find_map(|line| line.strip_prefix(name).map(str::trim).map(str::to_owned))
    };
    let end = if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        loop {
            if let Some(i) = find(&buffer[head_end..], b"0\r\n\r\n")
                .filter(|&i| i == 0 || buffer[head_end + i - 2..head_end + i] == *b"\r\n")
            {
                break head_end + i + 5;
            }
            if !fill(stream, buffer).await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    } else if let Some(length) = header("content-length:") {
        let length: usize = length
            .parse()
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        if length > MAX_MESSAGE {
            return Err(io::ErrorKind::InvalidData.into());
        }
        while buffer.len() < head_end + length {
            if !fill(stream, buffer).await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        head_end + length
    } else if unframed == Body::ToEnd {
        while fill(stream, buffer).await? {}
        buffer.len()
    } else {
        head_end
    };
    let rest = buffer.split_off(end);
    Ok(Some(std::mem::replace(buffer, rest)))
}

/// Reads more into `buffer`; false at a clean end of stream.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<bool> {
    if buffer.len() > MAX_MESSAGE {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let mut chunk = [0u8; 8192];
    let read = stream.read(&mut chunk).await?;
    buffer.extend_from_slice(&chunk[..read]);
    Ok(read > 0)
}

/// Whether a response says where it ends (`Content-Length` or chunked) rather than ending
/// at the close of the connection.
pub(super) fn is_framed(response: &[u8]) -> bool {
    let head_end = find(response, b"\r\n\r\n").unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    head.contains("\r\ncontent-length:") || head.contains("\r\ntransfer-encoding: chunked")
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// The head of `message` (through its blank line) and its body, de-chunked when it was sent
/// chunked.
pub(super) fn split(message: &[u8]) -> (String, Vec<u8>) {
    let head_end = find(message, b"\r\n\r\n").map_or(message.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&message[..head_end]).into_owned();
    let body = &message[head_end..];
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (head, dechunk(body));
    }
    (head, body.to_vec())
}

/// The data of a chunked body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(line_end) = find(body, b"\r\n") {
        let size = std::str::from_utf8(&body[..line_end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        let start = line_end + 2;
        if size == 0 || start + size > body.len() {
            break;
        }
        data.extend_from_slice(&body[start..start + size]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        let message = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let (head, body) = split(message);
        assert!(head.starts_with("HTTP/1.1 200"));
        assert_eq!(body, b"abcde");
        let (_, plain) = split(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(plain, b"ok");
    }
}
