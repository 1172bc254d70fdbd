//! Base64 read back: each run of base64 characters in a text, decoded from each of its four
//! first characters into one buffer, so that a secret anywhere inside a base64-encoded text (a JSON body,
//! `user:secret`, a token) is found as it is, whatever its alignment and alphabet.
//!
//! A secret's base64 depends on where it starts in the encoded text (its bits begin at the
//! first, third or fifth bit of a character) and on the alphabet; rather than search six
//! forms of every secret, the text's base64 is decoded and searched for the secret itself.
//! One of the four starting points is in step with the encoder's groups of four characters,
//! and there every decoded byte is the original byte. A decoded byte maps back to the two
//! characters that carry its bits, so the characters that mix a secret's bits with its
//! neighbours' are masked with it.

use zeroize::{Zeroize, Zeroizing};

/// The value of a base64 character, in either alphabet (`+/` or `-_`).
fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// The base64 runs of a text, decoded from each of their four first characters into one
/// buffer (searched in one pass), with where each decoded stream came from.
pub(super) struct Base64Runs {
    pub(super) bytes: Zeroizing<Vec<u8>>,
    streams: Vec<Stream>,
}

/// One run decoded from one of its first characters.
struct Stream {
    /// Where its bytes start in the buffer.
    at: usize,
    /// The text offset of the character it was decoded from.
    first: usize,
    /// The run's end, and its end with its `=` padding.
    end: usize,
    padded_end: usize,
}

impl Base64Runs {
    /// The runs of base64 characters in `text` at least `min_run` long, but those `skip`
    /// says were searched already, if there are any.
    pub(super) fn new(
        text: &[u8],
        min_run: usize,
        skip: impl Fn(usize, usize) -> bool,
    ) -> Option<Self> {
        let min_run = min_run.max(2);
        // The runs first, so that the buffer is allocated once at its size.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        while at < text.len() {
            if sextet(text[at]).is_none() {
                at += 1;
                continue;
            }
            let start = at;
            while at < text.len() && sextet(text[at]).is_some() {
                at += 1;
            }
            if at - start >= min_run && !skip(start, at) {
                runs.push((start, at));
            }
        }
        if runs.is_empty() {
            return None;
        }
        let phases = |(start, end): (usize, usize)| 0..4.min(end - start - min_run + 1);
        let size = runs
            .iter()
            .flat_map(|&run| phases(run).map(move |phase| (run.1 - run.0 - phase) * 6 / 8))
            .sum();
        let mut decoded = Base64Runs {
            bytes: Zeroizing::new(Vec::with_capacity(size)),
            streams: Vec::new(),
        };
        for (start, end) in runs {
            let padded_end = end
                + text[end..]
                    .iter()
                    .take(2)
                    .take_while(|&&b| b == b'=')
                    .count();
            for phase in phases((start, end)) {
                decoded.streams.push(Stream {
                    at: decoded.bytes.len(),
                    first: start + phase,
                    end,
                    padded_end,
                });
                decode(&text[start + phase..end], &mut decoded.bytes);
            }
        }
        debug_assert_eq!(decoded.bytes.len(), decoded.bytes.capacity());
        Some(decoded)
    }

    /// The range of the text whose characters carry decoded bytes `start..end`, unless they
    /// straddle two streams (then they are no decoded text at all).
    pub(super) fn source(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        let index = self
            .streams
            .partition_point(|s| s.at <= start)
            .checked_sub(1)?;
        let stream = &self.streams[index];
        if self
            .streams
            .get(index + 1)
            .is_some_and(|next| next.at < end)
        {
            return None;
        }
        let char_of = |byte: usize| {
            let byte = byte - stream.at;
            stream.first + byte / 3 * 4 + byte % 3
        };
        let last = char_of(end - 1) + 2;
        Some((
            char_of(start),
            if last >= stream.end {
                stream.padded_end
            } else {
                last
            },
        ))
    }
}

/// Appends the bytes `chars` (base64 characters, no padding) decode to.
fn decode(chars: &[u8], out: &mut Vec<u8>) {
    let mut bits: u32 = 0;
    let mut count = 0;
    for &c in chars {
        bits = (bits << 6) | u32::from(sextet(c).unwrap_or(0));
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    bits.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    /// The decoded bytes of `text`, with the text range each byte maps to.
    fn decoded(text: &str, min_run: usize) -> (Vec<u8>, Vec<Option<(usize, usize)>>) {
        let Some(runs) = Base64Runs::new(text.as_bytes(), min_run, |_, _| false) else {
            return (Vec::new(), Vec::new());
        };
        let map = (0..runs.bytes.len())
            .map(|i| runs.source(i, i + 1))
            .collect();
        (runs.bytes.to_vec(), map)
    }

    #[test]
    fn a_secret_is_found_at_every_alignment_in_either_alphabet() {
        let secret = b"correct horse battery?>";
        for prefix in ["", "x", "xy", "xyz", "{\"k\":\""] {
            let body = [prefix.as_bytes(), secret, b"\"}"].concat();
            for encoded in [STANDARD.encode(&body), URL_SAFE_NO_PAD.encode(&body)] {
                // Glued to a word before it: the run starts before the base64 does.
                let text = format!("key:{encoded} ok");
                let (bytes, map) = decoded(&text, 8);
                let at = bytes.windows(secret.len()).position(|w| w == secret);
                let at = at.expect("one phase is in step");
                let (start, _) = map[at].unwrap();
                let (_, end) = map[at + secret.len() - 1].unwrap();
                // The characters carrying any of the secret's bits, exactly.
                let offset = 4 + prefix.len() * 4 / 3;
                assert_eq!(start, offset, "{prefix:?}");
                assert_eq!(end, 4 + ((prefix.len() + secret.len()) * 4).div_ceil(3));
            }
        }
    }

    #[test]
    fn a_run_to_its_end_takes_its_padding_and_short_runs_are_skipped() {
        let text = format!("t={} x", STANDARD.encode("secret1"));
        let (bytes, map) = decoded(&text, 4);
        assert_eq!(&bytes[..7], b"secret1");
        assert_eq!(
            map[6],
            Some((10, 14)),
            "the last byte's characters and `==`"
        );
        assert!(decoded("a bc def", 4).0.is_empty());
        let runs = Base64Runs::new(text.as_bytes(), 4, |_, _| false).unwrap();
        assert_eq!(runs.source(6, 8), None, "across two streams");
    }
}
