//! Placeholders as URL and form encoding leave them: `%3C%3Cvault:NAME%3E%3E` (the colon
//! also as `%3A`, hex digits in either case), found and turned back into template text.
//!
//! reqwest parses a request's URL before any middleware sees it, percent-encoding `<` and
//! `>`; a form serializer encodes the colon too. A literal `<<vault:` is written
//! `\<<vault:` as in templates, the backslash also as `%5C` (a URL path turns a raw `\` into
//! `/`, so there it can only be `%5C`).

use std::borrow::Cow;

use memchr::memmem;

use crate::name::is_name_byte;

/// Whether `bytes` holds a placeholder opener, as written (`<<vault:`) or percent-encoded: a
/// cheap test that lets a request without any pass untouched.
pub(crate) fn mentions_placeholder(bytes: &[u8]) -> bool {
    memmem::find_iter(bytes, b"vault").any(|at| opener_at(bytes, at).is_some())
}

/// Whether `bytes` holds `<<vault:` as written (for parts that are not percent-encoded).
pub(crate) fn mentions_raw_placeholder(bytes: &[u8]) -> bool {
    memmem::find(bytes, b"<<vault:").is_some()
}

/// `text` with each percent-encoded placeholder written as a template writes it: the opener
/// `<<vault:`, the name, then `>>` when it follows. An escaped opener stays literal: a raw one
/// keeps its `\` for the template parser, an encoded one loses its escape and stays encoded,
/// so that it is not read as a placeholder and is sent as it came.
pub(crate) fn decode(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    for at in memmem::find_iter(bytes, b"vault") {
        let Some(opener) = opener_at(bytes, at) else {
            continue;
        };
        if opener.start < copied {
            continue;
        }
        let raw = opener.start + 2 == at && opener.end == at + 6;
        if let Some(escape) = escape_before(bytes, opener.start) {
            if raw {
                // `\<<vault:` or `%5C<<vault:`: the template parser reads `\<<vault:`.
                out.push_str(&text[copied..opener.start - escape]);
                out.push('\\');
                copied = opener.start;
            } else {
                // The escape goes; the encoded opener stays as it is, a literal.
                out.push_str(&text[copied..opener.start - escape]);
                out.push_str(&text[opener.start..opener.end]);
                copied = opener.end;
            }
            continue;
        }
        let name_end = opener.end
            + bytes[opener.end..]
                .iter()
                .take_while(|&&b| is_name_byte(b))
                .count();
        out.push_str(&text[copied..opener.start]);
        out.push_str("<<vault:");
        out.push_str(&text[opener.end..name_end]);
        copied = name_end;
        if let Some(close) = closer_at(bytes, name_end) {
            out.push_str(">>");
            copied = name_end + close;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where an opener around the `vault` at `at` starts and ends.
struct Opener {
    start: usize,
    end: usize,
}

/// The opener whose `vault` stands at `at`: `<<` or `%3C%3C` before it, `:` or `%3A` after.
fn opener_at(bytes: &[u8], at: usize) -> Option<Opener> {
    let before = &bytes[..at];
    let open = if before.ends_with(b"<<") {
        2
    } else if before.len() >= 6 && eq_encoded(&before[before.len() - 6..], b"%3C%3C") {
        6
    } else {
        return None;
    };
    let after = &bytes[at + 5..];
    let colon = if after.starts_with(b":") {
        1
    } else if after.len() >= 3 && eq_encoded(&after[..3], b"%3A") {
        3
    } else {
        return None;
    };
    Some(Opener {
        start: at - open,
        end: at + 5 + colon,
    })
}

/// The length of a `\` or `%5C` ending at `end`.
fn escape_before(bytes: &[u8], end: usize) -> Option<usize> {
    let before = &bytes[..end];
    if before.ends_with(b"\\") {
        Some(1)
    } else if before.len() >= 3 && eq_encoded(&before[before.len() - 3..], b"%5C") {
        Some(3)
    } else {
        None
    }
}

/// The length of a `>>` or `%3E%3E` starting at `at`.
fn closer_at(bytes: &[u8], at: usize) -> Option<usize> {
    let after = &bytes[at..];
    if after.starts_with(b">>") {
        Some(2)
    } else if after.len() >= 6 && eq_encoded(&after[..6], b"%3E%3E") {
        Some(6)
    } else {
        None
    }
}

/// Percent-encoded text compared with hex digits in either case.
fn eq_encoded(bytes: &[u8], upper: &[u8]) -> bool {
    bytes.eq_ignore_ascii_case(upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_placeholders_are_written_as_templates() {
        for (given, expected) in [
            ("/a/%3C%3Cvault:key%3E%3E/b", "/a/<<vault:key>>/b"),
            ("k=%3c%3cvault%3akey%3e%3e&x=1", "k=<<vault:key>>&x=1"),
            ("k=<<vault:key>>", "k=<<vault:key>>"),
            (
                "a%3C%3Cvault:x%3E%3E%3C%3Cvault:y%3E%3Eb",
                "a<<vault:x>><<vault:y>>b",
            ),
            // Unterminated: left for the template parser to refuse.
            ("%3C%3Cvault:key", "<<vault:key"),
            ("%3C%3Cvault:key%3E", "<<vault:key%3E"),
        ] {
            assert_eq!(decode(given), expected, "{given}");
        }
    }

    #[test]
    fn escaped_openers_stay_literal() {
        // Encoded: the escape goes, the opener stays encoded (so it is no placeholder).
        assert_eq!(decode("/a%5C%3C%3Cvault:x%3E%3E"), "/a%3C%3Cvault:x%3E%3E");
        assert_eq!(decode("q=%5c%3C%3Cvault%3Ax"), "q=%3C%3Cvault%3Ax");
        // Raw: the template parser reads `\<<vault:`.
        assert_eq!(decode("q=%5C<<vault:x>>"), "q=\\<<vault:x>>");
        assert_eq!(decode("q=\\<<vault:x>>"), "q=\\<<vault:x>>");
    }

    #[test]
    fn text_without_placeholders_is_borrowed() {
        for text in [
            "/plain/path",
            "vault=1&x=%3Cvault%3E",
            "<<vault",
            "%3C%3Cvault",
        ] {
            assert!(matches!(decode(text), Cow::Borrowed(_)), "{text}");
            assert!(!mentions_placeholder(text.as_bytes()), "{text}");
        }
        assert!(mentions_placeholder(b"x%3c%3Cvault%3ay"));
        // Percent-encoding changes no letter: `VAULT` is no placeholder.
        assert!(!mentions_placeholder(b"x%3C%3CVAULT%3Ay"));
        assert!(mentions_raw_placeholder(b"a <<vault:b"));
        assert!(!mentions_raw_placeholder(b"a %3C%3Cvault:b"));
    }
}
