//! Redactor: masks secret values in text, in the forms they take on the wire.

use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::vault::{EntryValue, Vault};

/// Masks secret values in text (logs, captured requests, error bodies), in the forms they
/// take on the wire, not only as they are.
///
/// Each secret is searched as it is and base64-encoded (standard and URL-safe, padded or
/// not), in the text as it is and in the text with its escapes read: percent-encoding in
/// either case (`%2F`, `%2f`), wholly or partly, form encoding's `+` for a space, and JSON's
/// escapes (`\u0040`, `\/`, `\"`). A `Basic` or `Bearer` credential is base64-decoded and
/// searched too (`base64(user:secret)`). Every match becomes `[vault:NAME]`.
///
/// Building a redactor costs time linear in the total size of the secrets; redacting is one
/// pass per form of the text (aho-corasick).
///
/// ```
/// use request_vault::Redactor;
///
/// let redactor = Redactor::new([("api-key", "p@ss word")]);
/// assert_eq!(
///     redactor.redact("GET /?k=p%40ss%20word HTTP/1.1\nX-Key: p@ss word"),
///     "GET /?k=[vault:api-key] HTTP/1.1\nX-Key: [vault:api-key]"
/// );
/// assert_eq!(redactor.redact(r#"{"k":"p\u0040ss word"}"#), r#"{"k":"[vault:api-key]"}"#);
/// ```
pub struct Redactor {
    /// Every searched form of every secret; pattern `i` belongs to `owners[i]`.
    forms: Option<AhoCorasick>,
    owners: Vec<usize>,
    names: Vec<String>,
    /// Whether some secret holds a space, which form encoding writes as `+`.
    spaces: bool,
}

/// Base64 in either alphabet's padding habits, for decoding credentials.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Redactor {
    /// A redactor for the given `(name, value)` pairs. Empty values are ignored.
    pub fn new<N, V>(secrets: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<SecretString>,
    {
        let mut names = Vec::new();
        let mut forms: Vec<(Zeroizing<String>, usize)> = Vec::new();
        let mut spaces = false;
        for (name, value) in secrets {
            let value: SecretString = value.into();
            let value = value.expose_secret();
            if value.is_empty() {
                continue;
            }
            let owner = names.len();
            names.push(name.into());
            spaces |= value.contains(' ');
            forms.extend(encodings(value).into_iter().map(|form| (form, owner)));
        }
        // Sorting then dropping repeats is O(n log n); the search the old code did for each
        // form among all earlier ones was quadratic.
        forms.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        forms.dedup_by(|a, b| a.0.as_str() == b.0.as_str());
        let owners = forms.iter().map(|(_, owner)| *owner).collect();
        let automaton = (!forms.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    // A prefilter keeps copies of patterns that are freed without being wiped.
                    .prefilter(false)
                    // Built fastest, and searched fast enough for logs.
                    .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                    .build(forms.iter().map(|(p, _)| p.as_bytes()))
                    .ok()
            })
            .flatten();
        Redactor {
            forms: automaton,
            owners,
            names,
            spaces,
        }
    }

    /// `text` with every known secret, in every form it knows, replaced by `[vault:NAME]`.
    pub fn redact(&self, text: &str) -> String {
        let Some(forms) = &self.forms else {
            return text.to_owned();
        };
        // Spans of the original text: (start, end, owner).
        let mut spans: Vec<(usize, usize, usize)> = forms
            .find_iter(text)
            .map(|m| (m.start(), m.end(), self.owners[m.pattern().as_usize()]))
            .collect();
        if text.bytes().any(|b| matches!(b, b'%' | b'\\' | b'+')) {
            for plus_is_space in [false, true] {
                if plus_is_space && !(self.spaces && text.contains('+')) {
                    continue;
                }
                let view = Decoded::new(text, plus_is_space);
                for m in forms.find_iter(view.bytes.as_slice()) {
                    let (start, end) = (view.starts[m.start()], view.ends[m.end() - 1]);
                    if text.is_char_boundary(start) && text.is_char_boundary(end) {
                        spans.push((start, end, self.owners[m.pattern().as_usize()]));
                    }
                }
            }
        }
        self.credentials(text, forms, &mut spans);
        spans.sort_unstable();
        // Merges overlapping spans, then writes the output once, at its final size.
        let mut merged: Vec<(usize, usize, usize)> = Vec::with_capacity(spans.len());
        for (start, end, owner) in spans {
            match merged.last_mut() {
                Some(last) if start < last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end, owner)),
            }
        }
        let marker_len = |owner: usize| "[vault:]".len() + self.names[owner].len();
        let len = text.len()
            + merged
                .iter()
                .map(|&(_, _, owner)| marker_len(owner))
                .sum::<usize>()
            - merged.iter().map(|&(s, e, _)| e - s).sum::<usize>();
        let mut out = String::with_capacity(len);
        let mut last = 0;
        for (start, end, owner) in merged {
            out.push_str(&text[last..start]);
            out.push_str("[vault:");
            out.push_str(&self.names[owner]);
            out.push(']');
            last = end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// Adds the spans of `Basic`/`Bearer` credentials whose base64-decoded form holds a
    /// secret (such as `base64(user:secret)`).
    fn credentials(&self, text: &str, forms: &AhoCorasick, spans: &mut Vec<(usize, usize, usize)>) {
        let bytes = text.as_bytes();
        for scheme in ["basic ", "bearer "] {
            let mut from = 0;
            while let Some(at) = find_ascii_case_insensitive(&bytes[from..], scheme.as_bytes()) {
                let start = from + at + scheme.len();
                let len = bytes[start..]
                    .iter()
                    .take_while(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
                    })
                    .count();
                from = start + len.max(1).min(bytes.len() - start);
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
                if let Some(found) = forms.find(decoded.as_slice()) {
                    spans.push((start, start + len, self.owners[found.pattern().as_usize()]));
                }
                if from >= bytes.len() {
                    break;
                }
            }
        }
    }

    /// How many secrets the redactor masks.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the redactor masks nothing.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A text with its escapes read (percent-encoding, JSON escapes, and `+` as a space when
/// asked), with where each decoded byte came from. Decoding never lengthens a text, so the
/// buffer is sized once.
struct Decoded {
    bytes: Zeroizing<Vec<u8>>,
    /// For each decoded byte, where its escape starts and ends in the text.
    starts: Vec<usize>,
    ends: Vec<usize>,
}

impl Decoded {
    fn new(text: &str, plus_is_space: bool) -> Self {
        let input = text.as_bytes();
        let mut view = Decoded {
            bytes: Zeroizing::new(Vec::with_capacity(input.len())),
            starts: Vec::with_capacity(input.len()),
            ends: Vec::with_capacity(input.len()),
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
            for &b in out {
                view.bytes.push(b);
                view.starts.push(i);
                view.ends.push(i + used);
            }
            i += used;
        }
        view
    }
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
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
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

/// The forms a value is searched in (besides those its escapes are read back from): as it
/// is, and base64 in both alphabets, padded or not. Each is allocated at its exact size.
fn encodings(value: &str) -> [Zeroizing<String>; 5] {
    let bytes = value.as_bytes();
    [
        Zeroizing::new(value.to_owned()),
        Zeroizing::new(STANDARD.encode(bytes)),
        Zeroizing::new(STANDARD_NO_PAD.encode(bytes)),
        Zeroizing::new(URL_SAFE.encode(bytes)),
        Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes)),
    ]
}

fn find_ascii_case_insensitive(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.names)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A [`Redactor`] over the values known now: every enabled local secret, and every linked
    /// secret whose value is cached.
    pub fn redactor(&self) -> Redactor {
        let state = self.read();
        let secrets: Vec<(String, SecretString)> = state
            .entries
            .iter()
            .filter_map(|(name, entry)| {
                let value = match &entry.value {
                    EntryValue::Local(value) => Some(value.clone()),
                    EntryValue::Linked(key) => self.inner.resolver.cached(key),
                }?;
                Some((name.clone(), value))
            })
            .collect();
        drop(state);
        Redactor::new(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escape::{COMPONENT, json_escape};
    use percent_encoding::utf8_percent_encode;

    const SECRET: &str = "s3cr3t/+&= \"é";

    fn redactor() -> Redactor {
        Redactor::new([("api-key", SECRET)])
    }

    #[test]
    fn every_encoded_form_is_masked() {
        let r = redactor();
        let forms = [
            SECRET.to_owned(),
            utf8_percent_encode(SECRET, COMPONENT).to_string(),
            url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
            STANDARD.encode(SECRET),
            STANDARD_NO_PAD.encode(SECRET),
            URL_SAFE.encode(SECRET),
            URL_SAFE_NO_PAD.encode(SECRET),
            serde_json::to_string(SECRET)
                .unwrap()
                .trim_matches('"')
                .to_owned(),
        ];
        for form in forms {
            let text = format!("before {form} after");
            assert_eq!(r.redact(&text), "before [vault:api-key] after", "{form}");
        }
    }

    #[test]
    fn basic_credentials_are_decoded_and_masked() {
        let r = redactor();
        let header = format!(
            "Authorization: Basic {}\n",
            STANDARD.encode(format!("user:{SECRET}"))
        );
        assert_eq!(r.redact(&header), "Authorization: Basic [vault:api-key]\n");
        let unrelated = format!("authorization: basic {}", STANDARD.encode("user:other"));
        assert_eq!(r.redact(&unrelated), unrelated);
    }

    #[test]
    fn longest_secret_wins_and_names_are_kept_apart() {
        let r = Redactor::new([("short", "abc"), ("long", "abcdef")]);
        assert_eq!(r.redact("x abcdef y abc"), "x [vault:long] y [vault:short]");
        assert_eq!(r.len(), 2);
        assert!(!format!("{r:?}").contains("abc"));
    }

    /// The variants issue 15 found unmasked: lowercase percent-encoding, partly encoded
    /// values, JSON's `\u0040` and `\/`, base64 of `user:secret` after `Bearer`.
    #[test]
    fn escapes_in_any_case_or_mix_are_read() {
        let r = Redactor::new([("k", "p@ss/w rd")]);
        let mut json = String::new();
        json_escape("p@ss/w rd", &mut json);
        for form in [
            "p%40ss%2fw%20rd",
            "p%40ss%2Fw%20rd",
            "p@ss%2fw rd",
            "p%40ss/w+rd",
            "p\\u0040ss\\/w rd",
            "p\\u0040ss\\u002fw\\u0020rd",
            json.as_str(),
        ] {
            let text = format!("x={form}&y=1");
            assert_eq!(r.redact(&text), "x=[vault:k]&y=1", "{form}");
        }
        let bearer = format!(
            "Authorization: Bearer {}",
            STANDARD.encode("user:p@ss/w rd")
        );
        assert_eq!(r.redact(&bearer), "Authorization: Bearer [vault:k]");
        let unpadded = format!(
            "authorization: BASIC {}",
            STANDARD_NO_PAD.encode("u:p@ss/w rd")
        );
        assert_eq!(r.redact(&unpadded), "authorization: BASIC [vault:k]");
        assert_eq!(r.redact("100% \\ plain"), "100% \\ plain");
    }

    #[test]
    fn nothing_to_mask_is_fine() {
        let r = Redactor::new(Vec::<(String, String)>::new());
        assert!(r.is_empty());
        assert_eq!(r.redact("plain Basic xyz"), "plain Basic xyz");
    }
}
