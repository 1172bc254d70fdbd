//! [`Client`]: Vault's API with the sign-in, for every request made with a token. A 403 on
//! a login's token logs in again and sends the request once more; a 403 that remains is
//! told apart as Unauthorized or Forbidden (see `auth`).

use std::sync::Arc;

use super::api::{Api, Call};
use super::auth::Auth;
use super::error::lookup_failure;
use crate::provider::ProviderError;
use crate::provider::http::Reply;

/// The API and the sign-in of one provider.
pub(crate) struct Client {
    api: Arc<Api>,
    auth: Arc<Auth>,
}

impl Client {
    /// A client sending through `api` with the tokens of `auth` (which signs in through
    /// the same API).
    pub(crate) fn new(api: Arc<Api>, auth: Auth) -> Self {
        Client {
            api,
            auth: Arc::new(auth),
        }
    }

    /// Vault's API, for what it says of itself (address, namespace, scrubber).
    pub(crate) fn api(&self) -> &Api {
        &self.api
    }

    /// The sign-in, for what it says of itself (method, mount).
    pub(crate) fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Sends `call` (described as `what` in errors) with the current token. The token is
    /// obtained before the request's retries start, never inside them, and the sign-in, the
    /// request and its one repetition after a new login share one deadline.
    ///
    /// # Errors
    ///
    /// As [`Api::send`], the sign-in's errors, and a 403 that remains after one new login
    /// as Unauthorized or Forbidden. Any other status is the caller's to read.
    pub(crate) async fn authorized(
        &self,
        call: &Call<'_>,
        what: &str,
    ) -> Result<Reply, ProviderError> {
        self.api.bounded(self.authorized_now(call, what)).await
    }

    async fn authorized_now(&self, call: &Call<'_>, what: &str) -> Result<Reply, ProviderError> {
        let mut session = self.auth.session().await?;
        let mut reply = self.api.send(call, Some(&session.token)).await?;
        if reply.status.as_u16() == 403 && self.auth.logs_in() {
            tracing::debug!(
                path = call.path,
                "Vault refused the login's token; logging in again"
            );
            self.auth.invalidate(session.generation);
            session = self.auth.session().await?;
            reply = self.api.send(call, Some(&session.token)).await?;
        }
        if reply.status.as_u16() == 403 {
            return Err(self.auth.refused(&reply, &session, what).await);
        }
        Ok(reply)
    }

    /// `auth/token/lookup-self`: address, token and namespace in one request.
    ///
    /// # Errors
    ///
    /// The sign-in's errors, transport failures, and a refused token as Unauthorized.
    pub(crate) async fn check(&self) -> Result<(), ProviderError> {
        let call = Call::get("auth/token/lookup-self", self.api.namespace());
        let reply = self
            .api
            .bounded(async {
                let session = self.auth.session().await?;
                self.api.send(&call, Some(&session.token)).await
            })
            .await?;
        if reply.is_success() {
            Ok(())
        } else {
            Err(lookup_failure(&reply))
        }
    }
}
