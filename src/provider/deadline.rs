//! Deadlines that saturate: the one place in the crate where a duration is added to a point
//! in time.
//!
//! `Instant + Duration` panics when the sum does not fit the clock, and a backend decides
//! the duration: a HashiCorp lease of `u64::MAX` seconds, an `expires_in` of 10^30, a
//! `Retry-After` a century away. Every deadline is therefore computed here, and a duration too
//! large for the clock means "as late as the clock can say" (about a century from now),
//! never a panic. A test below keeps the rest of `src/` free of `+` on times.

use std::time::{Duration, SystemTime};

/// About a century: the farthest deadline the crate sets, however long a backend asked for.
pub(crate) const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `start + duration` on tokio's clock (which tests can pause), or the farthest instant the
/// clock can hold within [`FAR`] when the sum would overflow.
pub(crate) fn after(start: tokio::time::Instant, duration: Duration) -> tokio::time::Instant {
    saturating(start, duration, tokio::time::Instant::checked_add)
}

/// `start + duration` on the wall clock, saturating as [`after`].
pub(crate) fn after_system(start: SystemTime, duration: Duration) -> SystemTime {
    saturating(start, duration, SystemTime::checked_add)
}

/// The instant `duration` from now on tokio's clock, saturating.
pub(crate) fn from_now(duration: Duration) -> tokio::time::Instant {
    after(tokio::time::Instant::now(), duration)
}

/// The sum, or failing that the largest of a few shorter horizons that fits; `start` itself
/// only on a clock that cannot reach even a second ahead.
fn saturating<T: Copy>(start: T, duration: Duration, add: fn(&T, Duration) -> Option<T>) -> T {
    add(&start, duration)
        .or_else(|| {
            [
                FAR,
                FAR / 100,
                Duration::from_secs(24 * 60 * 60),
                Duration::from_secs(1),
            ]
            .into_iter()
            .filter(|horizon| *horizon < duration)
            .find_map(|horizon| add(&start, horizon))
        })
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let now = tokio::time::Instant::now();
        let far = after(now, Duration::MAX);
        assert!(far > now);
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now.checked_add(Duration::from_secs(5)).unwrap()
        );
        let lease = Duration::from_secs(u64::MAX);
        assert!(after_system(SystemTime::now(), lease) > SystemTime::now());
        assert!(from_now(Duration::from_secs(i64::MAX as u64)) > now);
    }

    /// The grep-level guarantee: no `+` on a point in time outside this file. A line that
    /// adds to an `Instant`, a `SystemTime` or a `Duration` (or names a deadline, an expiry or
    /// a lease while adding) fails the test with its place; `saturating_add` and
    /// `checked_add` are the ways around it.
    #[test]
    fn no_time_arithmetic_outside_this_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("deadline.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for (number, line) in text.lines().enumerate() {
                    if adds_to_a_time(line) {
                        offenders.push(format!(
                            "{}:{}: {}",
                            path.display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "time arithmetic that can overflow (use provider::deadline):\n{}",
            offenders.join("\n")
        );
    }

    /// Whether a line of code (comments dropped) adds to something that looks like a time.
    fn adds_to_a_time(line: &str) -> bool {
        let code = line.split("//").next().unwrap_or_default();
        let adds = code.contains(" + ") || code.contains("+=");
        const TIMELY: &[&str] = &[
            "Instant",
            "SystemTime",
            "Duration",
            "elapsed()",
            "now()",
            "deadline",
            "expires",
            "expiry",
            "lease",
            "ttl",
            "max_age",
            "retry_after",
            "backoff",
            "timeout",
        ];
        adds && TIMELY.iter().any(|word| code.contains(word))
    }

    #[test]
    fn the_grep_finds_what_it_must() {
        assert!(adds_to_a_time("let at = Instant::now() + duration;"));
        assert!(adds_to_a_time("if start.elapsed() + wait > max {"));
        assert!(adds_to_a_time("deadline += step;"));
        assert!(!adds_to_a_time("let n = count + 1;"));
        assert!(!adds_to_a_time("// Instant::now() + duration in a comment"));
    }
}
