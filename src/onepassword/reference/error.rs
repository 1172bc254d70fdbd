//! Why a string is not a valid secret reference, and where: [`ReferenceError`].

use std::fmt;

use super::attribute::Attribute;

/// The shape every reference must have, as error messages show it.
pub const EXPECTED_SHAPE: &str = "op://<vault>/<item>/[section/]field";

/// Which segment of a reference an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SegmentKind {
    /// The vault (first segment).
    Vault,
    /// The item (second segment).
    Item,
    /// The section (third of four segments).
    Section,
    /// The field or file (last segment).
    Field,
}

impl SegmentKind {
    pub(super) fn of(index: usize, count: usize) -> Self {
        match (index, count) {
            (0, _) => SegmentKind::Vault,
            (1, _) => SegmentKind::Item,
            (2, 4) => SegmentKind::Section,
            _ => SegmentKind::Field,
        }
    }
}

impl fmt::Display for SegmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SegmentKind::Vault => "vault",
            SegmentKind::Item => "item",
            SegmentKind::Section => "section",
            SegmentKind::Field => "field",
        })
    }
}

/// What is wrong with a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceErrorKind {
    /// The input is empty.
    Empty,
    /// The input does not start with `op://`.
    MissingScheme,
    /// The input starts with another scheme.
    WrongScheme {
        /// The scheme found.
        scheme: String,
    },
    /// Fewer than 3 segments.
    TooFewSegments {
        /// How many there are.
        found: usize,
    },
    /// More than 4 segments.
    TooManySegments {
        /// How many there are.
        found: usize,
    },
    /// A segment is empty (`op://vault//field`) or only spaces.
    EmptySegment {
        /// Which one.
        segment: SegmentKind,
    },
    /// The path ends with `/`.
    TrailingSlash,
    /// A character outside `A-Z a-z 0-9 - _ .` and space.
    InvalidCharacter {
        /// The character.
        character: char,
        /// In which segment.
        segment: SegmentKind,
    },
    /// A `#` fragment, which references do not have.
    Fragment,
    /// A `?` with nothing after it, or an empty `&&` pair.
    EmptyQuery,
    /// A query parameter without `=value`.
    MissingQueryValue {
        /// The parameter.
        key: String,
    },
    /// A query parameter other than `attribute`, `attr` and `ssh-format`.
    UnknownQueryKey {
        /// The parameter.
        key: String,
    },
    /// An `attribute` value that 1Password does not know.
    UnknownAttribute {
        /// The value.
        value: String,
    },
    /// An `ssh-format` other than `openssh`.
    UnknownSshFormat {
        /// The value.
        value: String,
    },
    /// A query parameter given twice (`attribute` and `attr` count as one).
    RepeatedQueryKey {
        /// The parameter.
        key: String,
    },
}

impl fmt::Display for ReferenceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceErrorKind::Empty => f.write_str("the reference is empty"),
            ReferenceErrorKind::MissingScheme => {
                f.write_str("the reference must start with `op://`")
            }
            ReferenceErrorKind::WrongScheme { scheme } => {
                write!(
                    f,
                    "the scheme is `{scheme}://`, but 1Password references use `op://`"
                )
            }
            ReferenceErrorKind::TooFewSegments { found } => {
                write!(f, "{found} segment(s) found, but a reference has 3 or 4")
            }
            ReferenceErrorKind::TooManySegments { found } => {
                write!(f, "{found} segments found, but a reference has 3 or 4")
            }
            ReferenceErrorKind::EmptySegment { segment } => {
                write!(f, "the {segment} segment is empty")
            }
            ReferenceErrorKind::TrailingSlash => f.write_str("the reference ends with `/`"),
            ReferenceErrorKind::InvalidCharacter { character, segment } => write!(
                f,
                "the {segment} segment holds {character:?}, which names in references cannot hold (only A-Z a-z 0-9 - _ . and space)"
            ),
            ReferenceErrorKind::Fragment => f.write_str("references have no `#` fragment"),
            ReferenceErrorKind::EmptyQuery => f.write_str("the query is empty"),
            ReferenceErrorKind::MissingQueryValue { key } => {
                write!(f, "the query parameter `{key}` has no `=value`")
            }
            ReferenceErrorKind::UnknownQueryKey { key } => write!(
                f,
                "unknown query parameter `{key}` (known: attribute, attr, ssh-format)"
            ),
            ReferenceErrorKind::UnknownAttribute { value } => write!(
                f,
                "unknown attribute `{value}` (fields: type, value, id, purpose, otp, totp; files: type, content, size, id, name)"
            ),
            ReferenceErrorKind::UnknownSshFormat { value } => {
                write!(f, "unknown ssh-format `{value}` (known: openssh)")
            }
            ReferenceErrorKind::RepeatedQueryKey { key } => {
                write!(f, "the query parameter `{key}` is given more than once")
            }
        }
    }
}

/// Why a string is not a valid [`SecretReference`](super::SecretReference), and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    pub(super) input: String,
    pub(super) offset: usize,
    pub(super) kind: ReferenceErrorKind,
}

impl ReferenceError {
    /// What is wrong.
    pub fn kind(&self) -> &ReferenceErrorKind {
        &self.kind
    }

    /// The byte offset in the input where the problem is.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The input as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    fn hint(&self) -> Option<&'static str> {
        match &self.kind {
            ReferenceErrorKind::TooManySegments { .. } => {
                Some("a name that holds `/` must be given by its ID")
            }
            ReferenceErrorKind::InvalidCharacter { .. } => Some(
                "use the ID of a vault, item, section or field whose name holds other characters",
            ),
            ReferenceErrorKind::WrongScheme { scheme } if scheme.eq_ignore_ascii_case("op") => {
                Some("the scheme is written in lower case")
            }
            ReferenceErrorKind::UnknownQueryKey { key }
                if ["attribute", "attr", "ssh-format"]
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(key)) =>
            {
                Some("query parameters are written in lower case")
            }
            ReferenceErrorKind::UnknownAttribute { value }
                if Attribute::ALL
                    .iter()
                    .any(|known| known.as_str().eq_ignore_ascii_case(value)) =>
            {
                Some("attributes are written in lower case")
            }
            ReferenceErrorKind::UnknownSshFormat { value }
                if value.eq_ignore_ascii_case("openssh") =>
            {
                Some("the format is written in lower case: `openssh`")
            }
            ReferenceErrorKind::MissingScheme if self.input.starts_with(['"', '\'']) => {
                Some("remove the quotation marks: they belong to the shell, not to the reference")
            }
            _ => None,
        }
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {}; expected {EXPECTED_SHAPE}",
            self.kind, self.offset
        )?;
        if let Some(hint) = self.hint() {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReferenceError {}
