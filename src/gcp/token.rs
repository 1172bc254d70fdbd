//! Access tokens: [`AccessToken`] (a token and its lifetime), [`TokenCache`] (one token
//! kept until shortly before it expires, one fetch at a time however many accesses wait,
//! forgotten when refused), [`TokenContext`] (what every way of getting a token needs: the
//! HTTP clients and the scrubbers that must learn each credential), and the time helpers
//! for Google's answers.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::provider::http::Http;
use crate::provider::{ProviderError, deadline};

/// How long before its expiry a token is renewed: Google's libraries use 3 min 45 s.
const MARGIN: Duration = Duration::from_secs(225);

pub(crate) use crate::provider::token::AccessToken;

/// What getting a token needs: the provider's HTTP client, the metadata-server client (short
/// timeouts, no proxy), and how long `gcloud` may run.
#[derive(Clone)]
pub(crate) struct TokenContext {
    pub(crate) http: Arc<Http>,
    pub(crate) metadata: Arc<Http>,
    pub(crate) command_timeout: Duration,
}

impl TokenContext {
    /// Registers a credential the provider holds from the start (a private key, a refresh
    /// token, a client secret) with every client's scrubber.
    pub(crate) fn holds(&self, credential: &SecretString) {
        self.http.scrubber().add(credential);
        self.metadata.scrubber().add(credential);
    }

    /// Registers a credential obtained along the way (an access token, a subject token, a
    /// signed assertion).
    pub(crate) fn obtained(&self, credential: &SecretString) {
        self.http.scrubber().add_obtained(credential);
        self.metadata.scrubber().add_obtained(credential);
    }
}

/// The one token a provider uses, kept until [`MARGIN`] before it expires.
#[derive(Default)]
pub(crate) struct TokenCache {
    slot: tokio::sync::Mutex<Option<Kept>>,
    /// Bumped by [`clear`](Self::clear): a token kept under an older generation is stale.
    generation: AtomicU64,
}

struct Kept {
    token: SecretString,
    until: Instant,
    generation: u64,
}

impl TokenCache {
    /// The kept token, or a new one from `fetch`. Concurrent callers wait for one fetch.
    ///
    /// # Errors
    ///
    /// The error of `fetch`.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<SecretString, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, ProviderError>>,
    {
        let mut slot = self.slot.lock().await;
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(kept) = slot.as_ref()
            && kept.generation == generation
            && Instant::now() < kept.until
        {
            return Ok(kept.token.clone());
        }
        let fresh = fetch().await?;
        let keep_for = fresh.keep_for(MARGIN);
        *slot = Some(Kept {
            token: fresh.token.clone(),
            until: deadline::from_now(keep_for),
            generation,
        });
        Ok(fresh.token)
    }

    /// Forgets `token` if it is still the one kept (a server refused it); a token renewed
    /// meanwhile by another access is kept.
    pub(crate) async fn forget(&self, token: &SecretString) {
        let mut slot = self.slot.lock().await;
        if slot
            .as_ref()
            .is_some_and(|kept| kept.token.expose_secret() == token.expose_secret())
        {
            *slot = None;
        }
    }

    /// Forgets the kept token (without waiting for a fetch under way, whose token is then
    /// not used again).
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Seconds since the Unix epoch now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The time from now until `text`, an RFC 3339 timestamp as Google writes them
/// (`2014-10-02T15:01:23Z`, `2014-10-02T15:01:23.045123456Z`, `…+02:00`); zero for a time
/// past, `None` for text that is not such a timestamp.
pub(crate) fn until_rfc3339(text: &str) -> Option<Duration> {
    let at = rfc3339_seconds(text)?;
    let now = i128::from(unix_now());
    let left = at.saturating_sub(now).max(0);
    Some(Duration::from_secs(u64::try_from(left).unwrap_or(u64::MAX)))
}

/// `text` as seconds since the Unix epoch (fractions dropped).
fn rfc3339_seconds(text: &str) -> Option<i128> {
    let bytes = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i128> {
        let digits = text.get(from..from.checked_add(len)?)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if bytes.len() < 20
        || !separators.iter().all(|(i, c)| bytes[*i] == *c)
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let minutes = number(text.len() - 5, 2)? * 60 + number(text.len() - 2, 2)?;
            if rest.starts_with('-') {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second - offset * 60)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i128, month: i128, day: i128) -> i128 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_timestamps_as_google_writes_them() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds("2014-10-02T15:01:23Z"), Some(1_412_262_083));
        assert_eq!(
            rfc3339_seconds("2014-10-02T15:01:23.045123456Z"),
            Some(1_412_262_083)
        );
        assert_eq!(
            rfc3339_seconds("2014-10-02T17:01:23+02:00"),
            Some(1_412_262_083)
        );
        assert_eq!(rfc3339_seconds("2000-02-29T00:00:00Z"), Some(951_782_400));
        for bad in [
            "",
            "2014-10-02",
            "2014-13-02T15:01:23Z",
            "2014-10-02T15:01:23",
            "2014-10-02T15:01:23.Z",
            "9999999999-01-01T00:00:00Z",
        ] {
            assert_eq!(rfc3339_seconds(bad), None, "{bad}");
        }
        assert_eq!(until_rfc3339("2000-01-01T00:00:00Z"), Some(Duration::ZERO));
        let later = until_rfc3339("2999-01-01T00:00:00Z").unwrap();
        assert!(later > Duration::from_secs(900 * 365 * 86_400));
    }

    fn token(text: &str, lifetime: Duration) -> AccessToken {
        AccessToken {
            token: SecretString::from(text),
            lifetime,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_kept_until_shortly_before_expiry_and_forgotten_when_refused() {
        let cache = TokenCache::default();
        let hour = Duration::from_secs(3600);
        let first = cache
            .get(|| async { Ok(token("one", hour)) })
            .await
            .unwrap();
        assert_eq!(first.expose_secret(), "one");
        let kept = cache
            .get(|| async { Ok(token("two", hour)) })
            .await
            .unwrap();
        assert_eq!(kept.expose_secret(), "one");
        tokio::time::advance(hour - MARGIN).await;
        let renewed = cache
            .get(|| async { Ok(token("two", hour)) })
            .await
            .unwrap();
        assert_eq!(renewed.expose_secret(), "two");
        cache.forget(&SecretString::from("one")).await;
        let still = cache
            .get(|| async { Ok(token("three", hour)) })
            .await
            .unwrap();
        assert_eq!(
            still.expose_secret(),
            "two",
            "an older token's refusal keeps the newer"
        );
        cache.forget(&renewed).await;
        let after = cache
            .get(|| async { Ok(token("four", hour)) })
            .await
            .unwrap();
        assert_eq!(after.expose_secret(), "four");
        cache.clear();
        let cleared = cache
            .get(|| async { Ok(token("five", Duration::MAX)) })
            .await
            .unwrap();
        assert_eq!(cleared.expose_secret(), "five");
        let huge = cache
            .get(|| async { Ok(token("six", hour)) })
            .await
            .unwrap();
        assert_eq!(
            huge.expose_secret(),
            "five",
            "a lifetime of Duration::MAX saturates"
        );
    }
}
