//! [`Files`]: `file://RELATIVE/PATH[#KEY]` references, read from files under one directory.
//! Built in and never registered by default.

use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::field::{self, FieldKey};
use super::segment;
use super::{ExternalProvider, ProviderError, ProviderErrorKind, REF_PREFIX};

/// The id of the [`Files`] provider.
pub const FILES_PROVIDER_ID: &str = "files";

/// The URI scheme of its references: `file://RELATIVE/PATH[#KEY]`.
pub const FILES_SCHEME: &str = "file";

/// The largest file [`Files`] reads: 16 MiB. A secret is far smaller; a larger file is
/// refused before it is read.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Resolves `file://RELATIVE/PATH[#KEY]` references (a `ref+` prefix is accepted) to the
/// contents of files under one directory.
///
/// - `RELATIVE/PATH` is relative to the directory given to [`Files::new`] (a relative
///   directory is taken from the working directory at each read). Its segments are
///   percent-decoded (`my%20file`, `a%23b` for `a#b`).
/// - A file's contents are the value as they are, a trailing newline included (write
///   secret files with `printf %s`, not `echo`); they must be UTF-8. `#KEY` picks a member of
///   a JSON object, `#/a/b` is a JSON pointer, as for the other providers.
/// - Files larger than [`MAX_FILE_BYTES`] are refused. A batch reads each distinct file once,
///   on tokio's blocking pool, never on the runtime's own threads.
///
/// # Confined to its directory
///
/// Absolute paths (`file:///etc/passwd`), `.` and `..` segments are refused offline, with
/// their byte offset. A symlink inside the directory is followed only while it stays inside:
/// the path is resolved to its real path, which must lie under the directory's real path
/// ([`Forbidden`](ProviderErrorKind::Forbidden) otherwise). On Unix the real path is opened
/// without following a symlink in its last segment and without blocking on a FIFO, and after
/// the open the path is resolved again and must still lead, inside the directory, to the
/// very file that was opened; so swapping a symlink in while the file is opened does not
/// lead out either. Only regular files are read.
///
/// # Why it is not registered by default
///
/// A [`Vault`](crate::Vault) never has this provider unless the program adds it. A vault
/// file, or an import, may come from someone else, and its links choose what is read: with a
/// `file://` provider present by default, a link to `~/.ssh/id_ed25519` or `.env` with
/// allowed domains of its author's choosing would send a local file to the author's server
/// in the next request that renders it. Add `Files` only to a vault whose links you write
/// yourself, and point it at a directory that holds secrets only (Docker's `/run/secrets`,
/// systemd's `$CREDENTIALS_DIRECTORY`, a Kubernetes secret volume).
///
/// ```
/// use request_vault::provider::Files;
/// use request_vault::{ExposeSecret, Vault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("db.json"), r#"{"user":"app","password":"pa55"}"#)?;
///
/// let vault = Vault::new();
/// vault.add_provider(Files::new(dir.path()));
/// vault.link("db", "file://db.json#password")?;
/// assert_eq!(vault.resolve("db").await?.expose_secret(), "pa55");
/// assert!(vault.link("passwd", "file:///etc/passwd").is_err());
/// assert!(vault.link("up", "file://../outside").is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    /// A provider for the files under `dir`. The directory need not exist yet: it is looked
    /// up at each read.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Files { dir: dir.into() }
    }

    /// The directory the provider reads from, as given.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A parsed reference: the path under the directory and the field to pick.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileRef {
    path: PathBuf,
    field: Option<FieldKey>,
}

impl FileRef {
    fn parse(reference: &str) -> Result<FileRef, ProviderError> {
        let invalid = |at: usize, message: &str| {
            ProviderError::invalid_reference(FILES_PROVIDER_ID, reference, at, message)
        };
        let base = if reference.starts_with(REF_PREFIX) {
            REF_PREFIX.len()
        } else {
            0
        };
        let Some(rest) = reference[base..].strip_prefix("file://") else {
            return Err(invalid(base, "expected `file://RELATIVE/PATH[#KEY]`"));
        };
        let start = base + "file://".len();
        let (body, field) = match rest.find('#') {
            Some(hash) => {
                let key_at = start + hash + 1;
                let key =
                    FieldKey::parse(FILES_PROVIDER_ID, reference, key_at, &reference[key_at..])?;
                (&rest[..hash], Some(key))
            }
            None => (rest, None),
        };
        if body.is_empty() {
            return Err(invalid(start, "the path is empty"));
        }
        if body.starts_with('/') {
            return Err(invalid(
                start,
                "absolute paths are refused: the path is relative to the provider's directory",
            ));
        }
        let mut path = PathBuf::new();
        let mut at = start;
        for raw in body.split('/') {
            let name =
                segment::decode(raw).map_err(|(offset, message)| invalid(at + offset, message))?;
            if name.is_empty() {
                return Err(invalid(
                    at,
                    "a path segment is empty (`//` or a trailing `/`)",
                ));
            }
            let mut components = Path::new(&name).components();
            match (components.next(), components.next()) {
                (Some(Component::Normal(_)), None) => path.push(&name),
                (Some(Component::ParentDir), None) => {
                    return Err(invalid(
                        at,
                        "`..` is refused: the path stays inside the provider's directory",
                    ));
                }
                _ => {
                    return Err(invalid(
                        at,
                        "a path segment is a file or directory name (not `.`, a drive or a root)",
                    ));
                }
            }
            at += raw.len() + 1;
        }
        Ok(FileRef { path, field })
    }
}

/// Why a file could not be read, without a reference yet (one read serves several).
struct Failure {
    kind: ProviderErrorKind,
    message: String,
}

impl Failure {
    fn new(kind: ProviderErrorKind, message: String) -> Self {
        Failure { kind, message }
    }

    fn io(path: &Path, err: &io::Error) -> Self {
        let shown = path.display();
        match err.kind() {
            io::ErrorKind::NotFound => {
                Failure::new(ProviderErrorKind::NotFound, format!("no file `{shown}`"))
            }
            io::ErrorKind::PermissionDenied => Failure::new(
                ProviderErrorKind::Forbidden,
                format!("reading `{shown}` is not permitted"),
            ),
            _ if is_symlink_loop(err) => Failure::new(
                ProviderErrorKind::Forbidden,
                format!("`{shown}` became a symlink while it was opened"),
            ),
            _ => Failure::new(
                ProviderErrorKind::Unavailable,
                format!("reading `{shown}` failed: {err}"),
            ),
        }
    }

    fn into_error(self, reference: &str) -> ProviderError {
        ProviderError::new(FILES_PROVIDER_ID, self.kind, self.message).with_reference(reference)
    }
}

#[cfg(unix)]
fn is_symlink_loop(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_symlink_loop(_: &io::Error) -> bool {
    false
}

/// Reads `relative` under `dir`, confined to it; see [`Files`].
fn read_confined(dir: &Path, relative: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let root = dir.canonicalize().map_err(|err| {
        Failure::new(
            ProviderErrorKind::Configuration,
            format!(
                "the provider's directory `{}` cannot be used: {err}",
                dir.display()
            ),
        )
    })?;
    let shown = relative.display();
    let outside = || {
        Failure::new(
            ProviderErrorKind::Forbidden,
            format!("`{shown}` leads outside the provider's directory (through a symlink)"),
        )
    };
    let candidate = root.join(relative);
    let real = candidate
        .canonicalize()
        .map_err(|err| Failure::io(relative, &err))?;
    if !real.starts_with(&root) {
        return Err(outside());
    }
    let file = open_no_follow(&real).map_err(|err| Failure::io(relative, &err))?;
    let opened = file.metadata().map_err(|err| Failure::io(relative, &err))?;
    if !opened.is_file() {
        return Err(Failure::new(
            ProviderErrorKind::Unsupported,
            format!("`{shown}` is not a regular file"),
        ));
    }
    // The path may have been switched while it was opened: it must still lead, inside the
    // directory, to the file in hand.
    let again = candidate
        .canonicalize()
        .map_err(|err| Failure::io(relative, &err))?;
    let now = again
        .metadata()
        .map_err(|err| Failure::io(relative, &err))?;
    if again != real || !same_file(&opened, &now) {
        return Err(outside());
    }
    if opened.len() > MAX_FILE_BYTES {
        return Err(Failure::new(
            ProviderErrorKind::Unsupported,
            format!(
                "`{shown}` has {} bytes, more than the {MAX_FILE_BYTES} a secret file may have",
                opened.len()
            ),
        ));
    }
    read_exactly(file, opened.len()).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => Failure::new(
            ProviderErrorKind::Unavailable,
            format!("`{shown}` changed while it was read"),
        ),
        _ => Failure::io(relative, &err),
    })
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

/// The file's `len` bytes into a buffer of exactly that size (so that no unwiped copy is
/// left behind by a growing buffer); a file that turns out longer or shorter is an error.
fn read_exactly(mut file: File, len: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    let mut bytes = Zeroizing::new(vec![0; len]);
    file.read_exact(&mut bytes)?;
    let mut more = [0u8; 1];
    if file.read(&mut more)? != 0 {
        return Err(io::Error::from(io::ErrorKind::InvalidData));
    }
    Ok(bytes)
}

/// The value a reference wants out of its file's bytes.
fn value_of(
    bytes: &[u8],
    parsed: &FileRef,
    reference: &str,
) -> Result<SecretString, ProviderError> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ProviderError::new(
            FILES_PROVIDER_ID,
            ProviderErrorKind::Unsupported,
            format!("`{}` is not UTF-8 text", parsed.path.display()),
        )
        .with_reference(reference)
    })?;
    match &parsed.field {
        None => Ok(SecretString::from(text)),
        Some(key) => field::select_text(FILES_PROVIDER_ID, text, key)
            .map_err(|err| err.with_reference(reference)),
    }
}

#[async_trait]
impl ExternalProvider for Files {
    fn id(&self) -> &str {
        FILES_PROVIDER_ID
    }

    fn scheme(&self) -> &str {
        FILES_SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        FileRef::parse(reference).map(drop)
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let mut results = self.resolve_all(&[reference]).await;
        results.pop().unwrap_or_else(|| {
            Err(
                ProviderError::new(FILES_PROVIDER_ID, ProviderErrorKind::Protocol, "no result")
                    .with_reference(reference),
            )
        })
    }

    async fn resolve_all(&self, references: &[&str]) -> Vec<Result<SecretString, ProviderError>> {
        let parsed: Vec<Result<FileRef, ProviderError>> =
            references.iter().map(|r| FileRef::parse(r)).collect();
        let mut paths: Vec<PathBuf> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok().map(|p| p.path.clone()))
            .collect();
        paths.sort();
        paths.dedup();
        let dir = self.dir.clone();
        let read = tokio::task::spawn_blocking(move || {
            paths
                .into_iter()
                .map(|path| {
                    let contents = read_confined(&dir, &path);
                    (path, contents)
                })
                .collect::<HashMap<_, _>>()
        })
        .await;
        // A failed blocking task leaves no contents: each reference then says so.
        let contents = read.unwrap_or_default();
        references
            .iter()
            .zip(parsed)
            .map(|(reference, parsed)| {
                let parsed = parsed?;
                match contents.get(&parsed.path) {
                    Some(Ok(bytes)) => value_of(bytes, &parsed, reference),
                    Some(Err(failure)) => {
                        Err(Failure::new(failure.kind, failure.message.clone())
                            .into_error(reference))
                    }
                    None => Err(ProviderError::new(
                        FILES_PROVIDER_ID,
                        ProviderErrorKind::Unavailable,
                        "the blocking file read was cancelled or panicked",
                    )
                    .with_reference(*reference)),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(reference: &str) -> usize {
        let err = FileRef::parse(reference).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidReference);
        err.offset().unwrap()
    }

    #[test]
    fn parses_paths_and_fields() {
        let r = FileRef::parse("file://db/password").unwrap();
        assert_eq!(r.path, Path::new("db").join("password"));
        assert_eq!(r.field, None);
        let r = FileRef::parse("ref+file://my%20dir/a%23b.json#/db/pass").unwrap();
        assert_eq!(r.path, Path::new("my dir").join("a#b.json"));
        assert_eq!(r.field, Some(FieldKey::Pointer("/db/pass".into())));
        let r = FileRef::parse("file://app.json#user name").unwrap();
        assert_eq!(r.field, Some(FieldKey::Member("user name".into())));
        assert!(FileRef::parse("file://..hidden/x").is_ok());
    }

    #[test]
    fn escapes_are_refused_with_their_offset() {
        assert_eq!(offset("files://x"), 0);
        assert_eq!(offset("ref+file:/x"), 4);
        assert_eq!(offset("file://"), 7);
        assert_eq!(offset("file:///etc/passwd"), 7);
        assert_eq!(offset("file://../x"), 7);
        assert_eq!(offset("file://a/../../x"), 9);
        assert_eq!(offset("file://a/%2E%2E/x"), 9);
        assert_eq!(offset("file://./x"), 7);
        assert_eq!(offset("file://a//x"), 9);
        assert_eq!(offset("file://a/"), 9);
        assert_eq!(offset("file://a%2Fb"), 7);
        assert_eq!(offset("file://a b"), 8);
        assert_eq!(offset("file://a?x=1"), 8);
        assert_eq!(offset("file://x#"), 9);
        assert_eq!(offset("#key"), 0);
    }
}
