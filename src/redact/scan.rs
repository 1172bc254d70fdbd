//! One masking pass over a text: every set of [`Masks`] searched in the text as it is, with
//! its escapes read once, twice and three times, each of those with its base64 decoded, and
//! in the decoded tokens of `Basic` and `Bearer` credentials; the matches merged into spans; the masked text written once, at its
//! final size.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use super::base64_runs::Base64Runs;
use super::decode::Decoded;
use super::masks::{MAX_LEVELS, Masks, Span};

/// Base64 in either alphabet's padding habits, for decoding credentials.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The masked spans of `text`, sorted, merged where they overlap, and widened to whole
/// UTF-8 characters.
pub(super) fn spans<'m>(masks: &[&'m Masks], text: &[u8]) -> Vec<Span<'m>> {
    let mut spans = Vec::new();
    let min_run = masks.iter().filter_map(|m| m.min_run()).min();
    search(masks, text, None, min_run, &mut spans);
    let escapes = memchr::memchr2(b'%', b'\\', text).is_some();
    let plus = masks.iter().any(|m| m.spaces()) && memchr::memchr(b'+', text).is_some();
    for plus_is_space in [false, true] {
        if !(if plus_is_space { plus } else { escapes }) {
            continue;
        }
        let mut view = Decoded::new(text, plus_is_space);
        let mut level = 1;
        while view.changed() {
            search(masks, &view.bytes, Some(&view), min_run, &mut spans);
            if level == MAX_LEVELS || !view.has_escapes(plus_is_space) {
                break;
            }
            view = view.again(plus_is_space);
            level += 1;
        }
    }
    credentials(masks, text, &mut spans);
    for span in &mut spans {
        while !is_boundary(text, span.start) {
            span.start -= 1;
        }
        while !is_boundary(text, span.end) {
            span.end += 1;
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<Span<'m>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// Searches `haystack` (the text, or a decoded `view` of it) as it is and with its base64
/// runs decoded.
fn search<'m>(
    masks: &[&'m Masks],
    haystack: &[u8],
    view: Option<&Decoded>,
    min_run: Option<usize>,
    spans: &mut Vec<Span<'m>>,
) {
    for m in masks {
        m.find(haystack, view, spans);
    }
    // A run of a decoded view with no escape in it is a run of the text, searched already.
    let unchanged = |start: usize, end: usize| {
        view.is_some_and(|view| {
            let (from, to) = view.source(start, end);
            to - from == end - start
        })
    };
    if let Some(runs) = min_run.and_then(|min_run| Base64Runs::new(haystack, min_run, unchanged)) {
        for m in masks {
            m.find_in_base64(&runs, view, spans);
        }
    }
}

/// Whether `at` starts a UTF-8 character of `text` (or is its end), as `str::is_char_boundary`.
fn is_boundary(text: &[u8], at: usize) -> bool {
    // A continuation byte is 0b10xx_xxxx.
    text.get(at).is_none_or(|&b| (b as i8) >= -0x40)
}

/// The length of a text of `text_len` bytes once `spans` are masked.
fn masked_len(text_len: usize, spans: &[Span<'_>]) -> usize {
    spans.iter().fold(text_len, |len, span| {
        len - (span.end - span.start) + "[vault:]".len() + span.name.len()
    })
}

/// `text` with `spans` masked, allocated once at its size.
pub(super) fn mask_str(text: &str, spans: &[Span<'_>]) -> String {
    let mut out = String::with_capacity(masked_len(text.len(), spans));
    let mut last = 0;
    for span in spans {
        out.push_str(&text[last..span.start]);
        out.push_str("[vault:");
        out.push_str(span.name);
        out.push(']');
        last = span.end;
    }
    out.push_str(&text[last..]);
    out
}

/// `text` with `spans` masked, in a buffer allocated once at its size and wiped when dropped.
pub(super) fn mask_bytes(text: &[u8], spans: &[Span<'_>]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(masked_len(text.len(), spans)));
    let mut last = 0;
    for span in spans {
        out.extend_from_slice(&text[last..span.start]);
        out.extend_from_slice(b"[vault:");
        out.extend_from_slice(span.name.as_bytes());
        out.push(b']');
        last = span.end;
    }
    out.extend_from_slice(&text[last..]);
    out
}

/// Adds the spans of `Basic`/`Bearer` credentials whose base64-decoded form holds a secret
/// (such as `base64(user:secret)`).
fn credentials<'m>(masks: &[&'m Masks], text: &[u8], spans: &mut Vec<Span<'m>>) {
    for scheme in [&b"basic "[..], b"bearer "] {
        let mut from = 0;
        while let Some(at) = find_ascii_case_insensitive(&text[from..], scheme) {
            let start = from + at + scheme.len();
            let len = text[start..]
                .iter()
                .take_while(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
                })
                .count();
            from = start + len;
            if len == 0 {
                continue;
            }
            let token = &text[start..start + len];
            let decoded = Zeroizing::new(
                LENIENT
                    .decode(token)
                    .or_else(|_| LENIENT_URL.decode(token))
                    .unwrap_or_default(),
            );
            if let Some(name) = masks.iter().find_map(|m| m.find_in(&decoded)) {
                spans.push(Span {
                    start,
                    end: start + len,
                    name,
                });
            }
        }
    }
}

/// Where `needle` (lowercase ASCII) first occurs in `haystack`, in any case.
fn find_ascii_case_insensitive(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut from = 0;
    while let Some(at) = memchr::memchr2(first, first.to_ascii_uppercase(), &haystack[from..]) {
        let at = from + at;
        if haystack
            .get(at..at + needle.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(needle))
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::sync::Arc;

    #[test]
    fn overlapping_matches_merge_into_the_first_name() {
        let value = SecretString::from("s\u{e9}cr\u{e9}t");
        let other = SecretString::from("cr\u{e9}t-and-more");
        let masks = Masks::build([(Arc::from("a"), &value), (Arc::from("b"), &other)]);
        // The decoded text holds `a`'s value, the text itself `b`'s, overlapping it.
        let text = "x s%C3%A9cr\u{e9}t-and-more y";
        let spans = spans(&[&masks], text.as_bytes());
        assert_eq!(spans.len(), 1);
        assert_eq!(
            &text[spans[0].start..spans[0].end],
            "s%C3%A9cr\u{e9}t-and-more"
        );
        let out = mask_str(text, &spans);
        assert_eq!(out, "x [vault:a] y");
        assert_eq!(out.len(), out.capacity());
        assert_eq!(
            mask_bytes(text.as_bytes(), &spans).as_slice(),
            out.as_bytes()
        );
    }

    #[test]
    fn boundaries_are_those_of_utf8() {
        let text = "a\u{e9}";
        for at in 0..=text.len() {
            assert_eq!(is_boundary(text.as_bytes(), at), text.is_char_boundary(at));
        }
    }

    #[test]
    fn credential_schemes_are_found_in_any_case() {
        assert_eq!(
            find_ascii_case_insensitive(b"x BeArEr y", b"bearer "),
            Some(2)
        );
        assert_eq!(find_ascii_case_insensitive(b"bbasic", b"basic "), None);
        assert_eq!(find_ascii_case_insensitive(b"b", b"basic "), None);
    }
}
