//! Redactor: masks secret values in text, in the forms they take on the wire.

use std::fmt;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::utf8_percent_encode;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::escape::{COMPONENT, json_escape};
use crate::vault::{EntryValue, Vault};

/// Masks secret values in text (logs, captured requests, error bodies), in the forms they
/// take on the wire, not only as they are.
///
/// Each secret is searched as it is, percent-encoded (as a URL component and as a form
/// value), base64-encoded (standard and URL-safe, padded or not), JSON-escaped, and inside a
/// `Basic` authorization credential (which is decoded and searched). Every match becomes
/// `[vault:NAME]`. All forms of all secrets are searched in one pass (aho-corasick).
///
/// ```
/// use request_vault::Redactor;
///
/// let redactor = Redactor::new([("api-key", "p@ss word")]);
/// assert_eq!(
///     redactor.redact("GET /?k=p%40ss%20word HTTP/1.1\nX-Key: p@ss word"),
///     "GET /?k=[vault:api-key] HTTP/1.1\nX-Key: [vault:api-key]"
/// );
/// ```
pub struct Redactor {
    /// All encoded forms of all secrets; pattern `i` belongs to `owners[i]`.
    forms: Option<AhoCorasick>,
    owners: Vec<usize>,
    /// The raw values alone, for searching decoded `Basic` credentials.
    raw: Option<AhoCorasick>,
    raw_owners: Vec<usize>,
    names: Vec<String>,
}

impl Redactor {
    /// A redactor for the given `(name, value)` pairs. Empty values are ignored.
    pub fn new<N, V>(secrets: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<SecretString>,
    {
        let mut names = Vec::new();
        let mut forms: Vec<Zeroizing<String>> = Vec::new();
        let mut owners = Vec::new();
        let mut raw: Vec<Zeroizing<String>> = Vec::new();
        let mut raw_owners = Vec::new();
        for (name, value) in secrets {
            let value: SecretString = value.into();
            let value = value.expose_secret();
            if value.is_empty() {
                continue;
            }
            let owner = names.len();
            names.push(name.into());
            raw.push(Zeroizing::new(value.to_owned()));
            raw_owners.push(owner);
            for form in encodings(value) {
                if !forms.iter().any(|f| **f == *form) {
                    forms.push(form);
                    owners.push(owner);
                }
            }
        }
        let build = |patterns: &[Zeroizing<String>]| {
            (!patterns.is_empty()).then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(patterns.iter().map(|p| p.as_bytes()))
                    .ok()
            })?
        };
        Redactor {
            forms: build(&forms),
            owners,
            raw: build(&raw),
            raw_owners,
            names,
        }
    }

    /// `text` with every known secret, in every form it knows, replaced by `[vault:NAME]`.
    pub fn redact(&self, text: &str) -> String {
        let text = self.redact_basic(text);
        let Some(forms) = &self.forms else {
            return text;
        };
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for found in forms.find_iter(&text) {
            out.push_str(&text[last..found.start()]);
            self.marker(self.owners[found.pattern().as_usize()], &mut out);
            last = found.end();
        }
        out.push_str(&text[last..]);
        out
    }

    /// Replaces `Basic <credentials>` whose decoded form holds a secret.
    fn redact_basic(&self, text: &str) -> String {
        let Some(raw) = &self.raw else {
            return text.to_owned();
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = find_ascii_case_insensitive(rest, "basic ") {
            let start = at + "basic ".len();
            let len = rest[start..]
                .bytes()
                .take_while(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
                })
                .count();
            out.push_str(&rest[..start]);
            let token = &rest[start..start + len];
            let decoded = Zeroizing::new(
                STANDARD
                    .decode(token)
                    .or_else(|_| URL_SAFE.decode(token))
                    .unwrap_or_default(),
            );
            match raw.find(decoded.as_slice()) {
                Some(found) if len > 0 => {
                    self.marker(self.raw_owners[found.pattern().as_usize()], &mut out)
                }
                _ => out.push_str(token),
            }
            rest = &rest[start + len..];
        }
        out.push_str(rest);
        out
    }

    fn marker(&self, owner: usize, out: &mut String) {
        out.push_str("[vault:");
        out.push_str(&self.names[owner]);
        out.push(']');
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

/// The forms a value takes on the wire.
fn encodings(value: &str) -> Vec<Zeroizing<String>> {
    let mut json = String::new();
    json_escape(value, &mut json);
    let bytes = value.as_bytes();
    [
        value.to_owned(),
        utf8_percent_encode(value, COMPONENT).to_string(),
        url::form_urlencoded::byte_serialize(bytes).collect(),
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        json,
    ]
    .into_iter()
    .map(Zeroizing::new)
    .collect()
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
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

    #[test]
    fn nothing_to_mask_is_fine() {
        let r = Redactor::new(Vec::<(String, String)>::new());
        assert!(r.is_empty());
        assert_eq!(r.redact("plain Basic xyz"), "plain Basic xyz");
    }
}
