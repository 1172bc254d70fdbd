//! [`Masks`]: one automaton over every searched form of a set of secrets, and what it finds
//! in a text.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, Input, MatchKind, StartKind};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::decode::Decoded;
use super::forms::{Form, forms};

/// How many bytes of text one byte of a searched form may take at most once escaped, up to
/// [`MAX_LEVELS`] times: `"` JSON-escaped three times is `\\\\\\\"` (8 bytes), `@` is
/// `%252540` (7).
pub(super) const MAX_GROWTH: usize = 8;

/// How many times escapes are read back: a value escaped twice is masked, and a JSON log
/// line inside a JSON string inside another one too.
pub(super) const MAX_LEVELS: usize = 3;

/// One masked range of a text, with the name to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Span<'m> {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) name: &'m str,
}

/// What a pattern of the automaton is.
#[derive(Clone, Copy)]
struct Pattern {
    /// Which secret (an index into `names`).
    owner: u32,
    /// Whether the base64 character before or after a match carries some of its bits.
    lead: bool,
    trail: bool,
}

/// One automaton over the forms of a set of secrets.
pub(super) struct Masks {
    automaton: Option<AhoCorasick>,
    patterns: Vec<Pattern>,
    names: Vec<Arc<str>>,
    /// Whether some secret holds a space, which form encoding writes as `+`.
    spaces: bool,
    /// The longest searched form, in bytes.
    longest: usize,
    /// Each proper prefix of a multi-line secret that ends at one of its line breaks,
    /// reversed: a line that ends with one may be the start of the secret.
    line_starts: Option<AhoCorasick>,
    line_starts_longest: usize,
}

fn builder(kind: MatchKind) -> aho_corasick::AhoCorasickBuilder {
    let mut builder = AhoCorasick::builder();
    builder
        .match_kind(kind)
        // A prefilter keeps copies of patterns that are freed without being wiped.
        .prefilter(false)
        // Built fastest, and searched fast enough for logs.
        .kind(Some(AhoCorasickKind::NoncontiguousNFA));
    builder
}

impl Masks {
    /// Masks for `secrets` (`(name, value)`); empty values are skipped.
    pub(super) fn build<'a>(
        secrets: impl IntoIterator<Item = (Arc<str>, &'a SecretString)>,
    ) -> Self {
        let mut names = Vec::new();
        let mut all: Vec<(Form, u32)> = Vec::new();
        let mut line_starts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut spaces = false;
        for (name, value) in secrets {
            let value = value.expose_secret();
            let Ok(owner) = u32::try_from(names.len()) else {
                break;
            };
            if value.is_empty() {
                continue;
            }
            names.push(name);
            spaces |= value.contains(' ');
            forms(value, |form| all.push((form, owner)));
            let bytes = value.as_bytes();
            for (at, _) in bytes
                .iter()
                .enumerate()
                .filter(|&(at, &b)| b == b'\n' && at + 1 < bytes.len())
            {
                let mut reversed = Zeroizing::new(bytes[..=at].to_vec());
                reversed.reverse();
                line_starts.push(reversed);
            }
        }
        let longest = all
            .iter()
            .map(|(form, _)| form.text.len())
            .max()
            .unwrap_or(0);
        let patterns = all
            .iter()
            .map(|(form, owner)| Pattern {
                owner: *owner,
                lead: form.lead,
                trail: form.trail,
            })
            .collect();
        let automaton = (!all.is_empty())
            .then(|| {
                builder(MatchKind::LeftmostLongest)
                    .build(all.iter().map(|(form, _)| form.text.as_bytes()))
                    .ok()
            })
            .flatten();
        let line_starts_longest = line_starts.iter().map(|p| p.len()).max().unwrap_or(0);
        let line_starts = (!line_starts.is_empty())
            .then(|| {
                builder(MatchKind::LeftmostLongest)
                    .start_kind(StartKind::Anchored)
                    .build(line_starts.iter().map(|p| p.as_slice()))
                    .ok()
            })
            .flatten();
        Masks {
            automaton,
            patterns,
            names,
            spaces,
            longest,
            line_starts,
            line_starts_longest,
        }
    }

    /// The names of the secrets masked, one per value.
    pub(super) fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// Whether some secret holds a space (so that `+` in a text may be one).
    pub(super) fn spaces(&self) -> bool {
        self.spaces
    }

    /// How many bytes of text the longest form may take once escaped: a text cut this far
    /// before its end cannot cut a secret the rest of the text completes.
    pub(super) fn reach(&self) -> usize {
        self.longest.saturating_mul(MAX_GROWTH)
    }

    /// Adds the spans of every form found in `haystack`: the text itself (`view` is `None`)
    /// or a decoded view of it, whose matches are mapped back to the text.
    pub(super) fn find<'m>(
        &'m self,
        haystack: &[u8],
        view: Option<&Decoded>,
        spans: &mut Vec<Span<'m>>,
    ) {
        let Some(automaton) = &self.automaton else {
            return;
        };
        for found in automaton.find_iter(haystack) {
            let pattern = self.patterns[found.pattern().as_usize()];
            let (mut start, mut end) = (found.start(), found.end());
            if pattern.lead && start > 0 && is_base64(haystack[start - 1]) {
                start -= 1;
            }
            if pattern.trail && end < haystack.len() && is_base64(haystack[end]) {
                end += 1;
            }
            let (start, end) = match view {
                Some(view) => view.source(start, end),
                None => (start, end),
            };
            spans.push(Span {
                start,
                end,
                name: &self.names[pattern.owner as usize],
            });
        }
    }

    /// The name of a secret some form of which is in `decoded` (a credential's decoded
    /// token), if any.
    pub(super) fn find_in(&self, decoded: &[u8]) -> Option<&str> {
        let found = self.automaton.as_ref()?.find(decoded)?;
        let owner = self.patterns[found.pattern().as_usize()].owner;
        Some(&self.names[owner as usize])
    }

    /// How many bytes at the end of `text` (which ends with a line break) may be the first
    /// lines of a multi-line secret: they are held back until the rest of the secret comes.
    pub(super) fn held_back(&self, text: &[u8]) -> usize {
        let Some(line_starts) = &self.line_starts else {
            return 0;
        };
        let tail = &text[text.len().saturating_sub(self.line_starts_longest)..];
        let mut reversed = Zeroizing::new(tail.to_vec());
        reversed.reverse();
        line_starts
            .find(Input::new(reversed.as_slice()).anchored(Anchored::Yes))
            .map_or(0, |found| found.end())
    }
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masks(secrets: &[(&str, &str)]) -> Masks {
        let values: Vec<(Arc<str>, SecretString)> = secrets
            .iter()
            .map(|(n, v)| (Arc::from(*n), SecretString::from(*v)))
            .collect();
        Masks::build(values.iter().map(|(n, v)| (Arc::clone(n), v)))
    }

    #[test]
    fn the_longest_form_wins_and_names_are_kept_apart() {
        let m = masks(&[("short", "abc"), ("long", "abcdef"), ("empty", "")]);
        let mut spans = Vec::new();
        m.find(b"x abcdef y abc", None, &mut spans);
        let found: Vec<_> = spans.iter().map(|s| (s.start, s.end, s.name)).collect();
        assert_eq!(found, [(2, 8, "long"), (11, 14, "short")]);
        assert_eq!(m.names().len(), 2);
        // The longest form is the base64 of "abcdef", `YWJjZGVm`.
        assert_eq!(m.reach(), 8 * MAX_GROWTH);
    }

    #[test]
    fn the_first_lines_of_a_multi_line_secret_are_held_back() {
        let m = masks(&[("key", "-----BEGIN-----\nAAAA\nBBBB\n-----END-----\n")]);
        assert_eq!(m.held_back(b"log line\n-----BEGIN-----\n"), 16);
        assert_eq!(m.held_back(b"log line\n-----BEGIN-----\nAAAA\n"), 21);
        assert_eq!(m.held_back(b"log line\nAAAA\n"), 0);
        assert_eq!(masks(&[("k", "one line")]).held_back(b"one\n"), 0);
    }
}
