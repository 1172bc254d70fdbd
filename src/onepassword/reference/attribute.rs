//! What a reference reads from a field or file: [`Attribute`] (the `attribute` query
//! parameter) and [`SshFormat`] (the `ssh-format` one).

use std::fmt;

/// What part of a field or file the `attribute` query parameter selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Attribute {
    /// The field's value (the default).
    Value,
    /// The field's or file's type.
    Type,
    /// The field's or file's ID.
    Id,
    /// The field's purpose (`USERNAME`, `PASSWORD`, `NOTES`), empty when it has none.
    Purpose,
    /// The current one-time password of a one-time password field (`otp`).
    Otp,
    /// The same as [`Attribute::Otp`], as spelled `totp`.
    Totp,
    /// A file's content.
    Content,
    /// A file's size in bytes.
    Size,
    /// A file's name.
    Name,
}

impl Attribute {
    /// Every attribute, in the order the docs list them.
    pub const ALL: [Attribute; 9] = [
        Attribute::Type,
        Attribute::Value,
        Attribute::Id,
        Attribute::Purpose,
        Attribute::Otp,
        Attribute::Totp,
        Attribute::Content,
        Attribute::Size,
        Attribute::Name,
    ];

    /// The attribute as written in a query.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::Value => "value",
            Attribute::Type => "type",
            Attribute::Id => "id",
            Attribute::Purpose => "purpose",
            Attribute::Otp => "otp",
            Attribute::Totp => "totp",
            Attribute::Content => "content",
            Attribute::Size => "size",
            Attribute::Name => "name",
        }
    }

    /// Whether the attribute applies to fields.
    pub fn applies_to_fields(self) -> bool {
        matches!(
            self,
            Attribute::Value
                | Attribute::Type
                | Attribute::Id
                | Attribute::Purpose
                | Attribute::Otp
                | Attribute::Totp
        )
    }

    /// Whether the attribute asks for a one-time password (`otp` or `totp`).
    pub fn is_otp(self) -> bool {
        matches!(self, Attribute::Otp | Attribute::Totp)
    }

    /// Whether the attribute applies to files.
    pub fn applies_to_files(self) -> bool {
        matches!(
            self,
            Attribute::Content
                | Attribute::Size
                | Attribute::Name
                | Attribute::Id
                | Attribute::Type
        )
    }

    /// The attribute `text` names, spelled exactly (lower case), as 1Password spells it.
    pub(super) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "value" => Attribute::Value,
            "type" => Attribute::Type,
            "id" => Attribute::Id,
            "purpose" => Attribute::Purpose,
            "otp" => Attribute::Otp,
            "totp" => Attribute::Totp,
            "content" => Attribute::Content,
            "size" => Attribute::Size,
            "name" => Attribute::Name,
            _ => return None,
        })
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The format the `ssh-format` query parameter converts an SSH private key to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SshFormat {
    /// The OpenSSH private key format (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    OpenSsh,
}

impl SshFormat {
    /// The format as written in a query.
    pub fn as_str(self) -> &'static str {
        match self {
            SshFormat::OpenSsh => "openssh",
        }
    }
}

impl fmt::Display for SshFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
