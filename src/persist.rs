//! Persistence: a vault's encrypted file ([`Vault::create`], [`Vault::open`],
//! [`Vault::save`]), locking ([`Vault::lock`], [`Vault::unlock`]) and re-keying.

use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cache::CacheKey;
use crate::error::{Error, Result};
use crate::key::VaultKey;
use crate::name;
use crate::store::{self, Document, Record, RecordValue};
use crate::vault::{Entry, EntryValue, State, Vault, VaultBuilder};

/// A vault's file and key.
pub(crate) struct FileState {
    path: PathBuf,
    /// The key, while unlocked.
    key: Option<VaultKey>,
    /// The file's fingerprint when this vault last read or wrote it.
    fingerprint: Option<u64>,
    /// While locked: the state at locking time, encrypted to the key, so that unlocking
    /// restores changes not saved yet.
    sealed: Option<Vec<u8>>,
}

impl VaultBuilder {
    /// Creates a new vault file at `path`, encrypted under `key`, and a vault with these
    /// options around it.
    ///
    /// # Errors
    ///
    /// - [`Error::WeakPassphrase`] for a passphrase key shorter than 12 characters;
    /// - [`Error::Io`] when a file exists at `path` already or it cannot be written.
    pub fn create(self, path: impl AsRef<Path>, key: &VaultKey) -> Result<Vault> {
        key.check_strength()?;
        let vault = self.build();
        let path = path.as_ref().to_owned();
        let bytes = store::encrypt(&Document::new(Vec::new()).encode(), key)?;
        let fingerprint = store::write_atomic(&path, &bytes, None, true)?;
        *vault.file() = Some(FileState {
            path,
            key: Some(key.clone()),
            fingerprint: Some(fingerprint),
            sealed: None,
        });
        Ok(vault)
    }

    /// Opens the vault file at `path` with `key`, into a vault with these options.
    ///
    /// # Errors
    ///
    /// [`Error::WrongKey`], [`Error::Corrupt`] (damaged, truncated, not a vault),
    /// [`Error::UnsupportedVersion`] (written by a newer version), [`Error::Io`]. The file is
    /// never modified by a failed open.
    pub fn open(self, path: impl AsRef<Path>, key: &VaultKey) -> Result<Vault> {
        let vault = self.build();
        let path = path.as_ref().to_owned();
        let bytes = store::read(&path)?;
        let document = Document::decode(&store::decrypt(&bytes, key, &path)?, &path)?;
        let entries = entries_from(document, &path)?;
        *vault.file() = Some(FileState {
            path,
            key: Some(key.clone()),
            fingerprint: Some(store::fingerprint(&bytes)),
            sealed: None,
        });
        vault.write().entries = entries;
        Ok(vault)
    }
}

impl Vault {
    /// Creates a new vault file at `path`, encrypted under `key`.
    ///
    /// ```
    /// use request_vault::{ExposeSecret, Vault, VaultKey};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("secrets.age");
    /// let key = VaultKey::generate();
    /// let vault = Vault::create(&path, &key)?;
    /// vault.set("api-key", "s3cr3t")?;
    /// vault.save()?;
    ///
    /// let reopened = Vault::open(&path, &key)?;
    /// assert_eq!(reopened.secrets().len(), 1);
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`VaultBuilder::create`].
    pub fn create(path: impl AsRef<Path>, key: &VaultKey) -> Result<Vault> {
        Vault::builder().create(path, key)
    }

    /// Opens the vault file at `path` with `key`.
    ///
    /// # Errors
    ///
    /// As [`VaultBuilder::open`].
    pub fn open(path: impl AsRef<Path>, key: &VaultKey) -> Result<Vault> {
        Vault::builder().open(path, key)
    }

    pub(crate) fn file(&self) -> MutexGuard<'_, Option<FileState>> {
        // Updates are whole-field assignments: a poisoned lock holds consistent data.
        self.inner.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The path of the vault's file, if it has one.
    pub fn path(&self) -> Option<PathBuf> {
        self.file().as_ref().map(|f| f.path.clone())
    }

    /// Writes the vault to its file, atomically: the file holds either the old or the new
    /// contents, whatever happens, and its mode is 0600.
    ///
    /// # Errors
    ///
    /// - [`Error::NoFile`] for a vault made with [`Vault::new`];
    /// - [`Error::Locked`] while locked (saving then would lose the values);
    /// - [`Error::Conflict`] when another process saved the file since this vault read it
    ///   (nothing is written; open the file again);
    /// - [`Error::Io`] when writing fails (the old file is kept).
    pub fn save(&self) -> Result<()> {
        let mut file = self.file();
        let file = file.as_mut().ok_or(Error::NoFile)?;
        let key = file.key.as_ref().ok_or(Error::Locked)?;
        let plaintext = {
            let state = self.read();
            if state.locked {
                return Err(Error::Locked);
            }
            document_of(&state, true).encode()
        };
        let bytes = store::encrypt(&plaintext, key)?;
        file.fingerprint = Some(store::write_atomic(
            &file.path,
            &bytes,
            file.fingerprint,
            false,
        )?);
        tracing::debug!(path = %file.path.display(), "saved the vault");
        Ok(())
    }

    /// Wipes every local value and every cached value from memory (zeroized), and forgets the
    /// key. Resolving then fails with [`Error::Locked`], and changes are refused, until
    /// [`unlock`](Self::unlock). Names, links and domains stay visible.
    ///
    /// A vault with a key keeps its state encrypted under that key, so that unlocking
    /// restores changes not saved yet. A vault without a file has no key: its local values
    /// are gone for good.
    pub fn lock(&self) {
        // Lock order, everywhere: the file, then the state.
        let mut file = self.file();
        let mut state = self.write();
        if state.locked {
            return;
        }
        if let Some(file) = file.as_mut()
            && let Some(key) = file.key.take()
        {
            file.sealed = store::encrypt(&document_of(&state, true).encode(), &key).ok();
        }
        for entry in state.entries.values_mut() {
            if let EntryValue::Local(value) = &mut entry.value {
                *value = SecretString::from(String::new());
            }
        }
        state.locked = true;
        drop(state);
        drop(file);
        self.clear_cache();
        tracing::debug!("locked the vault");
    }

    /// Whether the vault is locked.
    pub fn is_locked(&self) -> bool {
        self.read().locked
    }

    /// Restores the values wiped by [`lock`](Self::lock), with the vault's key.
    ///
    /// # Errors
    ///
    /// - [`Error::WrongKey`] when `key` is not the vault's key (the vault stays locked);
    /// - [`Error::NoFile`] for a vault without a file (its values are gone);
    /// - the errors of [`open`](Self::open) when the file must be read again.
    pub fn unlock(&self, key: &VaultKey) -> Result<()> {
        let mut file = self.file();
        let file = file.as_mut().ok_or(Error::NoFile)?;
        if !self.is_locked() {
            return Ok(());
        }
        let sealed = match &file.sealed {
            Some(sealed) => sealed.clone(),
            None => store::read(&file.path)?,
        };
        let document = Document::decode(&store::decrypt(&sealed, key, &file.path)?, &file.path)?;
        let entries = entries_from(document, &file.path)?;
        let mut state = self.write();
        state.entries = entries;
        state.locked = false;
        file.key = Some(key.clone());
        file.sealed = None;
        tracing::debug!("unlocked the vault");
        Ok(())
    }

    /// Re-encrypts the vault file under `new_key` and keeps using it.
    ///
    /// # Errors
    ///
    /// [`Error::WeakPassphrase`] for a passphrase key shorter than 12 characters, and the
    /// errors of [`save`](Self::save); on error the old key stays in use.
    pub fn rekey(&self, new_key: &VaultKey) -> Result<()> {
        new_key.check_strength()?;
        let old = {
            let mut file = self.file();
            let file = file.as_mut().ok_or(Error::NoFile)?;
            if file.key.is_none() {
                return Err(Error::Locked);
            }
            file.key.replace(new_key.clone())
        };
        let saved = self.save();
        if saved.is_err()
            && let Some(file) = self.file().as_mut()
        {
            file.key = old;
        }
        saved
    }
}

/// The document for `state`; with `values`, local values are included.
pub(crate) fn document_of(state: &State, values: bool) -> Document {
    let records = state
        .entries
        .iter()
        .map(|(name, entry)| Record {
            name: name.clone(),
            value: match &entry.value {
                EntryValue::Local(value) => RecordValue::Local {
                    value: values.then(|| Zeroizing::new(value.expose_secret().to_owned())),
                },
                EntryValue::Linked(key) => RecordValue::Linked {
                    provider: key.provider.clone(),
                    reference: key.reference.clone(),
                },
            },
            allowed_domains: entry.allowed_domains.clone(),
            enabled: entry.enabled,
            created_ms: store::millis(entry.created),
            updated_ms: store::millis(entry.updated),
        })
        .collect();
    Document::new(records)
}

/// The entry a record describes, once its name is checked. A local record without a value
/// (from a references-only export) gives `None`.
pub(crate) fn entry_from(record: Record, path: &Path) -> Result<(String, Option<Entry>)> {
    name::check(&record.name).map_err(|_| Error::Corrupt {
        path: path.to_owned(),
        reason: "a secret's name breaks the naming rules",
    })?;
    let value = match record.value {
        RecordValue::Local { value: Some(value) } => {
            EntryValue::Local(SecretString::from(value.as_str()))
        }
        RecordValue::Local { value: None } => return Ok((record.name, None)),
        RecordValue::Linked {
            provider,
            reference,
        } => EntryValue::Linked(Arc::new(CacheKey::new(&provider, &reference))),
    };
    let mut entry = Entry::new(value);
    entry.allowed_domains = record.allowed_domains;
    entry.enabled = record.enabled;
    entry.created = store::from_millis(record.created_ms);
    entry.updated = store::from_millis(record.updated_ms);
    Ok((record.name, Some(entry)))
}

fn entries_from(
    document: Document,
    path: &Path,
) -> Result<std::collections::BTreeMap<String, Entry>> {
    let mut entries = std::collections::BTreeMap::new();
    for record in document.secrets {
        let (name, entry) = entry_from(record, path)?;
        let entry = entry
            .unwrap_or_else(|| Entry::new(EntryValue::Local(SecretString::from(String::new()))));
        entries.insert(name, entry);
    }
    Ok(entries)
}
