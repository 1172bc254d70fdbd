//! [`Vault::render_env`]: secrets for a child process's environment, as `op run` gives them.

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::template::{Template, parse_in};
use crate::vault::Vault;

/// Why an environment variable cannot hold a value.
const NUL_IN_ENV: &str = "an environment variable cannot hold NUL";

impl Vault {
    /// Renders environment variables for a child process: each `(NAME, template)` pair's
    /// template rendered as [`render`](Self::render) does (values inserted as they are), every
    /// secret of every template fetched in one batched [`resolve_all`](Self::resolve_all).
    /// Variables come back in the order given, ready for `Command::env`.
    ///
    /// It fails closed: nothing is rendered unless every variable can be.
    ///
    /// ```
    /// use request_vault::{ExposeSecret, Vault};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), request_vault::Error> {
    /// let vault = Vault::new();
    /// vault.set("db", "hunter2")?;
    /// let env = vault
    ///     .render_env([("DB_PASSWORD", "<<vault:db>>"), ("DSN", "postgres://app:<<vault:db>>@db/app")])
    ///     .await?;
    /// let mut child = std::process::Command::new("printenv");
    /// for (name, value) in &env {
    ///     child.env(name, value.expose_secret());
    /// }
    /// assert_eq!(env[1].1.expose_secret(), "postgres://app:hunter2@db/app");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Every problem at once (several as [`Error::Multiple`]):
    /// - [`Error::InvalidEnvName`] for a variable name that is empty or holds `=` or NUL;
    /// - [`Error::InvalidTemplate`] naming the variable, for a malformed placeholder or a
    ///   NUL in its template;
    /// - the errors of [`resolve_all`](Self::resolve_all), every unknown or failing secret
    ///   listed (checked after the names and templates);
    /// - [`Error::ValueNotAllowed`] naming the secret and the variable, for a value that
    ///   holds NUL.
    pub async fn render_env<I, N, T>(&self, pairs: I) -> Result<Vec<(String, SecretString)>>
    where
        I: IntoIterator<Item = (N, T)>,
        N: Into<String>,
        T: AsRef<str>,
    {
        let mut errors = Vec::new();
        let mut parsed: Vec<(String, String, Template)> = Vec::new();
        for (name, text) in pairs {
            let name: String = name.into();
            let text = text.as_ref();
            if let Some(reason) = env_name_problem(&name) {
                errors.push(Error::InvalidEnvName { name, reason });
                continue;
            }
            let part = format!("environment variable `{name}`");
            if let Some(offset) = memchr::memchr(0, text.as_bytes()) {
                errors.push(Error::InvalidTemplate {
                    part,
                    offset,
                    reason: NUL_IN_ENV,
                });
                continue;
            }
            match parse_in(text, &part) {
                Ok(template) => parsed.push((name, part, template)),
                Err(error) => errors.push(error),
            }
        }
        Error::gather(errors)?;

        let names = parsed
            .iter()
            .flat_map(|(_, _, template)| template.names())
            .map(String::as_str);
        let values = self.resolve_all(names).await?;
        let mut errors = Vec::new();
        for (_, part, template) in &parsed {
            for name in template.names() {
                if values
                    .get(name)
                    .is_some_and(|value| value.expose_secret().contains('\0'))
                {
                    errors.push(Error::ValueNotAllowed {
                        name: name.clone(),
                        part: part.clone(),
                        reason: NUL_IN_ENV,
                    });
                }
            }
        }
        Error::gather(errors)?;
        parsed
            .into_iter()
            .map(|(name, _, template)| {
                let value = template.render_with(&values, |value, out| out.push_str(value))?;
                Ok((name, value))
            })
            .collect()
    }
}

/// What makes `name` unusable as an environment variable's name, if anything.
fn env_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains('=') {
        Some("it holds `=`")
    } else if name.contains('\0') {
        Some("it holds NUL")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn env(pairs: &[(&str, &str)]) -> Result<Vec<(String, String)>> {
        let vault = Vault::new();
        vault.set("db", "hunter2")?;
        vault.set("nul", "a\0b")?;
        let rendered =
            futures_util::FutureExt::now_or_never(vault.render_env(pairs.iter().copied()))
                .expect("local secrets need no waiting")?;
        Ok(rendered
            .into_iter()
            .map(|(n, v)| (n, v.expose_secret().to_owned()))
            .collect())
    }

    #[test]
    fn templates_render_raw_in_order() {
        let got = env(&[
            ("B", "x=<<vault:db>>&y"),
            ("A", "plain"),
            ("B", "<<vault:db>>"),
        ])
        .unwrap();
        assert_eq!(
            got,
            [
                ("B".to_owned(), "x=hunter2&y".to_owned()),
                ("A".to_owned(), "plain".to_owned()),
                ("B".to_owned(), "hunter2".to_owned())
            ]
        );
    }

    #[test]
    fn bad_names_templates_and_values_are_all_named() {
        let err = env(&[("", "x"), ("A=B", "x"), ("N\0", "x"), ("T", "<<vault:db")]).unwrap_err();
        let kinds: Vec<_> = err.errors().iter().map(Error::kind).collect();
        assert_eq!(
            kinds,
            [
                ErrorKind::InvalidName,
                ErrorKind::InvalidName,
                ErrorKind::InvalidName,
                ErrorKind::InvalidTemplate
            ]
        );
        let message = err.to_string();
        assert!(message.contains("\"A=B\": it holds `=`"), "{message}");
        assert!(message.contains("environment variable `T`"), "{message}");

        let err = env(&[("V", "<<vault:nul>>"), ("L", "a\0")]).unwrap_err();
        assert_eq!(err.errors()[0].offset(), Some(1));
        let err = env(&[("V", "<<vault:nul>>")]).unwrap_err();
        assert_eq!(err.secret_name(), Some("nul"));
        assert!(err.to_string().contains("environment variable `V`"));
        assert!(!err.to_string().contains("a\0b"));
    }

    #[test]
    fn unknown_names_fail_closed_all_listed() {
        let err = env(&[("A", "<<vault:db>> <<vault:x>>"), ("B", "<<vault:y>>")]).unwrap_err();
        let names: Vec<_> = err.errors().iter().filter_map(Error::secret_name).collect();
        assert_eq!(names, ["x", "y"]);
    }
}
