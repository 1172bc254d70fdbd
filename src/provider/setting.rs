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
    // Sized up front, so the buffer never grows (and leaves no unwiped copy behind).
    let mut bytes = Zeroizing::new(Vec::with_capacity(len as usize + 1));
    file.take(MAX_CREDENTIAL_FILE).read_to_end(&mut bytes)?;
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

    #[test]
    fn blank_variables_do_not_count() {
        assert_eq!(var("REQUEST_VAULT_SURELY_UNSET_VARIABLE"), None);
    }
}
