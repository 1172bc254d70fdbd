//! Persistence: a vault's encrypted file ([`Vault::create`], [`Vault::open`],
//! [`Vault::save`]), locking ([`Vault::lock`], [`Vault::unlock`]) and re-keying.
//!
//! The file's state ([`FileState`]) lives here; the vault core holds it in an opaque slot
//! and knows nothing of files.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cache::CacheKey;
use crate::document::{self, Document, Record, RecordValue, Unknown};
use crate::error::{Error, Result};
use crate::key::VaultKey;
use crate::store;
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
    /// The document's own members that a newer version wrote and this one does not know,
    /// written back on save (a record's own travel with its entry).
    unknown: Unknown,
}

impl FileState {
    fn new(path: PathBuf, key: &VaultKey, fingerprint: u64) -> Self {
        FileState {
            path,
            key: Some(key.clone()),
            fingerprint: Some(fingerprint),
            sealed: None,
            unknown: Unknown::new(),
        }
    }

    /// Keeps the document's own unknown members.
    fn keep_unknown(&mut self, document: &mut Document) {
        self.unknown = std::mem::take(&mut document.unknown);
    }

    /// The document to write for `state`, with the unknown members put back.
    fn document(&self, state: &State) -> Document {
        let mut document = document_of(state, true);
        document.unknown = self.unknown.clone();
        document
    }
}

/// The vault's file slot, locked.
pub(crate) struct FileSlot<'a>(MutexGuard<'a, Option<Box<dyn Any + Send>>>);

impl FileSlot<'_> {
    fn get(&mut self) -> Option<&mut FileState> {
        self.0.as_mut()?.downcast_mut()
    }

    fn put(&mut self, state: FileState) {
        *self.0 = Some(Box::new(state));
    }
}

impl VaultBuilder {
    /// Creates a new vault file at `path`, encrypted under `key`, and a vault with these
    /// options around it. A `path` that is a symbolic link creates the file it points to.
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
        vault.file().put(FileState::new(path, key, fingerprint));
        Ok(vault)
    }

    /// Opens the vault file at `path` with `key`, into a vault with these options.
    ///
    /// # Errors
    ///
    /// [`Error::WrongKey`], [`Error::Corrupt`] (damaged, truncated, not a vault),
    /// [`Error::CorruptRecord`] (one secret is malformed, or a name is given twice),
    /// [`Error::UnsupportedVersion`] (written by a newer version), [`Error::Io`]. The file is
    /// never modified by a failed open.
    pub fn open(self, path: impl AsRef<Path>, key: &VaultKey) -> Result<Vault> {
        let vault = self.build();
        let path = path.as_ref().to_owned();
        let bytes = store::read(&path)?;
        let mut document = Document::decode(&store::decrypt(&bytes, key, &path)?, &path)?;
        let mut file = FileState::new(path, key, store::fingerprint(&bytes));
        file.keep_unknown(&mut document);
        let entries = entries_from(document);
        vault.file().put(file);
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

    pub(crate) fn file(&self) -> FileSlot<'_> {
        // Updates are whole-field assignments: a poisoned lock holds consistent data.
        FileSlot(self.inner.file.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The path of the vault's file, if it has one (as given, even when it is a symbolic
    /// link: saving writes to the link's target).
    pub fn path(&self) -> Option<PathBuf> {
        self.file().get().map(|f| f.path.clone())
    }

    /// Writes the vault to its file, atomically: the file holds either the old or the new
    /// contents, whatever happens, and its mode is 0600. When the path is a symbolic link,
    /// the file it points to is replaced and the link stays. Members written by a newer
    /// version of this crate, which this one does not know, are written back unchanged.
    ///
    /// # Errors
    ///
    /// - [`Error::NoFile`] for a vault made with [`Vault::new`];
    /// - [`Error::Locked`] while locked (saving then would lose the values);
    /// - [`Error::Conflict`] when another process saved the file since this vault read it,
    ///   through this path or any other that leads to the same file (nothing is written;
    ///   open the file again);
    /// - [`Error::Io`] when writing fails (the old file is kept).
    pub fn save(&self) -> Result<()> {
        let mut slot = self.file();
        let file = slot.get().ok_or(Error::NoFile)?;
        let key = file.key.as_ref().ok_or(Error::Locked)?;
        let plaintext = {
            let state = self.read();
            if state.locked {
                return Err(Error::Locked);
            }
            file.document(&state).encode()
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
        let mut slot = self.file();
        let mut state = self.write();
        if state.locked {
            return;
        }
        if let Some(file) = slot.get()
            && let Some(key) = file.key.take()
        {
            file.sealed = store::encrypt(&file.document(&state).encode(), &key).ok();
        }
        for entry in state.entries.values_mut() {
            if let EntryValue::Local(value) = &mut entry.value {
                *value = SecretString::from(String::new());
            }
        }
        state.locked = true;
        drop(state);
        drop(slot);
        self.clear_cache();
        tracing::debug!("locked the vault");
    }

    /// Whether the vault is locked.
    pub fn is_locked(&self) -> bool {
        self.read().locked
    }

    /// Restores the values wiped by [`lock`](Self::lock), with the vault's key. On a vault
    /// that is not locked, checks that `key` is its key.
    ///
    /// # Errors
    ///
    /// - [`Error::WrongKey`] when `key` is not the vault's key (the vault stays locked, or
    ///   stays unlocked as it was);
    /// - [`Error::NoFile`] for a vault without a file (its values are gone);
    /// - the errors of [`open`](Self::open) when the file must be read again.
    pub fn unlock(&self, key: &VaultKey) -> Result<()> {
        let mut slot = self.file();
        let file = slot.get().ok_or(Error::NoFile)?;
        if !self.is_locked() {
            let same = file
                .key
                .as_ref()
                .is_some_and(|held| held.expose_secret() == key.expose_secret());
            return if same {
                Ok(())
            } else {
                Err(Error::WrongKey {
                    path: file.path.clone(),
                })
            };
        }
        let sealed = match &file.sealed {
            Some(sealed) => sealed.clone(),
            None => store::read(&file.path)?,
        };
        let mut document =
            Document::decode(&store::decrypt(&sealed, key, &file.path)?, &file.path)?;
        if file.sealed.is_none() {
            file.keep_unknown(&mut document);
        }
        let entries = entries_from(document);
        let watch = self.inner.resolver.watch();
        for (name, entry) in &entries {
            if let EntryValue::Local(value) = &entry.value {
                watch.local(name, value);
            }
        }
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
            let mut slot = self.file();
            let file = slot.get().ok_or(Error::NoFile)?;
            if file.key.is_none() {
                return Err(Error::Locked);
            }
            file.key.replace(new_key.clone())
        };
        let saved = self.save();
        if saved.is_err()
            && let Some(file) = self.file().get()
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
                    // `to_owned` allocates exactly the value's length.
                    value: values.then(|| Zeroizing::new(value.expose_secret().to_owned())),
                },
                EntryValue::Linked(key) => RecordValue::Linked {
                    provider: key.provider.clone(),
                    reference: key.reference.clone(),
                },
            },
            allowed_domains: entry.allowed_domains.clone(),
            enabled: entry.enabled,
            created_ms: document::millis(entry.created),
            updated_ms: document::millis(entry.updated),
            // What a newer version wrote may hold secrets of its own: only documents that
            // carry values (the file, full exports) carry it.
            unknown: entry
                .unknown
                .as_deref()
                .filter(|_| values)
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    Document::new(records)
}

/// The entry a record describes (the document checked every field when it was read). A
/// local record without a value (from a references-only export) gives `None`.
pub(crate) fn entry_from(record: Record) -> (String, Option<Entry>) {
    let value = match record.value {
        RecordValue::Local { value: Some(value) } => {
            EntryValue::Local(SecretString::from(value.as_str()))
        }
        RecordValue::Local { value: None } => return (record.name, None),
        RecordValue::Linked {
            provider,
            reference,
        } => EntryValue::Linked(Arc::new(CacheKey::new(&provider, &reference))),
    };
    let mut entry = Entry::new(value);
    entry.allowed_domains = record.allowed_domains;
    entry.enabled = record.enabled;
    entry.created = document::from_millis(record.created_ms);
    entry.updated = document::from_millis(record.updated_ms);
    entry.unknown = (!record.unknown.is_empty()).then(|| Box::new(record.unknown));
    (record.name, Some(entry))
}

fn entries_from(document: Document) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    for record in document.secrets {
        let (name, entry) = entry_from(record);
        let entry = entry
            .unwrap_or_else(|| Entry::new(EntryValue::Local(SecretString::from(String::new()))));
        entries.insert(name, entry);
    }
    entries
}
