//! The vault file: an age-encrypted JSON document (see `document.rs`), written atomically
//! and durably. Linked secrets' fetched values are never written. Anyone with the key can read the file with the `age` CLI:
//! `age -d -i key.txt vault.age`.
//!
//! Saving writes a temporary file (mode 0600) in the same directory, syncs it, renames it
//! over the old file and syncs the directory, all under an advisory lock on the directory;
//! a file changed by someone else since it was read is not overwritten. A path that is a
//! symbolic link is followed: the link's target is what is read, locked, checked and
//! replaced, and the link stays a link (as editors save through links).

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::key::VaultKey;

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
    // The plaintext is shorter than the ciphertext, so this buffer is never grown; if it
    // ever must be, the old one is wiped by hand rather than left to a reallocation.
    let mut plaintext = Zeroizing::new(vec![0; ciphertext.len()]);
    let mut len = 0;
    loop {
        if len == plaintext.len() {
            let mut bigger = Zeroizing::new(vec![0; plaintext.len() * 2 + 64]);
            bigger[..len].copy_from_slice(&plaintext[..len]);
            plaintext = bigger;
        }
        match reader.read(&mut plaintext[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(corrupt("the encrypted content is damaged or truncated")),
        }
    }
    // Shortening keeps the allocation: nothing is freed, and the tail is zeros.
    plaintext.truncate(len);
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
    let target = follow_links(path)?;
    write_to(&target, path, bytes, expected, create)
}

/// Where `path` leads once its symbolic links are followed (also to a file that does not
/// exist yet); `path` itself when it is no link.
pub(crate) fn follow_links(path: &Path) -> Result<PathBuf> {
    // As the kernel does: a chain longer than 40 links is a loop.
    const MAX_LINKS: usize = 40;
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current).map_err(io("following the link", path))?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(io("reading", path)(e)),
        }
    }
    Err(io("following the link", path)(std::io::Error::other(
        "too many levels of symbolic links",
    )))
}

/// Replaces `target` (which `path` leads to) with `bytes`; errors name `path`, as given.
fn write_to(
    target: &Path,
    path: &Path,
    bytes: &[u8],
    expected: Option<u64>,
    create: bool,
) -> Result<u64> {
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = target
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

    match fs::read(target) {
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
    if let Err(e) = fs::rename(&temporary, target) {
        let _ = fs::remove_file(&temporary);
        return Err(io("replacing", path)(e));
    }
    guard
        .sync_all()
        .map_err(io("syncing the directory of", path))?;
    Ok(fingerprint(bytes))
}
