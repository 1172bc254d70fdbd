//! [`AccessToken`]: a bearer token a backend obtained (from Entra ID, Google's token
//! endpoints, a metadata server, a CLI) and how long it lives, and the one rule for how long
//! such a token is kept: until a margin before it expires, the margin at most half its life.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// An access token and how long it is valid from now.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) token: SecretString,
    pub(crate) lifetime: Duration,
}

impl AccessToken {
    /// How long the token may be kept: its lifetime less `margin` (the backend's habit:
    /// Azure's SDKs renew 5 minutes early, Google's 3 min 45 s), the margin at most half the
    /// lifetime, so that a short-lived token is still used a while. Never overflows.
    pub(crate) fn keep_for(&self, margin: Duration) -> Duration {
        self.lifetime.saturating_sub(margin.min(self.lifetime / 2))
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_until_the_margin_or_half_their_life() {
        let token = |secs| AccessToken {
            token: SecretString::from("s3cr3t-token"),
            lifetime: Duration::from_secs(secs),
        };
        let margin = Duration::from_secs(300);
        assert_eq!(token(3600).keep_for(margin), Duration::from_secs(3300));
        assert_eq!(token(60).keep_for(margin), Duration::from_secs(30));
        assert_eq!(token(0).keep_for(margin), Duration::ZERO);
        assert_eq!(
            token(u64::MAX).keep_for(margin),
            Duration::from_secs(u64::MAX - 300)
        );
        assert!(!format!("{:?}", token(1)).contains("s3cr3t"));
    }
}
