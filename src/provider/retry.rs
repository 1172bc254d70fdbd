//! Retries with exponential backoff and jitter, for providers talking to remote services.
//!
//! Only transient failures are retried ([`ProviderErrorKind::is_transient`]: rate limits,
//! unavailability, timeouts). A `Retry-After` the backend sent
//! ([`ProviderError::retry_after`]) replaces the computed backoff. Retrying stops after
//! [`RetryPolicy::max_attempts`] attempts or once the next wait would pass
//! [`RetryPolicy::max_elapsed`], and the last error is returned.
//!
//! ```
//! use std::time::Duration;
//! use request_vault::provider::RetryPolicy;
//!
//! let policy = RetryPolicy::default()
//!     .max_attempts(5)
//!     .initial_backoff(Duration::from_millis(50))
//!     .max_elapsed(Duration::from_secs(10));
//! assert_eq!(policy.backoff(0), Duration::from_millis(50));
//! ```

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

use super::{ProviderError, deadline};

/// How a provider retries transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, backoff from 100 ms doubling up to 5 s, at most 30 s in all.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// How many attempts in all, the first included (at least 1).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry; each later wait doubles, up to `max_backoff`.
    #[must_use]
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest single wait, whatever the doubling or `Retry-After` says.
    #[must_use]
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The longest time spent in all, waits included; no retry starts past it.
    #[must_use]
    pub fn max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// The wait before retry number `retry` (0 for the first), before jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(16));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy is spent.
    ///
    /// The attempts are taken to be idempotent: any transient failure is retried. The time
    /// limit is one deadline for the whole call: a retrying call made inside `attempt` (a
    /// token fetched on the way, say) shares it and never extends it, so layers of retries
    /// cannot multiply the time a caller waits.
    ///
    /// # Errors
    ///
    /// The last error `attempt` returned: at once when it is not transient, or when no
    /// attempt or time is left.
    pub async fn run<T, F, Fut>(&self, attempt: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.run_as(Idempotency::Idempotent, attempt).await
    }

    /// Runs `attempt` as [`run`](Self::run) does; a request that must not run twice
    /// ([`Idempotency::Once`]) is sent again only when it is known that the backend did not
    /// act on it (the connection failed, or the backend answered 429 or 503), never after a
    /// timeout or a lost reply.
    pub(crate) async fn run_as<T, F, Fut>(
        &self,
        idempotency: Idempotency,
        attempt: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.bounded(self.attempts(idempotency, attempt)).await
    }

    /// Runs `work` once under one deadline of this policy's `max_elapsed` (or an outer
    /// call's, when earlier), shared by every retrying call made inside it: a backend that
    /// fetches a token and then reads, each with its own retries, bounds the pair by one
    /// limit without nesting one retry loop in another.
    pub(crate) async fn bounded<T>(&self, work: impl Future<Output = T>) -> T {
        let own = deadline::from_now(self.max_elapsed);
        let deadline = DEADLINE
            .try_with(|outer| *outer)
            .map_or(own, |outer| outer.min(own));
        DEADLINE.scope(deadline, work).await
    }

    async fn attempts<T, F, Fut>(
        &self,
        idempotency: Idempotency,
        mut attempt: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut retry = 0;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let resendable = match idempotency {
                Idempotency::Idempotent => true,
                Idempotency::Once => error.delivery().allows_resending(),
            };
            if !error.kind().is_transient() || !resendable || retry + 1 >= self.max_attempts {
                return Err(error);
            }
            let wait = match error.retry_after() {
                Some(after) => after.min(self.max_backoff),
                None => jitter(self.backoff(retry)),
            };
            if remaining().is_some_and(|left| wait > left) {
                return Err(error);
            }
            tracing::debug!(
                provider = error.provider(),
                kind = ?error.kind(),
                wait_ms = wait.as_millis() as u64,
                retry = retry + 1,
                "retrying after a transient provider error"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

/// Whether a request may run twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Reads, and writes that land the same however often they run.
    Idempotent,
    /// A request the backend must act on once at most: a login that spends a secret ID
    /// with a use limit.
    Once,
}

tokio::task_local! {
    /// The deadline of the outermost retrying call under way in this task.
    static DEADLINE: Instant;
}

/// The time left before the deadline of the retrying call under way, if there is one: what
/// bounds each HTTP request made inside it.
pub(crate) fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// "Full jitter" between half and all of `wait`, so that many clients do not retry in step.
fn jitter(wait: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
    wait.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderErrorKind;
    use std::cell::Cell;

    fn error(kind: ProviderErrorKind) -> ProviderError {
        ProviderError::new("test", kind, "boom")
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(500));
        let waits: Vec<u128> = (0..5).map(|r| policy.backoff(r).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(100));
            assert!(j >= Duration::from_millis(50) && j <= Duration::from_millis(100));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_then_succeed() {
        let calls = Cell::new(0);
        let result = RetryPolicy::default()
            .run(|| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Err(error(ProviderErrorKind::Unavailable))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_fail_fast() {
        let calls = Cell::new(0);
        let result: Result<(), _> = RetryPolicy::default()
            .run(|| {
                calls.set(calls.get() + 1);
                async { Err(error(ProviderErrorKind::NotFound)) }
            })
            .await;
        assert_eq!(result.unwrap_err().kind(), ProviderErrorKind::NotFound);
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_attempts_are_bounded() {
        let calls = Cell::new(0);
        let start = Instant::now();
        let result: Result<(), _> = RetryPolicy::default()
            .max_attempts(3)
            .run(|| {
                calls.set(calls.get() + 1);
                async {
                    Err(error(ProviderErrorKind::RateLimited)
                        .with_retry_after(Duration::from_secs(2)))
                }
            })
            .await;
        assert_eq!(result.unwrap_err().kind(), ProviderErrorKind::RateLimited);
        assert_eq!(calls.get(), 3);
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_work_shares_one_deadline_between_its_calls() {
        let policy = RetryPolicy::default()
            .max_attempts(100)
            .max_elapsed(Duration::from_secs(3));
        let calls = Cell::new(0);
        let start = Instant::now();
        let failing = || {
            calls.set(calls.get() + 1);
            async {
                Err::<(), _>(
                    error(ProviderErrorKind::RateLimited).with_retry_after(Duration::from_secs(1)),
                )
            }
        };
        policy
            .bounded(async {
                assert!(remaining().is_some());
                let _ = policy.run(failing).await;
                let _ = policy.run(failing).await;
            })
            .await;
        assert_eq!(
            calls.get(),
            5,
            "4 calls in the first 3 s, then one with no time left"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert!(remaining().is_none(), "the deadline ends with the work");
    }

    #[tokio::test(start_paused = true)]
    async fn total_time_is_bounded() {
        let calls = Cell::new(0);
        let _ = RetryPolicy::default()
            .max_attempts(100)
            .max_elapsed(Duration::from_secs(3))
            .run(|| {
                calls.set(calls.get() + 1);
                async {
                    Err::<(), _>(
                        error(ProviderErrorKind::RateLimited)
                            .with_retry_after(Duration::from_secs(1)),
                    )
                }
            })
            .await;
        assert_eq!(
            calls.get(),
            4,
            "at 0 s, 1 s, 2 s and 3 s, then no time is left"
        );
    }
}
