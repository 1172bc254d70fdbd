//! Choosing what a reference reads from a fetched item, as 1Password does: the section (by
//! ID or label; several sections with one label are searched together), then the field (by
//! ID, else by label), else a file of that name; then the attribute.

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::error::error;
use super::reference::{Attribute, SecretReference, SshFormat};
#[cfg(feature = "ssh")]
use super::ssh::to_openssh;
use super::wire::{Field, File, Item, SectionRef};
use crate::provider::{ProviderError, ProviderErrorKind};

/// What a reference reads from an item.
#[derive(Debug)]
pub(crate) enum Selected<'a> {
    /// A value ready to return.
    Text(SecretString),
    /// A file's content, still to be downloaded.
    FileContent(&'a File),
}

/// Without the `ssh` feature, `ssh-format=openssh` is refused when linked; a reference
/// resolved without linking fails with this reason.
#[cfg(not(feature = "ssh"))]
fn to_openssh(_: &str) -> Result<Zeroizing<String>, &'static str> {
    Err("this build of request-vault leaves out the `ssh` cargo feature that converts SSH keys")
}

/// Picks the field or file `reference` names in `item`, and its attribute.
pub(crate) fn select<'a>(
    item: &'a Item,
    reference: &SecretReference,
) -> Result<Selected<'a>, ProviderError> {
    let scope = Scope::of(item, reference)?;
    match one_field(item, reference, &scope)? {
        Some(field) => field_attribute(field, reference).map(Selected::Text),
        None => file_attribute(one_file(item, reference, &scope)?, reference),
    }
}

/// The sections a reference looks in: every one, or those its section segment names (by
/// ID or label; several sections may share a label).
struct Scope<'a>(Option<Vec<&'a str>>);

impl<'a> Scope<'a> {
    fn of(item: &'a Item, reference: &SecretReference) -> Result<Self, ProviderError> {
        let Some(wanted) = reference.section() else {
            return Ok(Scope(None));
        };
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
        Ok(Scope(Some(ids)))
    }

    /// Whether a field or file in `section` is looked at.
    fn holds(&self, section: &Option<SectionRef>) -> bool {
        match &self.0 {
            None => true,
            Some(ids) => section
                .as_ref()
                .is_some_and(|s| ids.contains(&s.id.as_str())),
        }
    }
}

/// The field the reference names in scope: by ID, else by label. `None` when there is
/// none (the reference may name a file); an error when several share the label.
fn one_field<'a>(
    item: &'a Item,
    reference: &SecretReference,
    scope: &Scope<'_>,
) -> Result<Option<&'a Field>, ProviderError> {
    let wanted = reference.field();
    let by_id: Vec<&Field> = item
        .fields
        .iter()
        .filter(|f| scope.holds(&f.section) && f.id == wanted.as_str())
        .collect();
    let fields = if by_id.is_empty() {
        item.fields
            .iter()
            .filter(|f| {
                scope.holds(&f.section) && f.label.as_deref().is_some_and(|l| wanted.matches(l))
            })
            .collect()
    } else {
        by_id
    };
    match fields.as_slice() {
        [field] => Ok(Some(field)),
        [] => Ok(None),
        several => Err(error(
            ProviderErrorKind::Ambiguous,
            format!(
                "{} fields named `{wanted}` in item `{}`",
                several.len(),
                item.title
            ),
        )
        .with_candidates(several.iter().map(|f| f.id.clone()).collect())),
    }
}

/// The file the reference names in scope, by ID or name.
fn one_file<'a>(
    item: &'a Item,
    reference: &SecretReference,
    scope: &Scope<'_>,
) -> Result<&'a File, ProviderError> {
    let wanted = reference.field();
    let files: Vec<&File> = item
        .files
        .iter()
        .filter(|f| scope.holds(&f.section) && (f.id == wanted.as_str() || wanted.matches(&f.name)))
        .collect();
    match files.as_slice() {
        [file] => Ok(file),
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
                Some(SshFormat::OpenSsh) => to_openssh(value)
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
