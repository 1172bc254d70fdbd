//! [`Env`]: `env://NAME` references, read from the process environment. Built in and never
//! registered by default.

use async_trait::async_trait;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::{ExternalProvider, ProviderError, ProviderErrorKind, REF_PREFIX};

/// The id of the [`Env`] provider.
pub const ENV_PROVIDER_ID: &str = "env";

/// The URI scheme of its references: `env://NAME`.
pub const ENV_SCHEME: &str = "env";

/// Resolves `env://NAME` references (a `ref+` prefix is accepted) to the value of the
/// environment variable `NAME` of this process.
///
/// `NAME` is a portable variable name: letters, digits and `_`, not starting with a digit.
/// A variable that is not set is [`NotFound`](ProviderErrorKind::NotFound); one whose value
/// is not UTF-8 is [`Unsupported`](ProviderErrorKind::Unsupported). The value is read at
/// each fetch (and then cached by the vault for its TTL), as it is, with no trimming.
///
/// # Why it is not registered by default
///
/// A [`Vault`](crate::Vault) never has this provider unless the program adds it. A vault
/// file, or an import, may come from someone else, and its links choose what is read: with
/// an `env://` provider present by default, a link such as `env://AWS_SECRET_ACCESS_KEY`
/// with allowed domains of its author's choosing would send a variable of the process to
/// the author's server in the next request that renders it. Add `Env` only to a vault
/// whose links you write yourself.
///
/// ```
/// use request_vault::provider::Env;
/// use request_vault::{ExposeSecret, Vault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), request_vault::Error> {
/// let vault = Vault::new();
/// vault.add_provider(Env);
/// vault.link("path", "env://PATH")?;
/// let path = vault.resolve("path").await?;
/// assert_eq!(Some(path.expose_secret()), std::env::var("PATH").ok().as_deref());
/// assert!(vault.link("bad", "env://1PATH").is_err()); // checked offline, with its offset
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Env;

impl Env {
    /// The variable name of `reference`.
    fn name(reference: &str) -> Result<&str, ProviderError> {
        let base = if reference.starts_with(REF_PREFIX) {
            REF_PREFIX.len()
        } else {
            0
        };
        let invalid = |at: usize, message: &str| {
            ProviderError::invalid_reference(ENV_PROVIDER_ID, reference, at, message)
        };
        let Some(name) = reference[base..].strip_prefix("env://") else {
            return Err(invalid(base, "expected `env://NAME`"));
        };
        let start = base + "env://".len();
        if name.is_empty() {
            return Err(invalid(start, "the variable name is empty"));
        }
        if let Some(at) = name
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(invalid(
                start + at,
                "a variable name has only letters, digits and `_`",
            ));
        }
        if name.as_bytes()[0].is_ascii_digit() {
            return Err(invalid(
                start,
                "a variable name does not start with a digit",
            ));
        }
        Ok(name)
    }
}

#[async_trait]
impl ExternalProvider for Env {
    fn id(&self) -> &str {
        ENV_PROVIDER_ID
    }

    fn scheme(&self) -> &str {
        ENV_SCHEME
    }

    fn check_reference(&self, reference: &str) -> Result<(), ProviderError> {
        Env::name(reference).map(drop)
    }

    async fn resolve(&self, reference: &str) -> Result<SecretString, ProviderError> {
        let name = Env::name(reference)?;
        let failed = |kind, message: String| {
            ProviderError::new(ENV_PROVIDER_ID, kind, message).with_reference(reference)
        };
        let Some(value) = std::env::var_os(name) else {
            return Err(failed(
                ProviderErrorKind::NotFound,
                format!("the environment variable `{name}` is not set"),
            ));
        };
        // Wiped once copied into the secret, which is sized exactly.
        let value = match value.into_string() {
            Ok(text) => Zeroizing::new(text),
            Err(raw) => {
                drop(Zeroizing::new(raw.into_encoded_bytes()));
                return Err(failed(
                    ProviderErrorKind::Unsupported,
                    format!("the environment variable `{name}` is not UTF-8 text"),
                ));
            }
        };
        Ok(SecretString::from(value.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(reference: &str) -> usize {
        let err = Env.check_reference(reference).unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidReference);
        err.offset().unwrap()
    }

    #[test]
    fn names_are_portable_variable_names() {
        assert!(Env.check_reference("env://HOME").is_ok());
        assert!(Env.check_reference("ref+env://_private_2").is_ok());
        assert_eq!(offset("env:/HOME"), 0);
        assert_eq!(offset("ref+envs://HOME"), 4);
        assert_eq!(offset("env://"), 6);
        assert_eq!(offset("env://2FA"), 6);
        assert_eq!(offset("env://MY-VAR"), 8);
        assert_eq!(offset("ref+env://A#key"), 11);
        assert_eq!(offset("env://A/B"), 7);
    }
}
