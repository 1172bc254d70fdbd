//! Where each name of a short list stands, found by hash: a template's index of its own
//! names, and the hash of the template cache's keys.
//!
//! Names are short and an index holds only one template's names, so a keyed hash would only
//! cost time here; the table keeps positions in the list (the names themselves are not
//! copied into it).

use std::hash::Hasher;

/// A word-at-a-time folded-multiply hash, for short names and for samples of a text.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NameHasher(u64);

impl NameHasher {
    const SEED: u64 = 0xf135_7aea_2e62_a9c5;

    /// Folded multiply: the full 128-bit product, its halves xored, so that every input
    /// bit reaches every output bit (a plain multiply never carries high bits downwards).
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * u128::from(Self::SEED);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut buffer = [0u8; 8];
            buffer.copy_from_slice(word);
            self.add(u64::from_le_bytes(buffer));
        }
        let rest = words.remainder();
        // The last 1–7 bytes as one word, from two overlapping reads (no copy loop).
        let word = match rest.len() {
            0 => return,
            1..=3 => {
                let first = u64::from(rest[0]);
                let middle = u64::from(rest[rest.len() / 2]);
                let last = u64::from(rest[rest.len() - 1]);
                first | (middle << 8) | (last << 16)
            }
            _ => {
                let read = |at: usize| {
                    let mut four = [0u8; 4];
                    four.copy_from_slice(&rest[at..at + 4]);
                    u64::from(u32::from_le_bytes(four))
                };
                read(0) | (read(rest.len() - 4) << 32)
            }
        };
        self.add(word ^ ((rest.len() as u64) << 59));
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// The hash of one name.
fn hash(name: &str) -> u64 {
    let mut hasher = NameHasher::default();
    hasher.write(name.as_bytes());
    hasher.finish()
}

/// Whether `a` and `b` are the same bytes; a short name is compared in two overlapping
/// words rather than by a call to `memcmp`.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(eight)
    };
    match a.len() {
        8..=16 => {
            let last = a.len() - 8;
            word(a, 0) == word(b, 0) && word(a, last) == word(b, last)
        }
        _ => a == b,
    }
}

/// An open-addressing table of positions in a list of names (kept by its owner, and given to
/// each call): at most half full, so that a probe ends soon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NameIndex {
    /// Each slot a position in the list, plus one (zero: empty).
    slots: Box<[u32]>,
}

impl NameIndex {
    /// Where `name` stands in `names` (the list this index was built over), if it does.
    pub(crate) fn get(&self, names: &[String], name: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = hash(name) as usize & mask;
        loop {
            let at = self.slots[slot].checked_sub(1)? as usize;
            if names
                .get(at)
                .is_some_and(|other| same(other.as_bytes(), name.as_bytes()))
            {
                return Some(at);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Records that `names[at]` stands at `at` (`names` holds it already, and every name
    /// indexed before). Grows the table as it fills.
    pub(crate) fn insert(&mut self, names: &[String], at: usize) {
        if (at + 1) * 2 > self.slots.len() {
            let size = ((at + 1) * 4).next_power_of_two();
            self.slots = vec![0; size].into_boxed_slice();
            for earlier in 0..at {
                self.place(names, earlier);
            }
        }
        self.place(names, at);
    }

    fn place(&mut self, names: &[String], at: usize) {
        let mask = self.slots.len() - 1;
        let mut slot = hash(&names[at]) as usize & mask;
        while self.slots[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        // A template's names are at most as many as its bytes; an index past u32 is beyond
        // any text this crate renders, and such a name is left out (never found).
        if let Ok(position) = u32::try_from(at + 1) {
            self.slots[slot] = position;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_where_they_stand() {
        let mut names: Vec<String> = Vec::new();
        let mut index = NameIndex::default();
        assert_eq!(index.get(&names, "a"), None);
        for i in 0..100 {
            names.push(format!("name-{i}"));
            index.insert(&names, i);
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(index.get(&names, name), Some(i));
        }
        assert_eq!(index.get(&names, "name-100"), None);
        assert_eq!(index.get(&names, ""), None);
    }

    #[test]
    fn names_are_compared_whole() {
        for (a, b) in [
            ("name-0001", "name-0002"),
            ("abcdefgh", "abcdefgi"),
            ("0123456789abcdef", "1123456789abcdef"),
            ("a", "b"),
            ("abcdefghijklmnopq", "abcdefghijklmnopr"),
            ("abc", "abcd"),
        ] {
            assert!(same(a.as_bytes(), a.as_bytes()), "{a}");
            assert!(!same(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
    }

    #[test]
    fn the_hash_reaches_every_byte() {
        let mut seen = std::collections::HashSet::new();
        for text in [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "abcd",
            "abcde",
            "abcdefgh",
            "abcdefghi",
        ] {
            assert!(seen.insert(hash(text)), "{text}");
        }
    }
}
