//! Template: text with `<<vault:NAME>>` placeholders, parsed once, rendered many times.

use std::collections::HashMap;
use std::sync::LazyLock;

use memchr::memmem;
use secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::name::{self, MAX_NAME_LEN};
use crate::name_index::NameIndex;

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
    /// Where each name stands in `names`.
    index: NameIndex,
    /// Where each of `names` stands in the names of the request this template is a part of
    /// (see [`bind`](Self::bind)); empty for a template of its own.
    bound: Vec<usize>,
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
        self.index.get(&self.names, name)
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
                if let Some(at) = self.position(name) {
                    slots[at] = Some(value);
                }
            }
        } else {
            for (slot, name) in slots.iter_mut().zip(&self.names) {
                *slot = values.get(name);
            }
        }
        let missing: Vec<Error> = slots
            .iter()
            .zip(&self.names)
            .filter(|(slot, _)| slot.is_none())
            .map(|(_, name)| Error::not_found(name))
            .collect();
        Error::gather(missing)?;
        // Every slot is filled: the same buffer holds the values.
        let found: Vec<&SecretString> = slots.into_iter().flatten().collect();
        Ok(self.render_found(&found, escape))
    }

    /// Renders with the values of [`names`](Self::names), in that order, as they are.
    pub(crate) fn render_in_order(&self, values: &[SecretString]) -> SecretString {
        let found: Vec<&SecretString> = values.iter().collect();
        into_secret(self.render_as_is(&found))
    }

    /// Renders with `found[i]`, the value of `names[i]`, each value escaped by `escape`.
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
        // Where each escaped value starts and ends in `scratch`.
        let mut spans = Vec::with_capacity(found.len());
        for value in found {
            let start = scratch.len();
            escape(value.expose_secret(), &mut scratch);
            spans.push(start..scratch.len());
        }
        let out = self.assemble(prefix, |name| &scratch[spans[name].clone()]);
        // Escapes only append within the worst-case capacity, so the written part is all the
        // scratch buffer ever held; a slice wipe is far cheaper than zeroize's per-byte
        // `String` path over the whole capacity.
        // An empty one (no value) holds nothing to wipe: see `release`.
        let mut scratch = scratch.into_bytes();
        if !scratch.is_empty() {
            scratch.as_mut_slice().zeroize();
        }
        out
    }

    /// Renders with `found[i]`, the value of `names[i]`, each value inserted as it is: copied
    /// straight from the values into the output (no scratch copy to make and wipe).
    pub(crate) fn render_as_is(&self, found: &[&SecretString]) -> Zeroizing<String> {
        self.render_as_is_after("", found)
    }

    /// As [`render_as_is`](Self::render_as_is), the output starting with `prefix`.
    pub(crate) fn render_as_is_after(
        &self,
        prefix: &str,
        found: &[&SecretString],
    ) -> Zeroizing<String> {
        self.assemble(prefix, |name| found[name].expose_secret())
    }

    /// The output: `prefix`, then the literal text with `value(name)` inserted at each
    /// placeholder, written into a buffer allocated once at its exact size. The one place
    /// where rendered text is put together.
    fn assemble<'v>(&self, prefix: &str, value: impl Fn(usize) -> &'v str) -> Zeroizing<String> {
        let length = self
            .uses
            .iter()
            .enumerate()
            .map(|(name, uses)| value(name).len().saturating_mul(*uses))
            .fold(
                prefix.len().saturating_add(self.literal.len()),
                usize::saturating_add,
            );
        let mut out = Zeroizing::new(String::with_capacity(length));
        out.push_str(prefix);
        let mut copied = 0;
        for placeholder in &self.placeholders {
            out.push_str(&self.literal[copied..placeholder.at]);
            copied = placeholder.at;
            out.push_str(value(placeholder.name));
        }
        out.push_str(&self.literal[copied..]);
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

/// Finds `<<vault:`; built once.
static OPENER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(OPEN));

/// Parses `text`, naming `part` (such as "header `Authorization`") in errors.
///
/// One pass finds the placeholders and the runs of literal text between them (ranges of
/// `text`); the literal text is then copied once, into a buffer of its exact size.
pub(crate) fn parse_in(text: &str, part: &str) -> Result<Template> {
    let invalid = |offset: usize, reason: &'static str| Error::InvalidTemplate {
        part: part.to_owned(),
        offset,
        reason,
    };
    let bytes = text.as_bytes();
    let mut placeholders = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut uses: Vec<usize> = Vec::new();
    let mut index = NameIndex::default();
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut literal_len = 0;
    let mut position = 0;
    while let Some(found) = OPENER.find(&bytes[position..]) {
        let at = position + found;
        if at > 0 && bytes[at - 1] == b'\\' {
            // `\<<vault:` is a literal `<<vault:`: the backslash is left out.
            runs.push(position..at - 1);
            runs.push(at..at + OPEN.len());
            literal_len += at - 1 - position + OPEN.len();
            position = at + OPEN.len();
            continue;
        }
        runs.push(position..at);
        literal_len += at - position;
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
        let name = match index.get(&names, name) {
            Some(at) => at,
            None => {
                names.push(name.to_owned());
                uses.push(0);
                index.insert(&names, names.len() - 1);
                names.len() - 1
            }
        };
        uses[name] += 1;
        placeholders.push(Placeholder {
            at: literal_len,
            name,
            offset: at,
        });
        position = name_end + CLOSE.len();
    }
    runs.push(position..text.len());
    literal_len += text.len() - position;
    let mut literal = String::with_capacity(literal_len);
    for run in runs {
        literal.push_str(&text[run]);
    }
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

    /// What a render gives, worked out the plain way: each placeholder replaced by its name
    /// in brackets, each `\\<<vault:` by `<<vault:`.
    fn naive(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("\\<<vault:") {
                out.push_str("<<vault:");
                rest = after;
            } else if let Some(after) = rest.strip_prefix("<<vault:") {
                let end = after.find(">>").unwrap();
                out.push_str(&format!("[{}]", &after[..end]));
                rest = &after[end + 2..];
            } else {
                let c = rest.chars().next().unwrap();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }

    proptest! {
        #[test]
        fn rendering_replaces_placeholders_and_nothing_else(
            text in "(<<vault:[ab]{1,2}>>|\\\\<<vault:|\\\\|<<|>>|[a-z<> ]|é){0,30}",
        ) {
            if let Ok(template) = Template::parse(&text) {
                let values = template
                    .names()
                    .iter()
                    .map(|n| (n.to_string(), SecretString::from(format!("[{n}]"))))
                    .collect();
                let out = template.render_with(&values, |v, out| out.push_str(v)).unwrap();
                prop_assert_eq!(out.expose_secret(), naive(&text));
            }
        }

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
