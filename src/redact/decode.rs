//! A text with its escapes read: percent-encoding in either case, JSON's escapes, and `+` as
//! a space when asked, with where each decoded byte came from in the original text.
//!
//! Reading escapes again from a decoded text ([`Decoded::again`]) finds what was escaped
//! twice: a JSON log line inside a JSON string (`\\\"` is `\"` is `"`), a percent-encoded
//! value encoded again (`%2540` is `%40` is `@`). Every level maps straight back to the
//! original text.

use zeroize::Zeroizing;

/// A decoded text and, for each of its bytes, the range of the original text it came from.
pub(super) struct Decoded {
    pub(super) bytes: Zeroizing<Vec<u8>>,
    starts: Vec<usize>,
    ends: Vec<usize>,
    /// Whether some escape was read (if not, the bytes are the input's).
    changed: bool,
}

impl Decoded {
    /// `text` with its escapes read once.
    pub(super) fn new(text: &[u8], plus_is_space: bool) -> Self {
        decode(text, plus_is_space, |from, to| (from, to))
    }

    /// This text with its escapes read once more, still mapped to the original text.
    pub(super) fn again(&self, plus_is_space: bool) -> Self {
        decode(&self.bytes, plus_is_space, |from, to| {
            (self.starts[from], self.ends[to - 1])
        })
    }

    /// Whether reading escapes changed anything: a text without any is not searched again.
    pub(super) fn changed(&self) -> bool {
        self.changed
    }

    /// Whether the decoded text holds something that may be an escape (read again, it may
    /// change).
    pub(super) fn has_escapes(&self, plus_is_space: bool) -> bool {
        memchr::memchr2(b'%', b'\\', &self.bytes).is_some()
            || (plus_is_space && memchr::memchr(b'+', &self.bytes).is_some())
    }

    /// The range of the original text that decoded bytes `start..end` came from.
    pub(super) fn source(&self, start: usize, end: usize) -> (usize, usize) {
        (self.starts[start], self.ends[end - 1])
    }
}

/// Decodes `input`; `origin(from, to)` maps a range of `input` to the original text. Decoding
/// never lengthens a text, so every buffer is sized once.
fn decode(
    input: &[u8],
    plus_is_space: bool,
    origin: impl Fn(usize, usize) -> (usize, usize),
) -> Decoded {
    let mut view = Decoded {
        bytes: Zeroizing::new(Vec::with_capacity(input.len())),
        starts: Vec::with_capacity(input.len()),
        ends: Vec::with_capacity(input.len()),
        changed: false,
    };
    let mut i = 0;
    while i < input.len() {
        let (decoded, used) = decode_one(&input[i..], plus_is_space);
        let mut utf8 = [0; 4];
        let out: &[u8] = match decoded {
            Unit::Byte(b) => {
                utf8[0] = b;
                &utf8[..1]
            }
            Unit::Char(c) => c.encode_utf8(&mut utf8).as_bytes(),
        };
        view.changed |= used > 1 || out != &input[i..i + 1];
        let (start, end) = origin(i, i + used);
        for &b in out {
            view.bytes.push(b);
            view.starts.push(start);
            view.ends.push(end);
        }
        i += used;
    }
    view
}

/// One decoded unit of text.
enum Unit {
    Byte(u8),
    Char(char),
}

/// Reads the escape (or plain byte) at the start of `input`: the unit and how many bytes it
/// used.
fn decode_one(input: &[u8], plus_is_space: bool) -> (Unit, usize) {
    let hex = |at: usize, n: usize| -> Option<u32> {
        let digits = input.get(at..at + n)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            char::from(d).to_digit(16).map(|digit| acc * 16 + digit)
        })
    };
    match input[0] {
        b'%' => match hex(1, 2) {
            Some(byte) => (Unit::Byte(byte as u8), 3),
            None => (Unit::Byte(b'%'), 1),
        },
        b'+' if plus_is_space => (Unit::Byte(b' '), 1),
        b'\\' => match input.get(1) {
            Some(b'u') => {
                let Some(unit) = hex(2, 4) else {
                    return (Unit::Byte(b'\\'), 1);
                };
                if (0xD800..0xDC00).contains(&unit)
                    && input.get(6..8) == Some(b"\\u")
                    && let Some(low) = hex(8, 4).filter(|l| (0xDC00..0xE000).contains(l))
                    && let Some(c) =
                        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                {
                    return (Unit::Char(c), 12);
                }
                match char::from_u32(unit) {
                    Some(c) => (Unit::Char(c), 6),
                    None => (Unit::Byte(b'\\'), 1),
                }
            }
            Some(&c @ (b'"' | b'\\' | b'/')) => (Unit::Byte(c), 2),
            Some(b'n') => (Unit::Byte(b'\n'), 2),
            Some(b'r') => (Unit::Byte(b'\r'), 2),
            Some(b't') => (Unit::Byte(b'\t'), 2),
            Some(b'b') => (Unit::Byte(0x08), 2),
            Some(b'f') => (Unit::Byte(0x0c), 2),
            _ => (Unit::Byte(b'\\'), 1),
        },
        b => (Unit::Byte(b), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(view: &Decoded) -> String {
        String::from_utf8_lossy(&view.bytes).into_owned()
    }

    #[test]
    fn escapes_are_read_and_mapped_back() {
        let input = br#"a%40b\u00e9\"c+d"#;
        let view = Decoded::new(input, true);
        assert_eq!(text(&view), "a@b\u{e9}\"c d");
        assert!(view.changed());
        // `@` came from `%40`, the two bytes of `é` from `\u00e9`.
        assert_eq!(view.source(1, 2), (1, 4));
        assert_eq!(view.source(3, 5), (5, 11));
    }

    #[test]
    fn reading_again_finds_double_escapes_and_maps_to_the_original() {
        let input = br#"x%2540y \\\"z\\u0041"#;
        let once = Decoded::new(input, false);
        assert_eq!(text(&once), r#"x%40y \"z\u0041"#);
        let twice = once.again(false);
        assert_eq!(text(&twice), "x@y \"zA");
        assert_eq!(twice.source(1, 2), (1, 6), "`@` came from `%2540`");
        assert_eq!(twice.source(4, 5), (8, 12), "`\"` came from `\\\\\\\"`");
        assert_eq!(twice.source(6, 7), (13, 20));
        assert!(!twice.again(false).changed());
    }

    #[test]
    fn plain_text_and_broken_escapes_are_left_alone() {
        for input in [&b"100% plain"[..], b"\\x \\u12 %g1 %", "é".as_bytes()] {
            let view = Decoded::new(input, false);
            assert_eq!(view.bytes.as_slice(), input);
            assert!(!view.changed());
        }
    }
}
