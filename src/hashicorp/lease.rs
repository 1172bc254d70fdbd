//! How long a lease or a token is used: its time less a margin (a fifth of it, at most a
//! minute), so that a value or a token is never used in its last moments.

use std::time::Duration;

/// The part of `lease` left unused at its end.
pub(crate) fn margin(lease: Duration) -> Duration {
    (lease / 5).min(Duration::from_secs(60))
}

/// How long of `lease` is used: all of it but the [`margin`].
pub(crate) fn usable(lease: Duration) -> Duration {
    lease.saturating_sub(margin(lease))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_at_most_a_minute_and_never_overflowing() {
        let secs = Duration::from_secs;
        assert_eq!(usable(secs(10)), secs(8));
        assert_eq!(usable(secs(3600)), secs(3540));
        assert_eq!(margin(Duration::MAX), secs(60));
        assert_eq!(usable(Duration::MAX), Duration::MAX - secs(60));
        assert_eq!(usable(Duration::ZERO), Duration::ZERO);
    }
}
