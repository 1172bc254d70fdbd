//! `azurekeyvault://VAULT/SECRET[/VERSION][#KEY]`: parsing and checking Azure Key Vault
//! references offline, with the byte offset of every problem.
//!
//! The rules are Key Vault's own: a vault name has 3 to 24 characters of `0-9 a-z A-Z -`,
//! starts with a letter, ends with a letter or digit and has no `--`; a secret name has 1 to
//! 127 characters of `0-9 a-z A-Z -`; a version is the 32-character identifier Key Vault
//! gives each version (any 1 to 64 letters and digits are accepted). Names are
//! case-insensitive in Key Vault, so two references differing only in case name one secret.

use crate::provider::field::FieldKey;
use crate::provider::{ProviderError, REF_PREFIX};

use super::error::PROVIDER_ID;

/// The URI scheme of the provider's references: `azurekeyvault://VAULT/SECRET[/VERSION][#KEY]`.
pub const SCHEME: &str = "azurekeyvault";

/// The longest secret name Key Vault accepts.
const MAX_SECRET_NAME: usize = 127;
/// The longest version identifier accepted (Key Vault's are 32 characters).
const MAX_VERSION: usize = 64;

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyVaultRef {
    /// The vault name, as written.
    pub(crate) vault: String,
    /// The secret name, as written.
    pub(crate) secret: String,
    /// The version, when one is pinned.
    pub(crate) version: Option<String>,
    /// The `#KEY` or `#/pointer` to pick out of a JSON value.
    pub(crate) field: Option<FieldKey>,
}

/// What one fetch is about: a (vault, secret, version) triple, case-folded as Key Vault
/// matches names, so that references differing only in case or `#KEY` share one fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SecretKey {
    pub(crate) vault: String,
    pub(crate) secret: String,
    pub(crate) version: Option<String>,
}

impl KeyVaultRef {
    /// Parses `reference` (with or without the `ref+` prefix).
    ///
    /// # Errors
    ///
    /// [`InvalidReference`](crate::ProviderErrorKind::InvalidReference) with the byte offset
    /// (in `reference` as given) of the first problem.
    pub(crate) fn parse(reference: &str) -> Result<KeyVaultRef, ProviderError> {
        let invalid = |at: usize, message: String| {
            ProviderError::invalid_reference(PROVIDER_ID, reference, at, message)
        };
        let base = if reference.starts_with(REF_PREFIX) {
            REF_PREFIX.len()
        } else {
            0
        };
        let prefix = format!("{SCHEME}://");
        let rest = &reference[base..];
        if !rest.starts_with(&prefix) {
            return Err(invalid(
                base,
                format!("expected `{prefix}VAULT/SECRET[/VERSION][#KEY]`"),
            ));
        }
        let start = base + prefix.len();
        let body_and_field = &reference[start..];
        let (body, field) = match body_and_field.find('#') {
            Some(hash) => {
                let key_at = start + hash + 1;
                let key = FieldKey::parse(PROVIDER_ID, reference, key_at, &reference[key_at..])?;
                (&body_and_field[..hash], Some(key))
            }
            None => (body_and_field, None),
        };
        if let Some(q) = body.find('?') {
            return Err(invalid(
                start + q,
                "Key Vault references take no query: pin a version as `/VERSION`".to_owned(),
            ));
        }
        let mut segments = body.split('/');
        let mut at = start;
        let vault = segments.next().unwrap_or_default();
        check_vault_name(vault).map_err(|(offset, message)| invalid(at + offset, message))?;
        at += vault.len() + 1;
        let Some(secret) = segments.next() else {
            return Err(invalid(
                start + body.len(),
                "the secret name is missing: expected `VAULT/SECRET`".to_owned(),
            ));
        };
        check_secret_name(secret).map_err(|(offset, message)| invalid(at + offset, message))?;
        at += secret.len() + 1;
        let version = match segments.next() {
            None => None,
            Some(version) => {
                check_version(version)
                    .map_err(|(offset, message)| invalid(at + offset, message))?;
                at += version.len();
                Some(version.to_owned())
            }
        };
        if segments.next().is_some() {
            return Err(invalid(
                at,
                "too many segments: expected `VAULT/SECRET[/VERSION]`".to_owned(),
            ));
        }
        Ok(KeyVaultRef {
            vault: vault.to_owned(),
            secret: secret.to_owned(),
            version,
            field,
        })
    }

    /// The fetch this reference needs.
    pub(crate) fn key(&self) -> SecretKey {
        SecretKey {
            vault: self.vault.to_ascii_lowercase(),
            secret: self.secret.to_ascii_lowercase(),
            version: self.version.as_ref().map(|v| v.to_ascii_lowercase()),
        }
    }
}

type Problem = (usize, String);

/// Key Vault's vault-name rules; the offset is within `name`.
pub(crate) fn check_vault_name(name: &str) -> Result<(), Problem> {
    if name.is_empty() {
        return Err((0, "the vault name is empty".to_owned()));
    }
    let bytes = name.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !(b.is_ascii_alphanumeric() || b == b'-') {
            return Err((
                i,
                "a vault name has only letters, digits and `-`".to_owned(),
            ));
        }
        if b == b'-' && i > 0 && bytes[i - 1] == b'-' {
            return Err((i, "a vault name has no `--`".to_owned()));
        }
    }
    if !bytes[0].is_ascii_alphabetic() {
        return Err((0, "a vault name starts with a letter".to_owned()));
    }
    if bytes[bytes.len() - 1] == b'-' {
        return Err((
            bytes.len() - 1,
            "a vault name ends with a letter or digit".to_owned(),
        ));
    }
    if !(3..=24).contains(&bytes.len()) {
        return Err((
            0,
            format!("a vault name has 3 to 24 characters, not {}", bytes.len()),
        ));
    }
    Ok(())
}

/// Key Vault's secret-name rules; the offset is within `name`.
pub(crate) fn check_secret_name(name: &str) -> Result<(), Problem> {
    if name.is_empty() {
        return Err((0, "the secret name is empty".to_owned()));
    }
    if let Some(i) = name
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err((
            i,
            "a secret name has only letters, digits and `-`".to_owned(),
        ));
    }
    if name.len() > MAX_SECRET_NAME {
        return Err((
            MAX_SECRET_NAME,
            format!("a secret name has at most {MAX_SECRET_NAME} characters"),
        ));
    }
    Ok(())
}

fn check_version(version: &str) -> Result<(), Problem> {
    if version.is_empty() {
        return Err((
            0,
            "the version is empty: leave out the trailing `/` for the current version".to_owned(),
        ));
    }
    if let Some(i) = version.bytes().position(|b| !b.is_ascii_alphanumeric()) {
        return Err((i, "a version has only letters and digits".to_owned()));
    }
    if version.len() > MAX_VERSION {
        return Err((
            MAX_VERSION,
            format!("a version has at most {MAX_VERSION} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderErrorKind;

    fn offset(reference: &str) -> usize {
        let err = KeyVaultRef::parse(reference).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidReference);
        err.offset().unwrap()
    }

    #[test]
    fn parses_every_form() {
        let r = KeyVaultRef::parse("azurekeyvault://my-vault/db-password").unwrap();
        assert_eq!(
            (r.vault.as_str(), r.secret.as_str()),
            ("my-vault", "db-password")
        );
        assert_eq!((r.version, r.field), (None, None));

        let r = KeyVaultRef::parse(
            "ref+azurekeyvault://myvault/Db/0123456789abcdef0123456789abcdef#/a/b",
        )
        .unwrap();
        assert_eq!(
            r.version.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(r.field, Some(FieldKey::Pointer("/a/b".into())));

        let r = KeyVaultRef::parse("azurekeyvault://myvault/db#user name").unwrap();
        assert_eq!(r.field, Some(FieldKey::Member("user name".into())));
    }

    #[test]
    fn case_differences_share_a_fetch() {
        let a = KeyVaultRef::parse("azurekeyvault://MyVault/DB#user").unwrap();
        let b = KeyVaultRef::parse("azurekeyvault://myvault/db#password").unwrap();
        assert_eq!(a.key(), b.key());
    }

    #[test]
    fn problems_point_at_their_byte() {
        assert_eq!(offset("azurekeyvault:/v/s"), 0);
        assert_eq!(offset("ref+akv://vault/s"), 4);
        assert_eq!(offset("azurekeyvault://"), 16);
        assert_eq!(offset("azurekeyvault://vault"), 21);
        assert_eq!(offset("azurekeyvault://va/s"), 16);
        assert_eq!(offset("azurekeyvault://1vault/s"), 16);
        assert_eq!(offset("azurekeyvault://my--vault/s"), 19);
        assert_eq!(offset("azurekeyvault://myvault-/s"), 23);
        assert_eq!(offset("azurekeyvault://my_vault/s"), 18);
        assert_eq!(offset(&format!("azurekeyvault://{}/s", "v".repeat(25))), 16);
        assert_eq!(offset("azurekeyvault://vault/"), 22);
        assert_eq!(offset("azurekeyvault://vault/db.pass"), 24);
        assert_eq!(
            offset(&format!("azurekeyvault://vault/{}", "s".repeat(128))),
            149
        );
        assert_eq!(offset("azurekeyvault://vault/db/"), 25);
        assert_eq!(offset("azurekeyvault://vault/db/v-1"), 26);
        assert_eq!(offset("azurekeyvault://vault/db/v1/x"), 27);
        assert_eq!(offset("azurekeyvault://vault/db?version=1"), 24);
        assert_eq!(offset("azurekeyvault://vault/db#"), 25);
        assert_eq!(offset("ref+azurekeyvault://vault/db.x"), 28);
        assert!(KeyVaultRef::parse(&format!("azurekeyvault://vault/{}", "s".repeat(127))).is_ok());
    }
}
