//! The vault file: an age-encrypted JSON document, written atomically and durably.
//!
//! The plaintext is a JSON object `{"format": "request-vault", "version": 1, "secrets": […]}`
//! where each secret is `{"name", "kind": "local", "value"}` or `{"name", "kind": "linked",
//! "provider", "reference"}`, with `allowed_domains`, `enabled`, `created_ms` and
//! `updated_ms` (milliseconds since the Unix epoch). Linked secrets' fetched values are never
//! written. Anyone with the key can read the file with the `age` CLI:
//! `age -d -i key.txt vault.age`.
//!
//! Saving writes a temporary file (mode 0600) in the same directory, syncs it, renames it
//! over the old file and syncs the directory, all under an advisory lock on the directory;
//! a file changed by someone else since it was read is not overwritten.

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::domain::DomainPattern;
use crate::error::{Error, Result};
use crate::key::VaultKey;

/// The `format` member of every vault document.
pub(crate) const FORMAT: &str = "request-vault";
/// The newest format version this crate writes and reads.
pub(crate) const VERSION: u32 = 1;

/// The plaintext of a vault file or an export.
#[derive(Serialize, Deserialize)]
pub(crate) struct Document {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) secrets: Vec<Record>,
}

/// One secret in a document.
#[derive(Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) name: String,
    #[serde(flatten)]
    pub(crate) value: RecordValue,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_domains: Vec<DomainPattern>,
    #[serde(default = "enabled_by_default")]
    pub(crate) enabled: bool,
    #[serde(default)]
    pub(crate) created_ms: u64,
    #[serde(default)]
    pub(crate) updated_ms: u64,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum RecordValue {
    /// A local secret; `value` is absent in a references-only export.
    Local {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Zeroizing<String>>,
    },
    Linked {
        provider: String,
        reference: String,
    },
}

#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl Document {
    pub(crate) fn new(secrets: Vec<Record>) -> Self {
        Document {
            format: FORMAT.to_owned(),
            version: VERSION,
            secrets,
        }
    }

    /// The JSON bytes, in a buffer sized up front and zeroized when dropped.
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let estimate = 64
            + self
                .secrets
                .iter()
                .map(|r| {
                    let value = match &r.value {
                        RecordValue::Local { value } => value.as_ref().map_or(0, |v| v.len() * 6),
                        RecordValue::Linked {
                            provider,
                            reference,
                        } => provider.len() + reference.len() * 2,
                    };
                    256 + r.name.len() + value + r.allowed_domains.len() * 64
                })
                .sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(estimate));
        // Serializing plain data into a Vec cannot fail.
        let _ = serde_json::to_writer_pretty(&mut *out, self);
        out
    }

    /// Parses a document, checking its format and version first.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        let corrupt = |reason| Error::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|_| corrupt("the content is not a vault document"))?;
        if header.format != FORMAT {
            return Err(corrupt("the content is not a request-vault document"));
        }
        if header.version > VERSION {
            return Err(Error::UnsupportedVersion {
                path: path.to_owned(),
                found: header.version,
                supported: VERSION,
            });
        }
        serde_json::from_slice(bytes).map_err(|_| corrupt("a secret in the document is malformed"))
    }
}

/// Encrypts `plaintext` to `key`.
pub(crate) fn encrypt(plaintext: &[u8], key: &VaultKey) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(plaintext.len() + 512);
    let mut writer = key
        .encryptor()?
        .wrap_output(&mut out)
        .map_err(|_| Error::Encryption)?;
    writer.write_all(plaintext).map_err(|_| Error::Encryption)?;
    writer.finish().map_err(|_| Error::Encryption)?;
    Ok(out)
}

/// Decrypts an age file with `key`.
pub(crate) fn decrypt(
    ciphertext: &[u8],
    key: &VaultKey,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>> {
    let corrupt = |reason| Error::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let decryptor = age::Decryptor::new_buffered(ciphertext).map_err(|e| match e {
        age::DecryptError::UnknownFormat => corrupt("it is not an age-encrypted file"),
        _ => corrupt("the age header is damaged or truncated"),
    })?;
    let identity = key.identity();
    let mut reader = decryptor
        .decrypt(std::iter::once(identity.as_ref()))
        .map_err(|e| match e {
            // At this stage `DecryptionFailed` is a passphrase that does not unwrap the file key.
            age::DecryptError::NoMatchingKeys
            | age::DecryptError::KeyDecryptionFailed
            | age::DecryptError::DecryptionFailed => Error::WrongKey {
                path: path.to_owned(),
            },
            age::DecryptError::ExcessiveWork { .. } => {
                corrupt("its passphrase work factor is excessive")
            }
            _ => corrupt("the age header is damaged"),
        })?;
    let mut plaintext = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader
        .read_to_end(&mut plaintext)
        .map_err(|_| corrupt("the encrypted content is damaged or truncated"))?;
    Ok(plaintext)
}

/// A fingerprint of a file's bytes, to notice that someone else rewrote it.
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    // `DefaultHasher::new` uses fixed keys: stable within one process, which is all it
    // is compared within.
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Reads the whole file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(io("reading", path))
}

/// Replaces `path` with `bytes` atomically and durably.
///
/// With `expected`, the current file must still have that fingerprint (or be gone);
/// `create` requires that no file exists. Returns the new file's fingerprint.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    expected: Option<u64>,
    create: bool,
) -> Result<u64> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Io {
            what: "saving",
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
        })?
        .to_string_lossy()
        .into_owned();
    // An advisory lock on the directory: the file itself is replaced by each save, so a
    // lock on it would not be seen by the next writer.
    let guard = File::open(&dir).map_err(io("opening the directory of", path))?;
    guard.lock().map_err(io("locking the directory of", path))?;

    match fs::read(path) {
        Ok(current) if create => {
            drop(current);
            return Err(io("creating", path)(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file already exists there",
            )));
        }
        Ok(current) => {
            if expected.is_some_and(|fp| fp != fingerprint(&current)) {
                return Err(Error::Conflict {
                    path: path.to_owned(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("reading", path)(e)),
    }

    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let temporary = dir.join(format!(".{file_name}.{}.{nonce}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temporary);
        return Err(io("writing a temporary file for", path)(e));
    }
    if let Err(e) = fs::rename(&temporary, path) {
        let _ = fs::remove_file(&temporary);
        return Err(io("replacing", path)(e));
    }
    guard
        .sync_all()
        .map_err(io("syncing the directory of", path))?;
    Ok(fingerprint(bytes))
}
