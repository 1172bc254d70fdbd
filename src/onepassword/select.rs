//! Choosing what a reference reads from a fetched item, as 1Password does: the section (by
//! ID or label; several sections with one label are searched together), then the field (by
//! ID, else by label), else a file of that name; then the attribute.

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::api::{Field, File, Item, SectionRef};
use super::reference::{Attribute, SecretReference, SshFormat};
use super::{PROVIDER_ID, ssh};
use crate::provider::{ProviderError, ProviderErrorKind};

/// What a reference reads from an item.
#[derive(Debug)]
pub(crate) enum Selected<'a> {
    /// A value ready to return.
    Text(SecretString),
    /// A file's content, still to be downloaded.
    FileContent(&'a File),
}

fn error(kind: ProviderErrorKind, message: String) -> ProviderError {
    ProviderError::new(PROVIDER_ID, kind, message)
}

/// Picks the field or file `reference` names in `item`, and its attribute.
pub(crate) fn select<'a>(
    item: &'a Item,
    reference: &SecretReference,
) -> Result<Selected<'a>, ProviderError> {
    let sections: Option<Vec<&str>> = match reference.section() {
        None => None,
        Some(wanted) => {
            let ids: Vec<&str> = item
                .sections
                .iter()
                .filter(|s| {
                    s.id == wanted.as_str() || s.label.as_deref().is_some_and(|l| wanted.matches(l))
                })
                .map(|s| s.id.as_str())
                .collect();
            if ids.is_empty() {
                return Err(error(
                    ProviderErrorKind::NotFound,
                    format!(
                        "no section `{wanted}` in item `{}` ({})",
                        item.title, item.id
                    ),
                ));
            }
            Some(ids)
        }
    };
    let in_scope = |section: &Option<SectionRef>| match &sections {
        None => true,
        Some(ids) => section
            .as_ref()
            .is_some_and(|s| ids.contains(&s.id.as_str())),
    };
    let wanted = reference.field();

    let by_id: Vec<&Field> = item
        .fields
        .iter()
        .filter(|f| in_scope(&f.section) && f.id == wanted.as_str())
        .collect();
    let fields = if by_id.is_empty() {
        item.fields
            .iter()
            .filter(|f| {
                in_scope(&f.section) && f.label.as_deref().is_some_and(|l| wanted.matches(l))
            })
            .collect()
    } else {
        by_id
    };
    match fields.as_slice() {
        [field] => return field_attribute(field, reference).map(Selected::Text),
        [] => {}
        several => {
            return Err(error(
                ProviderErrorKind::Ambiguous,
                format!(
                    "{} fields named `{wanted}` in item `{}`",
                    several.len(),
                    item.title
                ),
            )
            .with_candidates(several.iter().map(|f| f.id.clone()).collect()));
        }
    }

    let files: Vec<&File> = item
        .files
        .iter()
        .filter(|f| in_scope(&f.section) && (f.id == wanted.as_str() || wanted.matches(&f.name)))
        .collect();
    match files.as_slice() {
        [file] => file_attribute(file, reference),
        [] => Err(error(
            ProviderErrorKind::NotFound,
            format!(
                "no field or file `{wanted}` in item `{}` ({})",
                item.title, item.id
            ),
        )),
        several => Err(error(
            ProviderErrorKind::Ambiguous,
            format!(
                "{} files named `{wanted}` in item `{}`",
                several.len(),
                item.title
            ),
        )
        .with_candidates(several.iter().map(|f| f.id.clone()).collect())),
    }
}

fn field_attribute(
    field: &Field,
    reference: &SecretReference,
) -> Result<SecretString, ProviderError> {
    let label = field.label.as_deref().unwrap_or(&field.id);
    let attribute = reference.attribute().unwrap_or(Attribute::Value);
    let text = |s: &str| Ok(SecretString::from(s));
    match attribute {
        Attribute::Value => {
            let value = field.value.as_ref().map_or("", |v| v.as_str());
            match reference.ssh_format() {
                Some(SshFormat::OpenSsh) => ssh::to_openssh(value)
                    .map(|key| SecretString::from(key.as_str()))
                    .map_err(|why| {
                        error(
                            ProviderErrorKind::Unsupported,
                            format!(
                                "field `{label}` cannot be converted to the OpenSSH format: {why}"
                            ),
                        )
                    }),
                None => text(value),
            }
        }
        Attribute::Type => text(&field.kind),
        Attribute::Id => text(&field.id),
        Attribute::Purpose => text(field.purpose.as_deref().unwrap_or("")),
        Attribute::Otp | Attribute::Totp => match &field.totp {
            Some(code) => Ok(SecretString::from(code.as_str())),
            None => Err(error(
                ProviderErrorKind::Unsupported,
                format!(
                    "field `{label}` is not a one-time password field (type {})",
                    field.kind
                ),
            )),
        },
        other => Err(error(
            ProviderErrorKind::Unsupported,
            format!("the attribute `{other}` applies to files, and `{label}` is a field"),
        )),
    }
}

fn file_attribute<'a>(
    file: &'a File,
    reference: &SecretReference,
) -> Result<Selected<'a>, ProviderError> {
    let text = |s: String| Ok(Selected::Text(SecretString::from(s)));
    match reference.attribute().unwrap_or(Attribute::Content) {
        Attribute::Content => Ok(Selected::FileContent(file)),
        Attribute::Size => text(file.size.to_string()),
        Attribute::Name => text(file.name.clone()),
        Attribute::Id => text(file.id.clone()),
        Attribute::Type => text("FILE".to_owned()),
        other => Err(error(
            ProviderErrorKind::Unsupported,
            format!(
                "the attribute `{other}` applies to fields, and `{}` is a file",
                file.name
            ),
        )),
    }
}

/// A downloaded file's content as a value: files are returned as text.
pub(crate) fn file_text(
    file: &File,
    bytes: &Zeroizing<Vec<u8>>,
) -> Result<SecretString, ProviderError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(SecretString::from(text)),
        Err(_) => Err(error(
            ProviderErrorKind::Unsupported,
            format!(
                "file `{}` is not UTF-8 text and cannot be returned as a string",
                file.name
            ),
        )),
    }
}
