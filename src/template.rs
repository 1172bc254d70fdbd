//! Template: text with `<<vault:NAME>>` placeholders, parsed once, rendered many times.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use memchr::memmem;
use secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::name::{self, MAX_NAME_LEN};

const OPEN: &str = "<<vault:";
const CLOSE: &str = ">>";

/// The most bytes any escaping of this crate writes for one byte of a value.
const MAX_ESCAPE_GROWTH: usize = 6;

/// One placeholder of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placeholder {
    /// Where it goes: the length of the literal text before it.
    at: usize,
    /// The index of its name in `names`.
    name: usize,
    /// The byte offset of its `<<` in the parsed text.
    offset: usize,
}

/// A parsed template: text with `<<vault:NAME>>` placeholders, parsed once and rendered many
/// times; `Send + Sync`.
///
/// A placeholder is exactly `<<vault:NAME>>`, with no spaces, where `NAME` follows the secret
/// naming rules. `\<<vault:` writes a literal `<<vault:`. A value that itself contains
/// `<<vault:…>>` is inserted as it is and never expanded again.
///
/// ```
/// use std::collections::HashMap;
/// use request_vault::{ExposeSecret, SecretString, Template};
///
/// let template = Template::parse("Bearer <<vault:token>> (literal: \\<<vault:x>>)")?;
/// assert_eq!(template.names(), ["token"]);
/// let values = HashMap::from([("token".to_owned(), SecretString::from("t0k3n"))]);
/// let text = template.render_with(&values, |value, out| out.push_str(value))?;
/// assert_eq!(text.expose_secret(), "Bearer t0k3n (literal: <<vault:x>>)");
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// All the literal text, in one piece: a render copies it out in runs, from one buffer.
    literal: Box<str>,
    /// The placeholders, in order.
    placeholders: Vec<Placeholder>,
    /// The distinct names, in order of first use.
    names: Vec<String>,
    /// How many placeholders use each name.
    uses: Vec<usize>,
    /// Each name's index in `names`.
    index: HashMap<String, usize, BuildHasherDefault<NameHasher>>,
    /// Where each of `names` stands in the names of the request this template is a part of
    /// (see [`bind`](Self::bind)); empty for a template of its own.
    bound: Vec<usize>,
}

/// A word-at-a-time folded-multiply hash, for the
/// template's own index of its names: names are short, the index holds only the template's
/// names, and rendering looks each one up, so a keyed hash would only cost time here.
#[derive(Debug, Clone, Copy, Default)]
struct NameHasher(u64);

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
}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTemplate`] with the byte offset of the placeholder's `<<` when a
    /// placeholder is unterminated, empty, holds a character names cannot hold (a space, say),
    /// or names a secret with an invalid name.
    pub fn parse(text: &str) -> Result<Self> {
        parse_in(text, "template")
    }

    /// The distinct secret names the template uses, in order of first use.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Where `name` is in [`names`](Self::names), through the template's own index.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Binds the template to `names`, the distinct names of the request it is a part of
    /// (which hold all of its own), so that a render finds each value by its position there
    /// instead of by name.
    pub(crate) fn bind(&mut self, names: &[String]) {
        self.bound = self
            .names
            .iter()
            .filter_map(|name| names.iter().position(|other| other == name))
            .collect();
    }

    /// Where each of [`names`](Self::names) stands in the names the template was bound to
    /// ([`bind`](Self::bind)); empty when it was not.
    pub(crate) fn bound(&self) -> &[usize] {
        &self.bound
    }

    /// Whether the template has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.placeholders.is_empty()
    }

    /// The placeholders: each name with the byte offset of its `<<`.
    pub(crate) fn placeholders(&self) -> impl Iterator<Item = (&str, usize)> {
        self.placeholders
            .iter()
            .map(|p| (self.names[p.name].as_str(), p.offset))
    }

    /// The literal text, every placeholder left out (and `\<<vault:` written `<<vault:`).
    pub(crate) fn literal(&self) -> &str {
        &self.literal
    }

    /// The placeholders: each name with where its value goes in [`literal`](Self::literal),
    /// in order.
    pub(crate) fn insertions(&self) -> impl Iterator<Item = (&str, usize)> {
        self.placeholders
            .iter()
            .map(|p| (self.names[p.name].as_str(), p.at))
    }

    /// Renders with the given values; `escape` appends one value to the output, escaped for
    /// where the text goes (`|v, out| out.push_str(v)` inserts it as it is).
    ///
    /// `escape` is called once per distinct name, and must only append, at most 6 bytes per
    /// byte of the value (every escaping of this crate does): the rendered text is then built
    /// in buffers sized up front, so that no copy of a value is left behind in freed memory.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a name missing from `values` (several as [`Error::Multiple`],
    /// every missing name at once). Nothing is rendered then.
    pub fn render_with(
        &self,
        values: &HashMap<String, SecretString>,
        escape: impl FnMut(&str, &mut String),
    ) -> Result<SecretString> {
        self.render_zeroizing(values, escape).map(into_secret)
    }

    /// As [`render_with`](Self::render_with), into a zeroizing buffer of exactly the text's
    /// size (what the request parts are assembled from, without a second copy).
    pub(crate) fn render_zeroizing(
        &self,
        values: &HashMap<String, SecretString>,
        escape: impl FnMut(&str, &mut String),
    ) -> Result<Zeroizing<String>> {
        // Each distinct name is looked up once. A map not much larger than the template's
        // names is walked instead, its keys looked up in the template's own index (cheaper
        // than hashing every name with the map's keyed hasher).
        let mut slots: Vec<Option<&SecretString>> = vec![None; self.names.len()];
        if values.len() <= 4 * self.names.len() {
            for (name, value) in values {
                if let Some(&at) = self.index.get(name.as_str()) {
                    slots[at] = Some(value);
                }
            }
        } else {
            for (slot, name) in slots.iter_mut().zip(&self.names) {
                *slot = values.get(name);
            }
        }
        let mut found: Vec<&SecretString> = Vec::with_capacity(self.names.len());
        let mut missing = Vec::new();
        for (slot, name) in slots.into_iter().zip(&self.names) {
            match slot {
                Some(value) => found.push(value),
                None => missing.push(Error::not_found(name)),
            }
        }
        Error::gather(missing)?;
        Ok(self.render_found(&found, escape))
    }

    /// Renders with the values of [`names`](Self::names), in that order.
    pub(crate) fn render_in_order(
        &self,
        values: &[SecretString],
        escape: impl FnMut(&str, &mut String),
    ) -> SecretString {
        let found: Vec<&SecretString> = values.iter().collect();
        into_secret(self.render_found(&found, escape))
    }

    /// Renders with `found[i]`, the value of `names[i]`: the one place where templates read
    /// values.
    ///
    /// Each distinct value is escaped once into a scratch buffer sized for the worst escape,
    /// then the output is written into a buffer of its exact size: no buffer holding a value
    /// ever grows or shrinks (which would free a copy unwiped), the scratch buffer is wiped,
    /// and the output is allocated and written once.
    pub(crate) fn render_found(
        &self,
        found: &[&SecretString],
        escape: impl FnMut(&str, &mut String),
    ) -> Zeroizing<String> {
        self.render_found_after("", found, escape)
    }

    /// As [`render_found`](Self::render_found), the output starting with `prefix` (such as
    /// `Bearer `), written into the same buffer.
    pub(crate) fn render_found_after(
        &self,
        prefix: &str,
        found: &[&SecretString],
        mut escape: impl FnMut(&str, &mut String),
    ) -> Zeroizing<String> {
        let worst = found
            .iter()
            .map(|value| {
                value
                    .expose_secret()
                    .len()
                    .saturating_mul(MAX_ESCAPE_GROWTH)
            })
            .fold(0usize, usize::saturating_add);
        let mut scratch = String::with_capacity(worst);
        // Where each escaped value ends in `scratch` (it starts where the previous one ends).
        let mut ends = Vec::with_capacity(found.len());
        let mut length = prefix.len() + self.literal.len();
        for (value, uses) in found.iter().zip(&self.uses) {
            let start = scratch.len();
            escape(value.expose_secret(), &mut scratch);
            ends.push(scratch.len());
            length += (scratch.len() - start) * uses;
        }
        let mut out = Zeroizing::new(String::with_capacity(length));
        out.push_str(prefix);
        let mut copied = 0;
        for placeholder in &self.placeholders {
            out.push_str(&self.literal[copied..placeholder.at]);
            copied = placeholder.at;
            let start = placeholder
                .name
                .checked_sub(1)
                .map_or(0, |before| ends[before]);
            out.push_str(&scratch[start..ends[placeholder.name]]);
        }
        out.push_str(&self.literal[copied..]);
        // Escapes only append within the worst-case capacity, so the written part is all the
        // scratch buffer ever held; a slice wipe is far cheaper than zeroize's per-byte
        // `String` path over the whole capacity.
        // An empty one (no value) holds nothing to wipe: see `release`.
        let mut scratch = scratch.into_bytes();
        if !scratch.is_empty() {
            scratch.as_mut_slice().zeroize();
        }
        debug_assert_eq!(out.len(), out.capacity());
        out
    }
}

/// Moves rendered text into a [`SecretString`] without copying it: the buffer is exactly
/// full, so the conversion to a boxed `str` does not reallocate.
pub(crate) fn into_secret(text: Zeroizing<String>) -> SecretString {
    debug_assert_eq!(text.len(), text.capacity());
    SecretString::from(release(text))
}

/// Takes a buffer out of its zeroizing wrapper, for bytes that move on whole (into a
/// [`SecretString`], a request's header or body) and are wiped, or not, by their new owner.
///
/// The emptied wrapper is forgotten rather than dropped: it holds no allocation (nothing
/// leaks), and its drop would only wipe zero bytes at a dangling address, which glibc's
/// AVX-512 `memset` does with a masked store whose fault suppression costs about as much
/// as rendering a header.
pub(crate) fn release<T>(mut buffer: Zeroizing<T>) -> T
where
    T: Zeroize + Default,
{
    let inner = std::mem::take(&mut *buffer);
    std::mem::forget(buffer);
    inner
}

/// Parses `text`, naming `part` (such as "header `Authorization`") in errors.
pub(crate) fn parse_in(text: &str, part: &str) -> Result<Template> {
    let invalid = |offset: usize, reason: &'static str| Error::InvalidTemplate {
        part: part.to_owned(),
        offset,
        reason,
    };
    let finder = memmem::Finder::new(OPEN);
    let bytes = text.as_bytes();
    let mut placeholders = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut uses: Vec<usize> = Vec::new();
    let mut index: HashMap<String, usize, BuildHasherDefault<NameHasher>> = HashMap::default();
    let mut literal = String::new();
    let mut position = 0;
    while let Some(found) = finder.find(&bytes[position..]) {
        let at = position + found;
        if at > 0 && bytes[at - 1] == b'\\' {
            // `\<<vault:` is a literal `<<vault:`.
            literal.push_str(&text[position..at - 1]);
            literal.push_str(OPEN);
            position = at + OPEN.len();
            continue;
        }
        literal.push_str(&text[position..at]);
        let name_start = at + OPEN.len();
        let name_len = bytes[name_start..]
            .iter()
            .position(|&b| !name::is_name_byte(b))
            .unwrap_or(bytes.len() - name_start);
        let name_end = name_start + name_len;
        if name_end == bytes.len() {
            return Err(invalid(at, "the placeholder is not terminated by `>>`"));
        }
        if !text[name_end..].starts_with(CLOSE) {
            return Err(invalid(
                at,
                "a placeholder is exactly `<<vault:NAME>>`, NAME of A-Z a-z 0-9 _ - . without spaces",
            ));
        }
        let name = &text[name_start..name_end];
        if name.is_empty() {
            return Err(invalid(at, "the placeholder names no secret"));
        }
        if name.len() > MAX_NAME_LEN || !bytes[name_start].is_ascii_alphanumeric() {
            return Err(invalid(
                at,
                "the placeholder's name breaks the naming rules (1 to 128 characters, starting with a letter or digit)",
            ));
        }
        let name = match index.get(name) {
            Some(&at) => at,
            None => {
                names.push(name.to_owned());
                uses.push(0);
                index.insert(name.to_owned(), names.len() - 1);
                names.len() - 1
            }
        };
        uses[name] += 1;
        placeholders.push(Placeholder {
            at: literal.len(),
            name,
            offset: at,
        });
        position = name_end + CLOSE.len();
    }
    literal.push_str(&text[position..]);
    Ok(Template {
        literal: literal.into_boxed_str(),
        placeholders,
        names,
        uses,
        index,
        bound: Vec::new(),
    })
}

impl std::str::FromStr for Template {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Template::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render(text: &str, values: &[(&str, &str)]) -> Result<String> {
        let values = values
            .iter()
            .map(|(k, v)| (k.to_string(), SecretString::from(*v)))
            .collect();
        let template = Template::parse(text)?;
        Ok(template
            .render_with(&values, |v, out| out.push_str(v))?
            .expose_secret()
            .to_owned())
    }

    fn offset_of(text: &str) -> usize {
        match Template::parse(text).unwrap_err() {
            Error::InvalidTemplate { offset, .. } => offset,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn placeholders_render_and_literals_stay() {
        assert_eq!(
            render(
                "a <<vault:x>> b <<vault:y>><<vault:x>>",
                &[("x", "1"), ("y", "2")]
            )
            .unwrap(),
            "a 1 b 21"
        );
        assert_eq!(
            render("no placeholders < << >> <<vault", &[]).unwrap(),
            "no placeholders < << >> <<vault"
        );
        assert_eq!(render("", &[]).unwrap(), "");
    }

    #[test]
    fn escaped_openers_are_literal() {
        assert_eq!(
            render(r"\<<vault:x>> and <<vault:x>>", &[("x", "v")]).unwrap(),
            "<<vault:x>> and v"
        );
        assert_eq!(
            Template::parse(r"\<<vault:not a name").unwrap().names(),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn values_are_never_expanded_again() {
        assert_eq!(
            render("<<vault:a>>", &[("a", "<<vault:b>>"), ("b", "no")]).unwrap(),
            "<<vault:b>>"
        );
    }

    #[test]
    fn malformed_placeholders_report_their_offset() {
        assert_eq!(offset_of("ab <<vault:x"), 3);
        assert_eq!(offset_of("ab <<vault:"), 3);
        assert_eq!(offset_of("x <<vault: x>>"), 2);
        assert_eq!(offset_of("x <<vault:a b>>"), 2);
        assert_eq!(offset_of("<<vault:>>"), 0);
        assert_eq!(offset_of("<<vault:-a>>"), 0);
        assert_eq!(offset_of("<<vault:a>"), 0);
        assert_eq!(offset_of(&format!("<<vault:{}>>", "a".repeat(129))), 0);
        let err = Template::parse("é <<vault:a").unwrap_err();
        assert!(err.to_string().contains("byte 3"), "{err}");
    }

    #[test]
    fn unknown_names_are_all_listed() {
        let err = render(
            "<<vault:a>> <<vault:b>> <<vault:c>> <<vault:b>>",
            &[("a", "1")],
        )
        .unwrap_err();
        let names: Vec<_> = err.errors().iter().filter_map(Error::secret_name).collect();
        assert_eq!(names, ["b", "c"]);
    }

    #[test]
    fn names_are_distinct_in_order() {
        let t = Template::parse("<<vault:b>><<vault:a>><<vault:b>>").unwrap();
        assert_eq!(t.names(), ["b", "a"]);
        assert!(!t.is_literal());
    }

    proptest! {
        #[test]
        fn parsing_and_rendering_never_panic(text in ".{0,200}") {
            if let Ok(template) = Template::parse(&text) {
                let values = template.names().iter().map(|n| (n.to_string(), SecretString::from("v"))).collect();
                let _ = template.render_with(&values, |v, out| out.push_str(v));
            }
        }

        #[test]
        fn near_misses_never_panic(text in "(<<vault:|\\\\|[a-z ]|>>|<|>){0,40}") {
            let _ = Template::parse(&text);
        }
    }
}
