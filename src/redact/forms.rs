//! The forms a secret value is searched in: as it is, its base64, and its bits inside a
//! longer base64 text at each of the three alignments.
//!
//! Escaped forms (percent-encoding, JSON, form encoding) are not listed here: the text's
//! escapes are read back instead ([`decode`](super::decode)), so that every mix of escaped
//! and plain characters is found with one pattern.
//!
//! A secret inside a longer text that is base64-encoded (a JSON body, `user:secret`) shows
//! up as a run of base64 characters that depends on where the secret starts: its bits begin
//! at the first, third or fifth bit of a base64 character. For each of the three offsets the
//! characters made of the secret's bits alone are a fixed string; the character before them
//! (for offsets 1 and 2) and after them (unless the secret ends on a character boundary) mix
//! the secret's bits with its neighbours', and are masked with it ([`Form::lead`],
//! [`Form::trail`]).

use base64::Engine as _;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// The fewest base64 characters a secret's inner form (at an offset inside a longer base64
/// text) must have to be searched: shorter runs would mask unrelated base64 text.
pub(super) const MIN_INNER: usize = 6;

/// One searched form of a secret.
pub(super) struct Form {
    /// The form's text, allocated at its exact size.
    pub(super) text: Zeroizing<String>,
    /// Whether the base64 character just before a match carries some of the secret's bits.
    pub(super) lead: bool,
    /// Whether the base64 character just after a match carries some of the secret's bits.
    pub(super) trail: bool,
}

impl Form {
    fn whole(text: String) -> Self {
        Form {
            text: Zeroizing::new(text),
            lead: false,
            trail: false,
        }
    }
}

/// Calls `push` with each distinct form of `value`: as it is, base64 in both alphabets
/// padded or not, and (for values long enough) its inner base64 at each alignment in both
/// alphabets.
pub(super) fn forms(value: &str, mut push: impl FnMut(Form)) {
    let bytes = value.as_bytes();
    let mut found: Vec<Form> = Vec::with_capacity(11);
    found.push(Form::whole(value.to_owned()));
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        found.push(Form::whole(engine.encode(bytes)));
    }
    for offset in 0..3 {
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            if let Some(form) = inner(&engine, bytes, offset) {
                found.push(form);
            }
        }
    }
    // Repeats (an alphabet with nothing to change, an inner form that is the whole one) are
    // searched once: the first is kept, the others wiped as `found` is dropped.
    let repeats: Vec<bool> = (0..found.len())
        .map(|at| {
            found[..at]
                .iter()
                .any(|earlier| earlier.text == found[at].text)
        })
        .collect();
    for (form, repeat) in found.into_iter().zip(repeats) {
        if !repeat {
            push(form);
        }
    }
}

/// The base64 characters made of `value`'s bits alone when it starts `offset` bytes (0, 1 or
/// 2) into a longer base64-encoded text, if there are at least [`MIN_INNER`] of them.
fn inner(engine: &GeneralPurpose, value: &[u8], offset: usize) -> Option<Form> {
    let total = offset + value.len();
    // Characters 0..first carry the bytes before the secret (the last of them mixes both);
    // characters end.. carry the bytes after it (or mix them in).
    let first = (offset * 8).div_ceil(6);
    let end = total * 8 / 6;
    if end < first + MIN_INNER {
        return None;
    }
    let mut padded = Zeroizing::new(vec![0u8; total]);
    padded[offset..].copy_from_slice(value);
    let mut encoded = Zeroizing::new(vec![0u8; total.div_ceil(3) * 4]);
    let written = engine
        .encode_slice(padded.as_slice(), encoded.as_mut_slice())
        .ok()?;
    let run = encoded.get(first..end.min(written))?;
    let mut text = String::with_capacity(run.len());
    text.extend(run.iter().map(|&b| char::from(b)));
    Some(Form {
        text: Zeroizing::new(text),
        lead: offset > 0,
        trail: !total.is_multiple_of(3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(value: &str) -> Vec<(String, bool, bool)> {
        let mut out = Vec::new();
        forms(value, |f| out.push((f.text.to_string(), f.lead, f.trail)));
        out
    }

    fn whole(value: &str) -> Vec<String> {
        let mut whole = vec![value.to_owned()];
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            whole.push(engine.encode(value));
        }
        whole
    }

    #[test]
    fn the_value_and_its_whole_base64_are_forms() {
        let value = "p@ss?>~~";
        let got: Vec<String> = all(value).into_iter().map(|(form, _, _)| form).collect();
        assert_eq!(got[0], value);
        for form in whole(value) {
            assert!(got.contains(&form), "{form}");
        }
    }

    /// Each inner form is found in the base64 of the value behind 0, 1 or 2 bytes and before
    /// anything, and covers exactly the characters the value alone decides.
    #[test]
    fn inner_forms_are_found_at_every_alignment() {
        // 22 bytes: the value does not end on a base64 character's boundary.
        let value = "correct horse battery!";
        let whole = whole(value);
        let inner: Vec<_> = all(value)
            .into_iter()
            .filter(|(form, _, _)| !whole.contains(form))
            .collect();
        assert_eq!(
            inner.len(),
            3,
            "three alignments (both alphabets agree here)"
        );
        for prefix in ["", "x", "xy", "xyz", "{\"k\":\""] {
            for suffix in ["", "!", "\"}", "???"] {
                let text = STANDARD.encode(format!("{prefix}{value}{suffix}"));
                let hit = inner
                    .iter()
                    .find(|(form, _, _)| text.contains(form.as_str()));
                let (form, lead, trail) = hit.expect("an inner form matches");
                let at = text.find(form.as_str()).unwrap();
                assert_eq!(at - usize::from(*lead), prefix.len() * 4 / 3, "{prefix:?}");
                let end = at + form.len() + usize::from(*trail);
                assert_eq!(end, ((prefix.len() + value.len()) * 4).div_ceil(3));
            }
        }
    }

    #[test]
    fn repeats_are_dropped_and_short_values_have_no_inner_forms() {
        // "abc": the value, then `YWJj` in every alphabet and padding.
        assert_eq!(all("abc").len(), 2);
        assert!(all("abcdefg").iter().any(|(_, _, trail)| *trail));
    }
}
