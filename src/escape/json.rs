//! JSON bodies: where placeholders may stand, the one check of a body's template, and the
//! escaping of a value inside a JSON string.

use crate::error::{Error, Result};
use crate::template::Template;

/// Checks a JSON body's template once, when it is parsed: each placeholder stands inside a
/// JSON string (not inside an escape sequence such as `\u00e9`), where a value cannot change
/// the document's structure, and the text is JSON with its placeholders left out. A value
/// JSON-escaped there is a run of whole string characters, which keeps the text JSON or not
/// JSON as it was, so no render needs to check it again.
///
/// # Errors
///
/// - [`Error::InvalidTemplate`] with the offset of a placeholder outside a JSON string or
///   inside an escape sequence;
/// - [`Error::InvalidRequest`] when the text is not JSON.
pub(crate) fn check_json(template: &Template) -> Result<()> {
    check_json_placements(template)?;
    serde_json::from_str::<serde::de::IgnoredAny>(template.literal()).map_err(|e| {
        // serde_json's message names a line and column, never the content.
        Error::InvalidRequest {
            part: "JSON body".to_owned(),
            reason: format!("the body is not valid JSON (placeholders left out): {e}"),
        }
    })?;
    Ok(())
}

/// Where a JSON lexer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lexed {
    Outside,
    /// Inside a string, between characters.
    InString,
    /// Right after a `\`.
    Escape,
    /// Within the hex digits of a `\u` escape, this many left.
    Hex(u8),
}

/// Refuses placeholders outside JSON strings, where a value could change the document's
/// structure, and inside escape sequences, which a value would break. The literal text is
/// lexed (what is rendered), each placeholder looked at where its value goes.
pub(super) fn check_json_placements(template: &Template) -> Result<()> {
    let literal = template.literal().as_bytes();
    let mut state = Lexed::Outside;
    let mut lexed = 0;
    for ((_, at), (_, offset)) in template.insertions().zip(template.placeholders()) {
        for &byte in &literal[lexed..at] {
            state = match state {
                Lexed::Outside if byte == b'"' => Lexed::InString,
                Lexed::Outside => Lexed::Outside,
                Lexed::InString => match byte {
                    b'\\' => Lexed::Escape,
                    b'"' => Lexed::Outside,
                    _ => Lexed::InString,
                },
                Lexed::Escape if byte == b'u' => Lexed::Hex(4),
                Lexed::Escape | Lexed::Hex(1) => Lexed::InString,
                Lexed::Hex(left) => Lexed::Hex(left - 1),
            };
        }
        lexed = at;
        let reason = match state {
            Lexed::InString => continue,
            Lexed::Outside => "a placeholder in a JSON body must stand inside a JSON string",
            Lexed::Escape | Lexed::Hex(_) => {
                "a placeholder in a JSON body must not stand inside an escape sequence"
            }
        };
        return Err(Error::InvalidTemplate {
            part: "JSON body".to_owned(),
            offset,
            reason,
        });
    }
    Ok(())
}

/// Appends `value` escaped for the inside of a JSON string: runs of bytes that need no
/// escape are copied whole.
pub(crate) fn json_escape(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    for (at, byte) in value.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        // `at` holds an ASCII byte, so both slices end on character boundaries.
        out.push_str(&value[run..at]);
        run = at + 1;
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&value[run..]);
}
