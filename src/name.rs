//! [`SecretName`]: the validated name of a vault secret.
//!
//! Names are 1 to 128 characters of `A-Z a-z 0-9 _ - .`, start with a letter or digit, and
//! are case-sensitive, so that they can stand in a `<<vault:NAME>>` placeholder unescaped.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The longest allowed secret name, in characters.
pub const MAX_NAME_LEN: usize = 128;

/// A validated secret name.
///
/// ```
/// use request_vault::SecretName;
///
/// let name: SecretName = "api-key.v2".parse()?;
/// assert_eq!(name.as_str(), "api-key.v2");
/// assert!("-leading-dash".parse::<SecretName>().is_err());
/// # Ok::<(), request_vault::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidName`] when the name is empty, longer than [`MAX_NAME_LEN`], starts
    ///   with something other than a letter or digit, or holds a character outside
    ///   `A-Z a-z 0-9 _ - .`.
    pub fn new(name: &str) -> Result<Self, Error> {
        check(name)?;
        Ok(SecretName(name.to_owned()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a name without allocating.
pub(crate) fn check(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        Some("a name must not be empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("a name is at most 128 characters")
    } else if !name.as_bytes()[0].is_ascii_alphanumeric() {
        Some("a name must start with a letter or a digit")
    } else if !name.bytes().all(is_name_byte) {
        Some("a name may hold only A-Z a-z 0-9 _ - .")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
    }
}

/// Whether `b` may appear in a secret name.
pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

impl FromStr for SecretName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        SecretName::new(s)
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SecretName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SecretName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for name in [
            "a",
            "A",
            "0",
            "api-key",
            "api_key",
            "v1.2",
            "X".repeat(128).as_str(),
        ] {
            assert!(SecretName::new(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn refuses_what_breaks_the_rules() {
        for name in [
            "",
            "-a",
            "_a",
            ".a",
            "a b",
            "a/b",
            "é",
            "a:b",
            "a>",
            &"x".repeat(129),
        ] {
            let err = SecretName::new(name).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{name}");
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_ne!(
            SecretName::new("Key").unwrap(),
            SecretName::new("key").unwrap()
        );
    }
}
