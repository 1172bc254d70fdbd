//! [`HashiCorpVaultBuilder`]: the address, HTTP client, namespace, retries, limits and TTL,
//! ending in the method that picks how to sign in; and [`from_env`](HashiCorpVaultBuilder::from_env)
//! with the `vault` CLI's variables.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::api::Api;
use super::auth::{Auth, Credential, Source};
use super::client::Client;
use super::connection::{Connection, Settings};
use super::error::{PROVIDER_ID, error};
use super::mounts::{KvVersion, Mount};
use super::vault::HashiCorpVault;
use crate::Error;
use crate::provider::{DEFAULT_CACHE_TTL, HttpOptions, ProviderErrorKind, RetryPolicy};

/// How many requests to Vault run at once unless configured: 100, so that a batch of up to
/// 100 paths goes out in one round trip. It is the fewest concurrent streams an HTTP/2
/// server should allow on one connection (RFC 9113, section 6.5.2), and over HTTP/1.1 the
/// connections stay open for the next batch (keep-alive).
pub const DEFAULT_CONCURRENCY: usize = 100;

/// The `vault` CLI's address when `VAULT_ADDR` is not set.
pub const DEFAULT_ADDR: &str = "https://127.0.0.1:8200";

/// Where Kubernetes mounts a pod's service-account token.
pub const KUBERNETES_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Options for a [`HashiCorpVault`] provider; the last call picks how to sign in.
///
/// ```
/// use std::time::Duration;
/// use request_vault::HashiCorpVault;
/// use request_vault::hashicorp::KvVersion;
/// use request_vault::provider::RetryPolicy;
///
/// let provider = HashiCorpVault::builder("https://vault.example.com:8200")
///     .namespace("team-a")
///     .auth_mount("approle-ci")
///     .timeout(Duration::from_secs(10))
///     .concurrency(8)
///     .mount("secret", KvVersion::V2)
///     .retry(RetryPolicy::default().max_attempts(3))
///     .revoke_leases_on_clear(true)
///     .approle("role-id", "secret-id")?;
/// # Ok::<(), request_vault::Error>(())
/// ```
#[must_use]
pub struct HashiCorpVaultBuilder {
    addr: String,
    http: HttpOptions,
    namespace: Option<String>,
    auth_mount: Option<String>,
    retry: RetryPolicy,
    concurrency: usize,
    cache_ttl: Option<Duration>,
    revoke_on_clear: bool,
    ca_cert: Option<PathBuf>,
    id: Option<String>,
    mounts: Vec<(String, KvVersion)>,
}

impl std::fmt::Debug for HashiCorpVaultBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashiCorpVaultBuilder")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("namespace", &self.namespace)
            .field("auth_mount", &self.auth_mount)
            .field("concurrency", &self.concurrency)
            .field("mounts", &self.mounts)
            .finish_non_exhaustive()
    }
}

impl HashiCorpVaultBuilder {
    pub(crate) fn new(addr: &str) -> Self {
        HashiCorpVaultBuilder {
            addr: addr.to_owned(),
            http: HttpOptions::new(),
            namespace: None,
            auth_mount: None,
            retry: RetryPolicy::default(),
            concurrency: DEFAULT_CONCURRENCY,
            cache_ttl: None,
            revoke_on_clear: false,
            ca_cert: None,
            id: None,
            mounts: Vec::new(),
        }
    }

    /// The provider's id in a vault ([`PROVIDER_ID`](super::PROVIDER_ID), `"hashicorp"`,
    /// unless set): give each of several Vault clusters its own, and link a secret through
    /// one of them with [`Vault::link_with`](crate::Vault::link_with).
    ///
    /// ```
    /// use request_vault::{HashiCorpVault, Vault};
    ///
    /// let vault = Vault::new();
    /// vault.add_provider(HashiCorpVault::builder("https://vault.eu.example.com:8200").id("vault-eu").token("hvs.eu")?);
    /// vault.add_provider(HashiCorpVault::builder("https://vault.us.example.com:8200").id("vault-us").token("hvs.us")?);
    /// vault.link_with("db", "vault-us", "vault://secret/app#password")?;
    /// # Ok::<(), request_vault::Error>(())
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The HTTP client (TLS roots, proxies, DNS overrides; its own timeouts then apply).
    /// Build it with `redirect::Policy::none()`, or start from
    /// [`HttpOptions::client_builder`](crate::provider::HttpOptions::client_builder).
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.http = self.http.client(client);
        self
    }

    /// The Vault Enterprise namespace (`X-Vault-Namespace`) for sign-in and reads; a
    /// reference's `?namespace=NS` replaces it for that read.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Where the auth method is mounted, when not at its default (`approle`, `jwt`,
    /// `kubernetes`); for OIDC-issued JWTs often `oidc` or a CI-specific path.
    pub fn auth_mount(mut self, path: impl Into<String>) -> Self {
        self.auth_mount = Some(path.into());
        self
    }

    /// How transient failures (timeouts, dropped connections, 412, 429, 5xx) are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How many requests run at once ([`DEFAULT_CONCURRENCY`] unless set; at least 1).
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Declares that a KV secrets engine of `version` is mounted at `path` (such as
    /// `secret`, or `team/secret` for a nested mount) in the provider's namespace, so that
    /// paths under it are read without looking the mount up: a cold batch under a declared
    /// mount costs one round trip instead of two. Declared mounts are trusted as given and
    /// kept for the provider's life ([`clear_cache`](crate::ExternalProvider::clear_cache)
    /// forgets only mounts looked up); paths under the deepest declared mount that covers
    /// them are read as its engine wants. References with another `?namespace=` look their
    /// mounts up as usual. May be called once per mount.
    ///
    /// The path is checked when the provider is built: see [`token`](Self::token).
    pub fn mount(mut self, path: impl Into<String>, version: KvVersion) -> Self {
        self.mounts.push((path.into(), version));
        self
    }

    /// The longest one request may take, when the provider builds its own client. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    /// The longest connecting may take, when the provider builds its own client. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.connect_timeout(timeout);
        self
    }

    /// The most one answer may hold, in bytes
    /// ([`MAX_RESPONSE_BYTES`](crate::provider::MAX_RESPONSE_BYTES) unless set).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.http = self.http.max_response_bytes(bytes);
        self
    }

    /// How long mounts and leased reads are kept at most. Unless set, the vault's cache TTL
    /// once the provider is added to a vault ([`DEFAULT_CACHE_TTL`] before).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// Whether [`clear_cache`](crate::ExternalProvider::clear_cache) (and so
    /// `Vault::clear_cache` and `Vault::lock`) revokes the leases of dynamic secrets read so
    /// far (`sys/leases/revoke`). Off by default: leases then expire on their own.
    pub fn revoke_leases_on_clear(mut self, revoke: bool) -> Self {
        self.revoke_on_clear = revoke;
        self
    }

    /// A PEM file of CA certificates to trust besides the built-in roots (`VAULT_CACERT`),
    /// when the provider builds its own client.
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(path.into());
        self
    }

    /// Signs in with a token (`X-Vault-Token`), used as is until it expires.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when the token is
    /// empty or not printable ASCII, the address is not an http(s) URL, the CA file
    /// cannot be read, or a declared [`mount`](Self::mount) path is empty or holds an
    /// empty, `.` or `..` segment, whitespace, `?` or `#`.
    pub fn token(self, token: impl Into<SecretString>) -> Result<HashiCorpVault, Error> {
        let token = token.into();
        let text = token.expose_secret().trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::from(error(
                ProviderErrorKind::Configuration,
                "the Vault token is empty or holds characters a token cannot hold".to_owned(),
            )));
        }
        let token = SecretString::from(text);
        self.build(Credential::Token(token), "token")
    }

    /// Signs in with AppRole (`auth/approle/login`, or the [`auth_mount`](Self::auth_mount)).
    ///
    /// # Errors
    ///
    /// As [`token`](Self::token), and when `role_id` or `secret_id` is empty.
    pub fn approle(
        self,
        role_id: impl Into<SecretString>,
        secret_id: impl Into<SecretString>,
    ) -> Result<HashiCorpVault, Error> {
        let secret_id = nonempty(secret_id.into(), "AppRole secret_id")?;
        self.approle_with(role_id.into(), Source::Value(secret_id))
    }

    /// Signs in with AppRole, reading the secret_id from `path` at each login (as Vault
    /// Agent's `secret_id_file_path`).
    ///
    /// # Errors
    ///
    /// As [`approle`](Self::approle), and when the file cannot be read now.
    pub fn approle_secret_id_file(
        self,
        role_id: impl Into<SecretString>,
        path: impl AsRef<Path>,
    ) -> Result<HashiCorpVault, Error> {
        let source = readable(path.as_ref(), "AppRole secret_id")?;
        self.approle_with(role_id.into(), source)
    }

    fn approle_with(
        self,
        role_id: SecretString,
        secret_id: Source,
    ) -> Result<HashiCorpVault, Error> {
        let role_id = nonempty(role_id, "AppRole role_id")?;
        self.build(Credential::AppRole { role_id, secret_id }, "approle")
    }

    /// Signs in with a JWT or OIDC-issued token for `role` (`auth/jwt/login`, or the
    /// [`auth_mount`](Self::auth_mount)).
    ///
    /// # Errors
    ///
    /// As [`token`](Self::token), and when `role` or `jwt` is empty.
    pub fn jwt(self, role: &str, jwt: impl Into<SecretString>) -> Result<HashiCorpVault, Error> {
        let jwt = Source::Value(nonempty(jwt.into(), "JWT")?);
        self.build(
            Credential::Jwt {
                role: role_name(role)?,
                jwt,
            },
            "jwt",
        )
    }

    /// Signs in with a JWT read from `path` at each login, as CI systems provide one.
    ///
    /// # Errors
    ///
    /// As [`jwt`](Self::jwt), and when the file cannot be read now.
    pub fn jwt_file(self, role: &str, path: impl AsRef<Path>) -> Result<HashiCorpVault, Error> {
        let jwt = readable(path.as_ref(), "JWT")?;
        self.build(
            Credential::Jwt {
                role: role_name(role)?,
                jwt,
            },
            "jwt",
        )
    }

    /// Signs in with a Kubernetes service-account token for `role`
    /// (`auth/kubernetes/login`, or the [`auth_mount`](Self::auth_mount)).
    ///
    /// # Errors
    ///
    /// As [`jwt`](Self::jwt).
    pub fn kubernetes(
        self,
        role: &str,
        jwt: impl Into<SecretString>,
    ) -> Result<HashiCorpVault, Error> {
        let jwt = Source::Value(nonempty(jwt.into(), "service-account token")?);
        self.build(
            Credential::Kubernetes {
                role: role_name(role)?,
                jwt,
            },
            "kubernetes",
        )
    }

    /// Signs in with the service-account token file read at each login (projected tokens
    /// rotate): usually [`KUBERNETES_TOKEN_PATH`].
    ///
    /// # Errors
    ///
    /// As [`kubernetes`](Self::kubernetes), and when the file cannot be read now.
    pub fn kubernetes_token_file(
        self,
        role: &str,
        path: impl AsRef<Path>,
    ) -> Result<HashiCorpVault, Error> {
        let jwt = readable(path.as_ref(), "service-account token")?;
        self.build(
            Credential::Kubernetes {
                role: role_name(role)?,
                jwt,
            },
            "kubernetes",
        )
    }

    /// Configured from the environment as the `vault` CLI is: `VAULT_ADDR` (default
    /// `https://127.0.0.1:8200`), `VAULT_TOKEN` or else the file `~/.vault-token`,
    /// `VAULT_NAMESPACE`, `VAULT_CACERT`. The builder's address is replaced by `VAULT_ADDR`
    /// when set.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] of kind [`ProviderErrorKind::Configuration`] when no token is
    /// found, or as [`token`](Self::token).
    pub fn from_env(self) -> Result<HashiCorpVault, Error> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        self.with_environment(|name| std::env::var(name).ok(), home.as_deref())
    }

    pub(crate) fn with_environment(
        mut self,
        var: impl Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<HashiCorpVault, Error> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(addr) = var("VAULT_ADDR") {
            self.addr = addr;
        }
        if let Some(namespace) = var("VAULT_NAMESPACE") {
            self.namespace = Some(namespace);
        }
        if let Some(ca) = var("VAULT_CACERT") {
            self.ca_cert = Some(PathBuf::from(ca));
        }
        if let Some(token) = var("VAULT_TOKEN") {
            return self.token(token);
        }
        let file = home.map(|home| home.join(".vault-token"));
        match file.as_deref().map(std::fs::read_to_string) {
            Some(Ok(token)) => self.token(zeroize::Zeroizing::new(token).trim()),
            _ => Err(Error::from(error(
                ProviderErrorKind::Configuration,
                "no Vault token in the environment: set VAULT_TOKEN, or sign in with `vault login` (which writes ~/.vault-token)".to_owned(),
            ))),
        }
    }

    fn build(self, credential: Credential, default_mount: &str) -> Result<HashiCorpVault, Error> {
        let declared = self
            .mounts
            .iter()
            .map(|(path, version)| declared_mount(path, *version))
            .collect::<Result<Vec<_>, _>>()?;
        let http = self.http_options()?;
        let http = http.build(PROVIDER_ID, self.retry).map_err(|e| {
            let e = match &self.ca_cert {
                Some(path) if e.kind() == ProviderErrorKind::Configuration => error(
                    ProviderErrorKind::Configuration,
                    format!("the CA file {} holds no PEM certificates", path.display()),
                ),
                _ => e,
            };
            Error::from(e)
        })?;
        let api = Api::new(
            http,
            self.retry,
            &self.addr,
            self.namespace,
            self.concurrency,
        )?;
        let mount = self
            .auth_mount
            .map(|m| m.trim().trim_matches('/').to_owned())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| default_mount.to_owned());
        let api = Arc::new(api);
        let auth = Auth::new(Arc::clone(&api), credential, mount);
        let settings = Settings {
            cache_ttl: self.cache_ttl.unwrap_or(DEFAULT_CACHE_TTL),
            ttl_explicit: self.cache_ttl.is_some(),
            revoke_on_clear: self.revoke_on_clear,
            declared,
        };
        Ok(HashiCorpVault {
            id: self.id.as_deref().unwrap_or(PROVIDER_ID).into(),
            connection: Arc::new(Connection::new(Client::new(api, auth), settings)),
        })
    }

    /// The HTTP options with the CA file's certificates, read now.
    fn http_options(&self) -> Result<HttpOptions, Error> {
        let Some(path) = &self.ca_cert else {
            return Ok(self.http.clone());
        };
        let pem = std::fs::read(path).map_err(|e| {
            Error::from(
                error(
                    ProviderErrorKind::Configuration,
                    format!("cannot read the CA file {}", path.display()),
                )
                .with_source(e),
            )
        })?;
        Ok(self.http.clone().ca_certificates_pem(pem))
    }
}

/// A declared mount, its path checked as a reference's path is.
fn declared_mount(path: &str, version: KvVersion) -> Result<Mount, Error> {
    let trimmed = path.trim().trim_matches('/');
    let plain = !trimmed.is_empty()
        && trimmed.split('/').all(|segment| {
            !matches!(segment, "" | "." | "..")
                && !segment
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
        });
    if !plain {
        return Err(Error::from(error(
            ProviderErrorKind::Configuration,
            format!(
                "the declared mount `{path}` is not a mount path such as `secret` or `team/secret`"
            ),
        )));
    }
    Ok(Mount::declared(trimmed, version))
}

impl Default for HashiCorpVaultBuilder {
    /// A builder for the `vault` CLI's default address, `https://127.0.0.1:8200`.
    fn default() -> Self {
        HashiCorpVaultBuilder::new(DEFAULT_ADDR)
    }
}

fn nonempty(value: SecretString, what: &str) -> Result<SecretString, Error> {
    let text = value.expose_secret().trim();
    if text.is_empty() {
        return Err(Error::from(error(
            ProviderErrorKind::Configuration,
            format!("the {what} is empty"),
        )));
    }
    Ok(SecretString::from(text))
}

fn role_name(role: &str) -> Result<String, Error> {
    let role = role.trim();
    if role.is_empty() {
        return Err(Error::from(error(
            ProviderErrorKind::Configuration,
            "the role name is empty".to_owned(),
        )));
    }
    Ok(role.to_owned())
}

fn readable(path: &Path, what: &str) -> Result<Source, Error> {
    crate::provider::setting::read_credential_blocking(PROVIDER_ID, what, path)?;
    Ok(Source::File(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn environment_like_the_cli() {
        let provider = HashiCorpVault::builder("http://ignored:1")
            .with_environment(
                vars(&[
                    ("VAULT_ADDR", "http://127.0.0.1:8200/"),
                    ("VAULT_TOKEN", "hvs.env-token"),
                    ("VAULT_NAMESPACE", "team"),
                ]),
                None,
            )
            .unwrap();
        let debug = format!("{provider:?}");
        assert!(debug.contains("http://127.0.0.1:8200"), "{debug}");
        assert!(debug.contains("team"), "{debug}");
        assert!(!debug.contains("hvs.env-token"), "{debug}");

        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_owned();
        std::fs::write(home.join(".vault-token"), "hvs.file-token\n").unwrap();
        assert!(
            HashiCorpVaultBuilder::default()
                .with_environment(vars(&[]), Some(&home))
                .is_ok()
        );
        let missing = HashiCorpVaultBuilder::default()
            .with_environment(vars(&[]), Some(&home.join("nowhere")))
            .unwrap_err();
        assert!(missing.to_string().contains("VAULT_TOKEN"), "{missing}");
    }

    #[test]
    fn credentials_are_checked_when_built() {
        let b = || HashiCorpVault::builder("http://127.0.0.1:8200");
        assert!(b().token("").is_err());
        assert!(b().token("a b").is_err());
        assert!(b().approle("role", " ").is_err());
        assert!(b().jwt("", "x.y.z").is_err());
        assert!(
            b().kubernetes_token_file("r", "/nonexistent/token")
                .is_err()
        );
        assert!(HashiCorpVault::builder("ftp://vault").token("t").is_err());
        let ca = b().ca_cert("/nonexistent/ca.pem").token("t").unwrap_err();
        assert!(ca.to_string().contains("CA file"), "{ca}");
        for bad in ["", "/", "a//b", "a/../b", "se cret", "a?b"] {
            let e = b().mount(bad, KvVersion::V2).token("t").unwrap_err();
            assert!(e.to_string().contains("declared mount"), "{bad}: {e}");
        }
        let ok = b()
            .mount("/team/secret/", KvVersion::V1)
            .token("t")
            .unwrap();
        assert!(format!("{:?}", b().mount("secret", KvVersion::V2)).contains("secret"));
        drop(ok);
    }
}
