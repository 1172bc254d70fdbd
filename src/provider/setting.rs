//! Settings a backend reads from outside the program: environment variables that count only
//! when they say something, and credential files (a Kubernetes service-account token, a
//! rotated AppRole secret ID, a federated token) read off the async runtime.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::{ProviderError, ProviderErrorKind};

/// The most a credential file may hold: such files are a token or a key, never megabytes.
const MAX_CREDENTIAL_FILE: u64 = 1024 * 1024;

/// The environment variable `name`, unless it is unset, not Unicode, or only blanks.
pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The credential in the file at `path`, trimmed, read on tokio's blocking pool (so a slow
/// disk or a network file system never stalls the runtime); `what` names it in errors, which
/// name the file and never its content.
///
/// # Errors
///
/// As [`read_credential_blocking`].
pub(crate) async fn read_credential(
    provider: &str,
    what: &str,
    path: &Path,
) -> Result<SecretString, ProviderError> {
    let (owned, who, named): (PathBuf, String, String) =
        (path.to_owned(), provider.to_owned(), what.to_owned());
    tokio::task::spawn_blocking(move || read_credential_blocking(&who, &named, &owned))
        .await
        .unwrap_or_else(|_| {
            Err(ProviderError::new(
                provider,
                ProviderErrorKind::Configuration,
                format!("reading the {what} from {} failed", path.display()),
            ))
        })
}

/// As [`read_credential`], on the calling thread: for builders, which check a file once
/// before any runtime is involved.
///
/// # Errors
///
/// [`ProviderErrorKind::Configuration`] of `provider` when the file cannot be read, is
/// larger than 1 MiB, is not UTF-8, or holds only blanks.
pub(crate) fn read_credential_blocking(
    provider: &str,
    what: &str,
    path: &Path,
) -> Result<SecretString, ProviderError> {
    let failure =
        |message: String| ProviderError::new(provider, ProviderErrorKind::Configuration, message);
    let text = read_text(path).map_err(|e| {
        failure(format!("cannot read the {what} from {}", path.display())).with_source(e)
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(failure(format!("the {what} file {} is empty", path.display())));
    }
    Ok(SecretString::from(trimmed))
}

fn read_text(path: &Path) -> std::io::Result<Zeroizing<String>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_CREDENTIAL_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 1 MiB",
        ));
    }
    // Sized up front from the file's length; a file that does not know its length (a pipe,
    // a file under /proc) is read into buffers that are each wiped before a larger one
    // replaces them, so that no unwiped copy is left behind.
    let mut reader = file.take(MAX_CREDENTIAL_FILE);
    let mut bytes = Zeroizing::new(Vec::with_capacity(len as usize + 1));
    loop {
        if bytes.len() == bytes.capacity() {
            let mut larger = Zeroizing::new(Vec::with_capacity(bytes.capacity().max(32) * 2));
            larger.extend_from_slice(&bytes);
            bytes = larger;
        }
        let start = bytes.len();
        let capacity = bytes.capacity();
        bytes.resize(capacity, 0);
        let read = reader.read(&mut bytes[start..]);
        let count = read.as_ref().map_or(0, |count| *count);
        bytes.truncate(start + count);
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credential_files_are_trimmed_and_refused_when_empty_or_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  s3cr3t-token\n").unwrap();
        let token = read_credential("p", "token", &path).await.unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&token), "s3cr3t-token");
        std::fs::write(&path, " \n").unwrap();
        let error = read_credential("p", "token", &path).await.unwrap_err();
        assert!(error.message().contains("is empty"), "{error}");
        let error = read_credential("p", "JWT", &dir.path().join("missing"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ProviderErrorKind::Configuration);
        assert!(error.message().contains("cannot read the JWT"), "{error}");
    }

    /// The file is a pipe whose writer is a task of the same single-threaded runtime: read
    /// on the runtime's thread, the read would wait for a writer that can never run.
    #[cfg(unix)]
    #[test]
    fn a_credential_file_is_read_off_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-id");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|status| status.success()) {
            eprintln!("skipped: mkfifo is not available");
            return;
        }
        let (done, finished) = std::sync::mpsc::channel();
        let reader_path = path.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let value = runtime.block_on(async move {
                let writer = tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    // Opening a pipe for writing waits for its reader (on the blocking pool).
                    std::fs::write(&path, "rotated-secret-id\n").unwrap();
                });
                let value = read_credential("p", "secret ID", &reader_path).await;
                writer.await.unwrap();
                value
            });
            let _ = done.send(value.map(|v| secrecy::ExposeSecret::expose_secret(&v).len()));
        });
        let read = finished
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the read stalled the runtime");
        assert_eq!(read.unwrap(), "rotated-secret-id".len());
    }

    /// A file that does not know its length (a pipe) is read whole, across buffers.
    #[cfg(unix)]
    #[test]
    fn a_file_of_unknown_length_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|status| status.success()) {
            eprintln!("skipped: mkfifo is not available");
            return;
        }
        let token = "t".repeat(5000);
        let (writer_path, written) = (path.clone(), token.clone());
        let writer = std::thread::spawn(move || std::fs::write(writer_path, written).unwrap());
        let read = read_credential_blocking("p", "token", &path).unwrap();
        writer.join().unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&read), token);
    }

    #[test]
    fn blank_variables_do_not_count() {
        assert_eq!(var("REQUEST_VAULT_SURELY_UNSET_VARIABLE"), None);
    }
}
