//! Application Default Credentials: where [`GcpSecretManager::from_env`](super::GcpSecretManager::from_env)
//! finds its credential, in the order Google's libraries look:
//!
//! 1. the file `GOOGLE_APPLICATION_CREDENTIALS` names (a service account key, user
//!    credentials, an external account or impersonated credentials);
//! 2. gcloud's ADC file, written by `gcloud auth application-default login`:
//!    `$CLOUDSDK_CONFIG/application_default_credentials.json`, else
//!    `~/.config/gcloud/…` (`%APPDATA%\gcloud\…` on Windows);
//! 3. the metadata server (`GCE_METADATA_HOST`, else `metadata.google.internal`), which
//!    answers on Google Cloud only: elsewhere the first token request says what to set.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::provider::{ProviderError, setting};

use super::error::PROVIDER_ID;
use super::metadata::DEFAULT_HOST;

/// The file gcloud writes user credentials to.
const ADC_FILE: &str = "application_default_credentials.json";

/// Where the credential comes from.
#[derive(Debug)]
pub(crate) enum Found {
    /// A credential file's text, and where it was.
    File { path: PathBuf, text: SecretString },
    /// The metadata server on this host (`host[:port]`).
    Metadata { host: String },
}

/// The credential ADC picks, reading variables through `var`.
///
/// # Errors
///
/// `Configuration` when `GOOGLE_APPLICATION_CREDENTIALS` names a file that cannot be read,
/// or gcloud's ADC file exists but cannot be read.
pub(crate) fn find(var: &dyn Fn(&str) -> Option<String>) -> Result<Found, ProviderError> {
    if let Some(path) = var("GOOGLE_APPLICATION_CREDENTIALS") {
        let path = PathBuf::from(path);
        let text = setting::read_credential_blocking(
            PROVIDER_ID,
            "credential file named by GOOGLE_APPLICATION_CREDENTIALS",
            &path,
        )?;
        return Ok(Found::File { path, text });
    }
    if let Some(path) = gcloud_file(var).filter(|path| path.is_file()) {
        let text = setting::read_credential_blocking(
            PROVIDER_ID,
            "gcloud application default credentials",
            &path,
        )?;
        return Ok(Found::File { path, text });
    }
    Ok(Found::Metadata {
        host: metadata_host(var),
    })
}

/// The metadata server's host: `GCE_METADATA_HOST`, else `metadata.google.internal`.
pub(crate) fn metadata_host(var: &dyn Fn(&str) -> Option<String>) -> String {
    var("GCE_METADATA_HOST").unwrap_or_else(|| DEFAULT_HOST.to_owned())
}

/// gcloud's ADC file, where gcloud keeps its configuration.
fn gcloud_file(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let dir = match var("CLOUDSDK_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None if cfg!(windows) => Path::new(&var("APPDATA")?).join("gcloud"),
        None => Path::new(&var("HOME")?).join(".config").join("gcloud"),
    };
    Some(dir.join(ADC_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn find_in(vars: &[(&str, &str)]) -> Result<Found, ProviderError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        find(&move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn the_order_is_googles() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("key.json");
        std::fs::write(&named, r#"{"type":"service_account"}"#).unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::create_dir(&gcloud).unwrap();
        std::fs::write(gcloud.join(ADC_FILE), r#"{"type":"authorized_user"}"#).unwrap();
        let config = gcloud.to_str().unwrap();

        let first = find_in(&[
            ("GOOGLE_APPLICATION_CREDENTIALS", named.to_str().unwrap()),
            ("CLOUDSDK_CONFIG", config),
        ])
        .unwrap();
        assert!(
            matches!(&first, Found::File { path, .. } if *path == named),
            "{first:?}"
        );

        let second = find_in(&[("CLOUDSDK_CONFIG", config)]).unwrap();
        assert!(
            matches!(&second, Found::File { path, .. } if path.starts_with(&gcloud)),
            "{second:?}"
        );

        let home = find_in(&[("HOME", dir.path().to_str().unwrap())]).unwrap();
        assert!(
            matches!(&home, Found::Metadata { host } if host == DEFAULT_HOST),
            "{home:?}"
        );

        let metadata = find_in(&[("GCE_METADATA_HOST", "127.0.0.1:8080")]).unwrap();
        assert!(matches!(&metadata, Found::Metadata { host } if host == "127.0.0.1:8080"));
    }

    #[test]
    fn a_named_file_that_cannot_be_read_is_an_error() {
        let error =
            find_in(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")]).unwrap_err();
        assert_eq!(error.kind(), crate::ProviderErrorKind::Configuration);
        assert!(
            error.message().contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{error}"
        );
        assert!(error.message().contains("/nonexistent/key.json"), "{error}");
    }
}
