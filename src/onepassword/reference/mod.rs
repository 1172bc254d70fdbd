//! [`SecretReference`]: an exact parser for 1Password secret references.
//!
//! A reference names where a value is stored in 1Password:
//! `op://<vault>/<item>[/<section>]/<field>[?<query>]`, parsed as 1Password's own parser
//! does:
//!
//! ```text
//! reference = "op://" vault "/" item [ "/" section ] "/" field [ "?" query ]
//! segment   = 1*( ALPHA / DIGIT / "-" / "_" / "." / " " )   ; not only spaces
//! query     = param *( "&" param )                          ; each name at most once
//! param     = ( "attribute" / "attr" ) "=" attribute
//!           / "ssh-format=openssh"
//! attribute = "value" / "type" / "id" / "purpose" / "otp" / "totp"   ; fields
//!           / "content" / "size" / "name" / "id" / "type"            ; files
//! ```
//!
//! - The scheme `op://`, the query parameter names and their values are **case-sensitive**
//!   and written in lower case: `OP://…`, `?ATTRIBUTE=otp` and `?attribute=OTP` are refused,
//!   with the offset of the scheme, the parameter or the value.
//! - Segments (vault, item, section, field or file names) are matched **case-insensitively**.
//!   A segment of 26 characters `[a-z0-9]` is an ID; resolvers try it as an ID first, then as
//!   a name, so an item titled like an ID is still found. A name that holds another character
//!   (a `/`, say) is given by its ID. A file attached to an item is referenced by its name in
//!   place of the field's.
//! - `attribute` selects what part of a field or file to read; `ssh-format=openssh` converts
//!   an SSH key's private key to the OpenSSH format.
//! - No `#` fragment, no empty segment, no trailing `/`; a `ref+` prefix (`ref+op://…`) is
//!   accepted by the provider, not by this parser.
//!
//! ```
//! use request_vault::onepassword::{Attribute, SecretReference};
//!
//! let r: SecretReference = "op://dev/stripe/api keys/secret?attribute=otp".parse()?;
//! assert_eq!(r.vault().as_str(), "dev");
//! assert_eq!(r.section().map(|s| s.as_str()), Some("api keys"));
//! assert_eq!(r.field().as_str(), "secret");
//! assert_eq!(r.attribute(), Some(Attribute::Otp));
//! assert!(r.item().matches("Stripe"));
//! assert_eq!(r.to_string(), "op://dev/stripe/api keys/secret?attribute=otp");
//!
//! let err = "op://Prod/CI/CD/token/x".parse::<SecretReference>().unwrap_err();
//! assert_eq!(err.offset(), 21); // the `/` that starts a fifth segment
//! # Ok::<(), request_vault::onepassword::ReferenceError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod attribute;
mod error;

pub use attribute::{Attribute, SshFormat};
pub use error::{EXPECTED_SHAPE, ReferenceError, ReferenceErrorKind, SegmentKind};

/// The URI scheme of 1Password secret references.
pub const SCHEME: &str = "op";

/// The length of a 1Password ID.
pub const ID_LEN: usize = 26;

/// One `/`-separated part of a reference: a vault, item, section or field (or file) name,
/// or an ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment(String);

impl Segment {
    /// The segment as written in the reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the segment has the shape of a 1Password ID (26 characters of `a-z 0-9`).
    ///
    /// A name can have that shape too; resolvers try the ID first, then the name.
    pub fn is_id(&self) -> bool {
        is_id(&self.0)
    }

    /// Whether `name` (a vault's, item's, section's or field's name as 1Password holds it)
    /// is the one this segment refers to: compared case-insensitively.
    pub fn matches(&self, name: &str) -> bool {
        self.0.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Segment {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Segment {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Exact comparison, as written; use [`Segment::matches`] for 1Password's case-insensitive
/// matching.
impl PartialEq<str> for Segment {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Segment {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Segment {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

/// Whether `text` has the shape of a 1Password ID.
pub fn is_id(text: &str) -> bool {
    text.len() == ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A parsed 1Password secret reference. See the [module docs](self) for the grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretReference {
    vault: Segment,
    item: Segment,
    section: Option<Segment>,
    field: Segment,
    attribute: Option<Attribute>,
    ssh_format: Option<SshFormat>,
}

impl SecretReference {
    /// Parses a reference.
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] whose [`kind`](ReferenceError::kind) says what is wrong and whose
    /// [`offset`](ReferenceError::offset) says where: a missing or other scheme, too few or too
    /// many segments, an empty segment, a trailing slash, a character names cannot hold, a
    /// fragment, or an unknown, repeated or value-less query parameter.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        Parser { input }.parse()
    }

    /// The vault's name or ID.
    pub fn vault(&self) -> &Segment {
        &self.vault
    }

    /// The item's name or ID.
    pub fn item(&self) -> &Segment {
        &self.item
    }

    /// The section's name or ID, when the reference has four segments.
    pub fn section(&self) -> Option<&Segment> {
        self.section.as_ref()
    }

    /// The field's (or file's) name or ID.
    pub fn field(&self) -> &Segment {
        &self.field
    }

    /// The `attribute` query parameter, if given.
    pub fn attribute(&self) -> Option<Attribute> {
        self.attribute
    }

    /// The `ssh-format` query parameter, if given.
    pub fn ssh_format(&self) -> Option<SshFormat> {
        self.ssh_format
    }
}

impl FromStr for SecretReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        SecretReference::parse(s)
    }
}

impl fmt::Display for SecretReference {
    /// The canonical form: `op://`, the segments as written, then `attribute=` (never the
    /// `attr` alias) and `ssh-format=`, lower-case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}://{}/{}/", self.vault, self.item)?;
        if let Some(section) = &self.section {
            write!(f, "{section}/")?;
        }
        write!(f, "{}", self.field)?;
        let mut separator = '?';
        if let Some(attribute) = self.attribute {
            write!(f, "{separator}attribute={attribute}")?;
            separator = '&';
        }
        if let Some(format) = self.ssh_format {
            write!(f, "{separator}ssh-format={format}")?;
        }
        Ok(())
    }
}

impl Serialize for SecretReference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretReference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SecretReference::parse(&text).map_err(serde::de::Error::custom)
    }
}

struct Parser<'a> {
    input: &'a str,
}

impl Parser<'_> {
    fn fail<T>(&self, offset: usize, kind: ReferenceErrorKind) -> Result<T, ReferenceError> {
        Err(ReferenceError {
            input: self.input.to_owned(),
            offset,
            kind,
        })
    }

    fn parse(&self) -> Result<SecretReference, ReferenceError> {
        let input = self.input;
        if input.is_empty() {
            return self.fail(0, ReferenceErrorKind::Empty);
        }
        let Some((scheme, _)) = input.split_once("://") else {
            return self.fail(0, ReferenceErrorKind::MissingScheme);
        };
        if scheme != SCHEME {
            let looks_like_scheme = !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            return if looks_like_scheme {
                self.fail(
                    0,
                    ReferenceErrorKind::WrongScheme {
                        scheme: scheme.to_owned(),
                    },
                )
            } else {
                self.fail(0, ReferenceErrorKind::MissingScheme)
            };
        }
        let start = scheme.len() + 3;
        if let Some(at) = input.find('#') {
            return self.fail(at, ReferenceErrorKind::Fragment);
        }
        let (path, query) = match input[start..].find('?') {
            Some(at) => (&input[start..start + at], Some(start + at + 1)),
            None => (&input[start..], None),
        };
        let segments = self.segments(start, path)?;
        let (attribute, ssh_format) = match query {
            Some(query_start) => self.query(query_start)?,
            None => (None, None),
        };
        let mut segments = segments.into_iter();
        let mut next = || Segment(segments.next().unwrap_or_default().to_owned());
        let vault = next();
        let item = next();
        let (section, field) = match path.split('/').count() {
            4 => (Some(next()), next()),
            _ => (None, next()),
        };
        Ok(SecretReference {
            vault,
            item,
            section,
            field,
            attribute,
            ssh_format,
        })
    }

    /// Splits and checks the path (which starts at byte `start` of the input).
    fn segments<'p>(&self, start: usize, path: &'p str) -> Result<Vec<&'p str>, ReferenceError> {
        if path.len() > 1 && path.ends_with('/') {
            return self.fail(start + path.len() - 1, ReferenceErrorKind::TrailingSlash);
        }
        let parts: Vec<&str> = path.split('/').collect();
        let count = parts.len();
        let mut offset = start;
        let mut offsets = Vec::with_capacity(count);
        for (index, part) in parts.iter().enumerate() {
            offsets.push(offset);
            if part.trim_matches(' ').is_empty() && count <= 4 {
                let segment = SegmentKind::of(index, count.max(3));
                return self.fail(offset, ReferenceErrorKind::EmptySegment { segment });
            }
            offset += part.len() + 1;
        }
        if count < 3 {
            return self.fail(
                start + path.len(),
                ReferenceErrorKind::TooFewSegments { found: count },
            );
        }
        if count > 4 {
            return self.fail(
                offsets[4] - 1,
                ReferenceErrorKind::TooManySegments { found: count },
            );
        }
        for (index, (part, at)) in parts.iter().zip(&offsets).enumerate() {
            let bad = part
                .char_indices()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ')));
            if let Some((position, character)) = bad {
                let segment = SegmentKind::of(index, count);
                return self.fail(
                    at + position,
                    ReferenceErrorKind::InvalidCharacter { character, segment },
                );
            }
        }
        Ok(parts)
    }

    /// Parses the query, which starts at byte `start` of the input.
    fn query(
        &self,
        start: usize,
    ) -> Result<(Option<Attribute>, Option<SshFormat>), ReferenceError> {
        let query = &self.input[start..];
        if query.is_empty() {
            return self.fail(start, ReferenceErrorKind::EmptyQuery);
        }
        let (mut attribute, mut ssh_format) = (None, None);
        let mut offset = start;
        for pair in query.split('&') {
            if pair.is_empty() {
                return self.fail(offset, ReferenceErrorKind::EmptyQuery);
            }
            let Some((key, value)) = pair.split_once('=') else {
                return self.fail(
                    offset,
                    ReferenceErrorKind::MissingQueryValue {
                        key: pair.to_owned(),
                    },
                );
            };
            let value_offset = offset + key.len() + 1;
            match key {
                "attribute" | "attr" => {
                    if attribute.is_some() {
                        return self.fail(
                            offset,
                            ReferenceErrorKind::RepeatedQueryKey {
                                key: key.to_owned(),
                            },
                        );
                    }
                    let Some(parsed) = Attribute::parse(value) else {
                        return self.fail(
                            value_offset,
                            ReferenceErrorKind::UnknownAttribute {
                                value: value.to_owned(),
                            },
                        );
                    };
                    attribute = Some(parsed);
                }
                "ssh-format" => {
                    if ssh_format.is_some() {
                        return self.fail(
                            offset,
                            ReferenceErrorKind::RepeatedQueryKey {
                                key: key.to_owned(),
                            },
                        );
                    }
                    if value != SshFormat::OpenSsh.as_str() {
                        return self.fail(
                            value_offset,
                            ReferenceErrorKind::UnknownSshFormat {
                                value: value.to_owned(),
                            },
                        );
                    }
                    ssh_format = Some(SshFormat::OpenSsh);
                }
                _ => {
                    return self.fail(
                        offset,
                        ReferenceErrorKind::UnknownQueryKey {
                            key: key.to_owned(),
                        },
                    );
                }
            }
            offset += pair.len() + 1;
        }
        Ok((attribute, ssh_format))
    }
}
