//! [`Masks`]: the automata over a set of secrets, and what they find in a text and in its
//! decoded views.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, Input, MatchKind, StartKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::base64_runs::Base64Runs;
use super::decode::Decoded;

/// How many bytes of text one byte of a secret may take at most in the forms searched: `"`
/// JSON-escaped three times takes 8 (seven backslashes and the quote); base64 takes 4
/// characters for 3 bytes, which may be percent-encoded in turn.
pub(super) const MAX_GROWTH: usize = 10;

/// How many times escapes are read back: a value escaped twice is masked, and a JSON log
/// line inside a JSON string inside another one too.
pub(super) const MAX_LEVELS: usize = 3;

/// The shortest secret searched inside decoded base64 text: shorter ones would match the
/// bytes of unrelated base64 by chance. Their whole base64 is searched instead.
pub(super) const MIN_BASE64_SECRET: usize = 6;

/// One masked range of a text, with the name to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Span<'m> {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) name: &'m str,
}

/// One automaton over a set of secrets.
///
/// Each secret is searched as it is, in the text and in its decoded views (escapes read,
/// base64 decoded); a secret too short to be searched inside decoded base64 is searched as
/// its whole base64 too.
pub(super) struct Masks {
    automaton: Option<AhoCorasick>,
    /// The secrets searched inside decoded base64, when some are too short for it (else the
    /// main automaton serves).
    base64: Option<AhoCorasick>,
    /// Which secret each pattern of `automaton` (then of `base64`) is.
    owners: Vec<u32>,
    base64_owners: Vec<u32>,
    names: Vec<Arc<str>>,
    /// Whether some secret holds a space, which form encoding writes as `+`.
    spaces: bool,
    /// The longest secret, in bytes.
    longest: usize,
    /// The fewest base64 characters that can hold a secret searched in base64.
    min_run: Option<usize>,
    /// Each proper prefix of a multi-line secret that ends at one of its line breaks,
    /// reversed: a line that ends with one may be the start of the secret.
    line_starts: Option<AhoCorasick>,
    line_starts_longest: usize,
}

fn build_automaton<'p>(patterns: impl IntoIterator<Item = &'p [u8]>) -> Option<AhoCorasick> {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        // A prefilter keeps copies of patterns that are freed without being wiped.
        .prefilter(false)
        // Built fastest, and searched fast enough for logs.
        .kind(Some(AhoCorasickKind::NoncontiguousNFA))
        .build(patterns)
        .ok()
}

impl Masks {
    /// Masks for `secrets` (`(name, value)`); empty values are skipped.
    pub(super) fn build<'a>(
        secrets: impl IntoIterator<Item = (Arc<str>, &'a SecretString)>,
    ) -> Self {
        let mut names = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        let mut short: Vec<(Zeroizing<String>, u32)> = Vec::new();
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
            values.push(value);
            spaces |= value.contains(' ');
            if value.len() < MIN_BASE64_SECRET {
                for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                    let form = Zeroizing::new(engine.encode(value));
                    if short.last().is_none_or(|(last, _)| *last != form) {
                        short.push((form, owner));
                    }
                }
            }
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
        let owners: Vec<u32> = (0..values.len() as u32)
            .chain(short.iter().map(|(_, owner)| *owner))
            .collect();
        let automaton = (!values.is_empty())
            .then(|| {
                build_automaton(
                    values
                        .iter()
                        .map(|v| v.as_bytes())
                        .chain(short.iter().map(|(form, _)| form.as_bytes())),
                )
            })
            .flatten();
        let long = || {
            values
                .iter()
                .zip(0u32..)
                .filter(|(v, _)| v.len() >= MIN_BASE64_SECRET)
        };
        let shortest = long().map(|(v, _)| v.len()).min();
        let (base64, base64_owners) = if short.is_empty() {
            (None, Vec::new())
        } else {
            let owners = long().map(|(_, owner)| owner).collect();
            (build_automaton(long().map(|(v, _)| v.as_bytes())), owners)
        };
        let line_starts_longest = line_starts.iter().map(|p| p.len()).max().unwrap_or(0);
        let line_starts = (!line_starts.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .prefilter(false)
                    .start_kind(StartKind::Anchored)
                    .build(line_starts.iter().map(|p| p.as_slice()))
                    .ok()
            })
            .flatten();
        Masks {
            automaton,
            base64,
            owners,
            base64_owners,
            longest: values.iter().map(|v| v.len()).max().unwrap_or(0),
            min_run: shortest.map(|len| (len * 4).div_ceil(3)),
            names,
            spaces,
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

    /// The fewest base64 characters that can hold a secret searched inside base64 (`None`
    /// when no secret is).
    pub(super) fn min_run(&self) -> Option<usize> {
        self.min_run
    }

    /// How many bytes of text the longest secret may take in any searched form: a text cut
    /// this far before its end cannot cut a secret the rest of the text completes.
    pub(super) fn reach(&self) -> usize {
        self.longest.saturating_mul(MAX_GROWTH)
    }

    /// Adds the spans of every secret found in `haystack`: the text itself (`view` is
    /// `None`) or a decoded view of it, whose matches are mapped back to the text.
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
            let (start, end) = match view {
                Some(view) => view.source(found.start(), found.end()),
                None => (found.start(), found.end()),
            };
            spans.push(self.span(start, end, self.owners[found.pattern().as_usize()]));
        }
    }

    /// Adds the spans of every secret found in the decoded base64 `runs` of the haystack,
    /// itself the text or a decoded `view` of it.
    pub(super) fn find_in_base64<'m>(
        &'m self,
        runs: &Base64Runs,
        view: Option<&Decoded>,
        spans: &mut Vec<Span<'m>>,
    ) {
        let (automaton, owners) = match (&self.base64, &self.automaton) {
            (Some(base64), _) => (base64, &self.base64_owners),
            (None, Some(automaton)) if self.min_run.is_some() => (automaton, &self.owners),
            _ => return,
        };
        for found in automaton.find_iter(runs.bytes.as_slice()) {
            let Some((start, end)) = runs.source(found.start(), found.end()) else {
                continue;
            };
            let (start, end) = match view {
                Some(view) => view.source(start, end),
                None => (start, end),
            };
            spans.push(self.span(start, end, owners[found.pattern().as_usize()]));
        }
    }

    fn span(&self, start: usize, end: usize, owner: u32) -> Span<'_> {
        Span {
            start,
            end,
            name: &self.names[owner as usize],
        }
    }

    /// The name of a secret some form of which is in `decoded` (a credential's decoded
    /// token), if any.
    pub(super) fn find_in(&self, decoded: &[u8]) -> Option<&str> {
        let found = self.automaton.as_ref()?.find(decoded)?;
        Some(&self.names[self.owners[found.pattern().as_usize()] as usize])
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
        assert_eq!(m.reach(), "abcdef".len() * MAX_GROWTH);
        // "abc" is too short to be searched inside base64: its own base64 is searched.
        let mut spans = Vec::new();
        m.find(b"YWJj", None, &mut spans);
        assert_eq!(spans.len(), 1);
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
