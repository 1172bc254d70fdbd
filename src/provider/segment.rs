//! Percent-decoding of one segment of a reference (`keychain://my%20app/me`,
//! `file://dir%2Fwith%20space/name`), with the byte offset of every problem.
//!
//! A segment is written as in a URL path: `%XX` stands for the byte `XX`, so that a `/`, a
//! space, a `#`, a `?` or a `%` can be part of a name (`%2F`, `%20`, `%23`, `%3F`, `%25`).
//! Written as they are, those characters (and every other whitespace or control character)
//! are refused, so that each name has one spelling that survives being copied around. The
//! decoded bytes must be UTF-8 and hold no NUL (the platforms' C interfaces end a name there).

/// A problem in a segment: its byte offset within the segment, and what is wrong.
pub(crate) type Problem = (usize, &'static str);

/// Decodes `segment`. An empty segment decodes to an empty string: callers that need a name
/// refuse it with their own message.
///
/// # Errors
///
/// The offset within `segment` of a `%` not followed by two hex digits, of a character that
/// must be percent-encoded, or of the first escape of a run that is not UTF-8 or is a NUL.
pub(crate) fn decode(segment: &str) -> Result<String, Problem> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut first_escape = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|pair| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                });
                let Some(byte) = hex else {
                    return Err((i, "`%` must be followed by two hex digits (`%25` is a `%`)"));
                };
                if byte == 0 {
                    return Err((i, "a name cannot hold a NUL (`%00`)"));
                }
                first_escape.get_or_insert(i);
                decoded.push(byte);
                i += 3;
            }
            b'/' | b'#' | b'?' => {
                return Err((
                    i,
                    "`/`, `#` and `?` inside a name are written `%2F`, `%23` and `%3F`",
                ));
            }
            b if b.is_ascii_whitespace() || b.is_ascii_control() => {
                return Err((
                    i,
                    "spaces and control characters inside a name are percent-encoded (a space is `%20`)",
                ));
            }
            b => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| {
        (
            first_escape.unwrap_or(0),
            "the percent-encoded bytes are not UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_keeps_the_rest() {
        assert_eq!(decode("plain-name_1.x").unwrap(), "plain-name_1.x");
        assert_eq!(decode("my%20app%2Fprod").unwrap(), "my app/prod");
        assert_eq!(decode("100%25%23%3f").unwrap(), "100%#?");
        assert_eq!(decode("caf%C3%A9").unwrap(), "café");
        assert_eq!(decode("café").unwrap(), "café");
        assert_eq!(decode("").unwrap(), "");
    }

    #[test]
    fn problems_point_at_their_byte() {
        assert_eq!(decode("ab%2").unwrap_err().0, 2);
        assert_eq!(decode("ab%zz").unwrap_err().0, 2);
        assert_eq!(decode("a b").unwrap_err().0, 1);
        assert_eq!(decode("a\tb").unwrap_err().0, 1);
        assert_eq!(decode("ab#c").unwrap_err().0, 2);
        assert_eq!(decode("x?y").unwrap_err().0, 1);
        assert_eq!(decode("xy%00").unwrap_err().0, 2);
        assert_eq!(decode("ok%C3%28").unwrap_err().0, 2);
        assert_eq!(decode("%FF").unwrap_err().0, 0);
    }
}
