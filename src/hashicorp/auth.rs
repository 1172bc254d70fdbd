//! Signing in: [`Auth`] holds a fixed token, or gets one from an AppRole, JWT/OIDC or
//! Kubernetes login, renews it (`auth/token/renew-self`) or logs in again before it
//! expires, and forgets it when Vault refuses it, so that the next request logs in again.
//!
//! A login is sent once: its reply lost, it is not sent again (an AppRole `secret_id` may
//! have a use limit that a second attempt would spend). A renewal may be sent again:
//! renewing a token twice only sets its TTL again.
//!
//! Vault answers 403 `permission denied` both for a token it does not know (expired,
//! revoked) and for a valid token whose policies do not cover the path. The two are told
//! apart so that callers know whether to reauthenticate: a 403 whose text says
//! `invalid token` (Vault 1.12 and later add it) is [`Unauthorized`]; otherwise the token is
//! checked once with `auth/token/lookup-self` (which every token's default policy allows):
//! refused there too means [`Unauthorized`], accepted means [`Forbidden`].
//!
//! [`Unauthorized`]: crate::ProviderErrorKind::Unauthorized
//! [`Forbidden`]: crate::ProviderErrorKind::Forbidden

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::api::{Api, Call};
use super::error::{PROVIDER_ID, error, failure, login_failure, refusal, says_invalid_token};
use super::lease;
use super::wire::{AppRoleLogin, AuthBlock, AuthReply, JwtLogin, json_body};
use crate::provider::http::Reply;
use crate::provider::memo::Memo;
use crate::provider::setting;
use crate::provider::{ProviderError, ProviderErrorKind};

/// A credential given as a value or as a file read at each login (CI systems and Kubernetes
/// rotate these files).
pub(crate) enum Source {
    Value(SecretString),
    File(PathBuf),
}

impl Source {
    /// The credential: the value, or the file's content read off the runtime now (files
    /// rotate between logins).
    pub(crate) async fn read(&self, what: &str) -> Result<SecretString, ProviderError> {
        match self {
            Source::Value(value) => Ok(value.clone()),
            Source::File(path) => setting::read_credential(PROVIDER_ID, what, path).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Value(_) => "given".to_owned(),
            Source::File(path) => format!("file {}", path.display()),
        }
    }
}

/// How the provider signs in.
pub(crate) enum Credential {
    Token(SecretString),
    AppRole {
        role_id: SecretString,
        secret_id: Source,
    },
    Jwt {
        role: String,
        jwt: Source,
    },
    Kubernetes {
        role: String,
        jwt: Source,
    },
}

impl Credential {
    /// The auth method's name, for messages and `Debug`.
    pub(crate) fn method(&self) -> &'static str {
        match self {
            Credential::Token(_) => "token",
            Credential::AppRole { .. } => "approle",
            Credential::Jwt { .. } => "jwt",
            Credential::Kubernetes { .. } => "kubernetes",
        }
    }

    /// What `Debug` may show: the role and where secrets come from, never a secret.
    pub(crate) fn describe(&self) -> String {
        match self {
            Credential::Token(_) => "token".to_owned(),
            Credential::AppRole { secret_id, .. } => {
                format!("approle (secret_id {})", secret_id.describe())
            }
            Credential::Jwt { role, jwt } => format!("jwt role `{role}` (jwt {})", jwt.describe()),
            Credential::Kubernetes { role, jwt } => {
                format!("kubernetes role `{role}` (token {})", jwt.describe())
            }
        }
    }
}

/// A token in use.
pub(crate) struct Session {
    pub(crate) token: SecretString,
    /// Which token this is: a login makes a new one, a renewal keeps it.
    pub(crate) generation: u64,
    obtained: Instant,
    /// How long the token lives from `obtained`; `None` for a token that does not expire.
    lease: Option<Duration>,
    renewable: bool,
}

impl Session {
    /// How long this session may be used before it is renewed or replaced.
    fn usable_for(&self) -> Option<Duration> {
        self.lease
            .map(|lease| lease::usable(lease).saturating_sub(self.obtained.elapsed()))
    }
}

/// The sign-in state of a provider.
pub(crate) struct Auth {
    api: Arc<Api>,
    pub(crate) credential: Credential,
    /// The auth method's mount (`approle`, `jwt`, `kubernetes` or a custom path).
    pub(crate) mount: String,
    fixed: Option<Arc<Session>>,
    sessions: Arc<Memo<(), Arc<Session>>>,
    last: Mutex<Option<Arc<Session>>>,
    generations: AtomicU64,
    probes: Arc<Memo<u64, bool>>,
}

impl Auth {
    pub(crate) fn new(api: Arc<Api>, credential: Credential, mount: String) -> Self {
        let fixed = match &credential {
            Credential::Token(token) => {
                api.scrubber().add(token);
                Some(Arc::new(Session {
                    token: token.clone(),
                    generation: 0,
                    obtained: Instant::now(),
                    lease: None,
                    renewable: false,
                }))
            }
            _ => None,
        };
        Auth {
            api,
            credential,
            mount,
            fixed,
            // Sessions are kept until shortly before their token expires.
            sessions: Memo::new(Duration::MAX),
            last: Mutex::new(None),
            generations: AtomicU64::new(1),
            probes: Memo::new(Duration::ZERO),
        }
    }

    /// Whether tokens come from a login (and so can be re-obtained).
    pub(crate) fn logs_in(&self) -> bool {
        self.fixed.is_none()
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Option<Arc<Session>>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token to use now: the fixed one, or a login's, renewed or re-obtained when it is
    /// close to expiring.
    pub(crate) async fn session(self: &Arc<Self>) -> Result<Arc<Session>, ProviderError> {
        if let Some(fixed) = &self.fixed {
            return Ok(Arc::clone(fixed));
        }
        let this = Arc::clone(self);
        self.sessions
            .get_leased((), move || {
                async move {
                    let session = this.renew_or_login().await?;
                    let keep = session.usable_for();
                    *this.last() = Some(Arc::clone(&session));
                    Ok((session, keep))
                }
                .boxed()
            })
            .await
            .map_err(|e| e.duplicate())
    }

    /// After Vault refused `generation`'s token: forget it, unless a newer one replaced it
    /// already, so that the next [`session`](Self::session) logs in again.
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut last = self.last();
        if last.as_ref().is_some_and(|s| s.generation == generation) {
            *last = None;
            drop(last);
            self.sessions.forget(&());
        }
    }

    async fn renew_or_login(&self) -> Result<Arc<Session>, ProviderError> {
        let previous = self.last().clone();
        if let Some(previous) = previous.filter(|s| s.renewable) {
            match self.renew(&previous).await {
                Ok(Some(session)) => return Ok(session),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "renewing the Vault token failed; logging in again")
                }
            }
        }
        self.login().await
    }

    /// `auth/token/renew-self`; `None` when the renewed token would not last past the
    /// margin (its max TTL is reached), so that a fresh login is better.
    async fn renew(&self, previous: &Session) -> Result<Option<Arc<Session>>, ProviderError> {
        let body = Zeroizing::new(b"{}".to_vec());
        let call = Call::post("auth/token/renew-self", self.api.namespace(), body).idempotent();
        let reply = self.api.send(&call, Some(&previous.token)).await?;
        if !reply.is_success() {
            return Err(failure(&reply, "renewing the token"));
        }
        let block = auth_block(&reply, "the token renewal")?;
        let lease = Duration::from_secs(block.lease_duration);
        if lease.is_zero() || lease < 2 * lease::margin(lease) {
            return Ok(None);
        }
        tracing::debug!(lease_secs = block.lease_duration, "renewed the Vault token");
        Ok(Some(Arc::new(Session {
            token: previous.token.clone(),
            generation: previous.generation,
            obtained: Instant::now(),
            lease: Some(lease),
            renewable: block.renewable,
        })))
    }

    /// `POST auth/<mount>/login` with the credential, sent once.
    async fn login(&self) -> Result<Arc<Session>, ProviderError> {
        let body = self.login_body().await?;
        let path = format!("auth/{}/login", self.mount);
        let call = Call::post(&path, self.api.namespace(), body);
        let reply = self.api.send(&call, None).await?;
        let what = format!("the {} login at `{path}`", self.credential.method());
        if !reply.is_success() {
            return Err(login_failure(&reply, &what, &self.mount));
        }
        let block = auth_block(&reply, &what)?;
        let generation = self.generations.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(
            method = self.credential.method(),
            lease_secs = block.lease_duration,
            "logged in to Vault"
        );
        let token = SecretString::from(block.client_token.as_str());
        self.api.scrubber().add_obtained(&token);
        Ok(Arc::new(Session {
            token,
            generation,
            obtained: Instant::now(),
            lease: (block.lease_duration > 0).then(|| Duration::from_secs(block.lease_duration)),
            renewable: block.renewable,
        }))
    }

    /// The login's body, its credentials (read now, from a file when so configured)
    /// registered with the scrubber first.
    async fn login_body(&self) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let scrubber = self.api.scrubber();
        match &self.credential {
            Credential::Token(_) => Err(error(
                ProviderErrorKind::Configuration,
                "a fixed token cannot log in".to_owned(),
            )),
            Credential::AppRole { role_id, secret_id } => {
                let secret_id = secret_id.read("AppRole secret_id").await?;
                scrubber.add_obtained(role_id);
                scrubber.add_obtained(&secret_id);
                let (role_id, secret_id) = (role_id.expose_secret(), secret_id.expose_secret());
                let body = AppRoleLogin { role_id, secret_id };
                Ok(json_body(&body, role_id.len() + secret_id.len()))
            }
            Credential::Jwt { role, jwt } | Credential::Kubernetes { role, jwt } => {
                let jwt = jwt.read("JWT").await?;
                scrubber.add_obtained(&jwt);
                let jwt = jwt.expose_secret();
                Ok(json_body(&JwtLogin { role, jwt }, role.len() + jwt.len()))
            }
        }
    }

    /// The error for a 403 to `what` with `session`'s token:
    /// [`ProviderErrorKind::Unauthorized`] when the token itself is refused,
    /// [`ProviderErrorKind::Forbidden`] otherwise.
    pub(crate) async fn refused(
        self: &Arc<Self>,
        reply: &Reply,
        session: &Session,
        what: &str,
    ) -> ProviderError {
        let invalid = says_invalid_token(reply) || self.token_refused(session).await;
        refusal(reply, what, invalid)
    }

    /// Whether `auth/token/lookup-self` refuses the token (once per token, shared by
    /// concurrent callers).
    async fn token_refused(self: &Arc<Self>, session: &Session) -> bool {
        let api = Arc::clone(&self.api);
        let token = session.token.clone();
        self.probes
            .get(session.generation, move || {
                async move {
                    let call = Call::get("auth/token/lookup-self", api.namespace());
                    let reply = api.send(&call, Some(&token)).await?;
                    Ok(matches!(reply.status.as_u16(), 401 | 403))
                }
                .boxed()
            })
            .await
            .unwrap_or(false)
    }
}

fn auth_block(reply: &Reply, what: &str) -> Result<AuthBlock, ProviderError> {
    let parsed: AuthReply = reply.json(PROVIDER_ID, what)?;
    parsed
        .auth
        .filter(|block| !block.client_token.is_empty())
        .ok_or_else(|| {
            error(
                ProviderErrorKind::Protocol,
                format!("{what} answered without a token"),
            )
        })
}
