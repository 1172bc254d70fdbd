//! Export and import: moving secrets between vaults, as Postman's encrypted export does.
//!
//! Three export shapes, all the vault file's JSON document:
//! - [`Vault::export_encrypted`]: with values, age-encrypted under a password (scrypt);
//! - [`Vault::export_plain`]: with values, in plain JSON (an explicit opt-in);
//! - [`Vault::export_references`]: names, links, domains and flags, no values: a
//!   configuration a team can share.
//!
//! [`Vault::import`] reads any of them; linked secrets come back as links.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use crate::document::{Document, RecordValue};
use crate::error::{Error, Result};
use crate::key::{VaultKey, check_passphrase};
use crate::persist::{document_of, entry_from};
use crate::store;
use crate::vault::{EntryValue, Vault};

/// What [`Vault::import`] does with a name the vault has already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnClash {
    /// Keep the vault's secret (the default).
    #[default]
    Skip,
    /// Replace it with the imported one.
    Overwrite,
    /// Import nothing and report every clash.
    Fail,
}

/// Options for [`Vault::import`].
///
/// ```
/// use request_vault::{ImportOptions, OnClash};
///
/// let options = ImportOptions::new().on_clash(OnClash::Overwrite).clear_first(false);
/// # drop(options);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ImportOptions {
    on_clash: OnClash,
    clear_first: bool,
    password: Option<SecretString>,
}

impl ImportOptions {
    /// Skip clashing names, keep the vault's other secrets, no password.
    pub fn new() -> Self {
        Self::default()
    }

    /// What to do with names the vault has already.
    pub fn on_clash(mut self, policy: OnClash) -> Self {
        self.on_clash = policy;
        self
    }

    /// Remove every secret of the vault before importing (only once the import has been
    /// read successfully).
    pub fn clear_first(mut self, clear: bool) -> Self {
        self.clear_first = clear;
        self
    }

    /// The password of an encrypted export.
    pub fn password(mut self, password: impl Into<SecretString>) -> Self {
        self.password = Some(password.into());
        self
    }
}

/// What [`Vault::import`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Names that were new.
    pub added: Vec<String>,
    /// Names whose secret was replaced.
    pub replaced: Vec<String>,
    /// Names left as they were (a clash under [`OnClash::Skip`], or a local secret without a
    /// value in a references-only export).
    pub skipped: Vec<String>,
}

const EXPORT: &str = "<export>";
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

impl Vault {
    /// Exports every secret with its value, encrypted under `password` (age, scrypt).
    ///
    /// # Errors
    ///
    /// [`Error::WeakPassphrase`] for a password shorter than 12 characters;
    /// [`Error::Locked`] while locked.
    pub fn export_encrypted(&self, password: impl Into<SecretString>) -> Result<Vec<u8>> {
        let password = password.into();
        check_passphrase(&password)?;
        let plaintext = self.export_document(true)?.encode();
        store::encrypt(&plaintext, &VaultKey::from_passphrase(password))
    }

    /// Exports every secret with its value in plain JSON. Anyone who sees the output sees
    /// the secrets: prefer [`export_encrypted`](Self::export_encrypted).
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] while locked.
    pub fn export_plain(&self) -> Result<SecretString> {
        let mut bytes = self.export_document(true)?.encode();
        // JSON is UTF-8; the buffer (exactly its size) moves into the string, no copy.
        let text = String::from_utf8(std::mem::take(&mut *bytes)).unwrap_or_default();
        Ok(SecretString::from(text))
    }

    /// Exports names, links, allowed domains and flags, without any value.
    pub fn export_references(&self) -> String {
        let state = self.read();
        String::from_utf8_lossy(&document_of(&state, false).encode()).into_owned()
    }

    fn export_document(&self, values: bool) -> Result<Document> {
        let state = self.read();
        if state.locked {
            return Err(Error::Locked);
        }
        Ok(document_of(&state, values))
    }

    /// Imports an export of any shape. Nothing changes unless the whole import succeeds.
    ///
    /// ```
    /// use request_vault::{ExposeSecret, ImportOptions, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let from = Vault::new();
    /// from.set("api-key", "s3cr3t")?;
    /// let export = from.export_plain()?;
    /// let to = Vault::new();
    /// let report = to.import(export.expose_secret().as_bytes(), ImportOptions::new())?;
    /// assert_eq!(report.added, ["api-key"]);
    /// assert_eq!(to.resolve("api-key").await?.expose_secret(), "s3cr3t");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::WrongKey`] for an encrypted export without the right password;
    /// - [`Error::Corrupt`] / [`Error::UnsupportedVersion`] for data that is not an export
    ///   this version reads;
    /// - [`Error::CorruptRecord`] naming a malformed secret, a name given twice, or a linked
    ///   secret whose reference its provider (when one is registered for it) refuses;
    /// - [`Error::AlreadyExists`] for each clash under [`OnClash::Fail`] (all at once);
    /// - [`Error::Locked`] while locked.
    pub fn import(&self, data: &[u8], options: ImportOptions) -> Result<ImportReport> {
        let path = Path::new(EXPORT);
        let plaintext;
        let json: &[u8] = if data.starts_with(AGE_MAGIC) {
            let password = options.password.clone().ok_or_else(|| Error::WrongKey {
                path: path.to_owned(),
            })?;
            if password.expose_secret().is_empty() {
                return Err(Error::WrongKey {
                    path: path.to_owned(),
                });
            }
            let key = VaultKey::from_passphrase(password);
            plaintext = store::decrypt(data, &key, path)?;
            &plaintext
        } else {
            data
        };
        let document = Document::decode(json, path)?;
        self.check_references(&document, path)?;
        let incoming: Vec<_> = document.secrets.into_iter().map(entry_from).collect();

        let mut state = self.write();
        if state.locked {
            return Err(Error::Locked);
        }
        let clashes = |state: &crate::vault::State| -> Vec<String> {
            incoming
                .iter()
                .filter(|(name, _)| state.entries.contains_key(name))
                .map(|(name, _)| name.clone())
                .collect()
        };
        if options.on_clash == OnClash::Fail && !options.clear_first {
            let clashing = clashes(&state);
            Error::gather(
                clashing
                    .into_iter()
                    .map(|name| Error::AlreadyExists { name })
                    .collect(),
            )?;
        }
        if options.clear_first {
            state.entries.clear();
        }
        let mut report = ImportReport::default();
        for (name, entry) in incoming {
            let exists = state.entries.contains_key(&name);
            match entry {
                None => {
                    // A references-only export carries no value: settings only.
                    report.skipped.push(name);
                }
                Some(_) if exists && options.on_clash == OnClash::Skip => report.skipped.push(name),
                Some(entry) => {
                    if let EntryValue::Local(value) = &entry.value {
                        self.inner.resolver.watch().local(&name, value);
                    }
                    state.entries.insert(name.clone(), entry);
                    if exists {
                        report.replaced.push(name)
                    } else {
                        report.added.push(name)
                    }
                }
            }
        }
        tracing::debug!(
            added = report.added.len(),
            replaced = report.replaced.len(),
            skipped = report.skipped.len(),
            "imported secrets"
        );
        Ok(report)
    }

    /// Checks each linked record's reference with the registered provider of its id (or
    /// of its scheme), as [`link`](Self::link) does; references no registered provider
    /// handles are taken as they are, to be checked when that provider is added.
    fn check_references(&self, document: &Document, path: &Path) -> Result<()> {
        for record in &document.secrets {
            let RecordValue::Linked {
                provider,
                reference,
            } = &record.value
            else {
                continue;
            };
            let handler = self
                .provider(provider)
                .or_else(|| self.read().registry.for_reference(reference).ok());
            if let Some(handler) = handler
                && let Err(refused) = handler.check_reference(reference)
            {
                return Err(Error::CorruptRecord {
                    path: path.to_owned(),
                    name: record.name.as_str().into(),
                    reason: format!(
                        "provider `{}` refuses its reference: {}",
                        handler.id(),
                        refused.message()
                    )
                    .into(),
                });
            }
        }
        Ok(())
    }
}
