//! When to try a provisioning request again, and how long to wait first.
//!
//! Retried: 429 (rate limited), 502/503/504 (a proxy or the API is briefly
//! unavailable) and connection errors. Never retried: other 4xx (the answer
//! will not change), 500 (a real server error), timeouts (the request may
//! still be in flight; `--timeout` is the user's bound on waiting).

use std::time::Duration;

use rand::Rng;

/// Bounded, jittered exponential backoff.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for every further one.
    pub base_delay: Duration,
    /// Cap on the exponential delay.
    pub max_delay: Duration,
    /// Fraction (0..=1) of the delay that is randomised, so many devices of a
    /// batch do not retry in lock-step.
    pub jitter: f64,
    /// A `Retry-After` longer than this is not waited out: the request fails
    /// as rate limited, naming the delay.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            jitter: 0.5,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// `retries` retries after the first attempt.
    pub fn with_retries(retries: u32) -> Self {
        RetryPolicy {
            max_attempts: retries.saturating_add(1),
            ..RetryPolicy::default()
        }
    }

    /// How long to wait after failed attempt number `attempt` (1-based)
    /// before the next one, or `None` if the policy gives up.
    ///
    /// With a `Retry-After` the wait is at least that long (plus up to
    /// `jitter × base_delay`); without one it is `base × 2^(attempt-1)`,
    /// capped at `max_delay`, of which the `jitter` fraction is random.
    pub fn delay_after(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts.max(1) {
            return None;
        }
        let jitter = self.jitter.clamp(0.0, 1.0);
        if let Some(ra) = retry_after {
            if ra > self.max_retry_after {
                return None;
            }
            let extra = self.base_delay.mul_f64(jitter * rng.gen_range(0.0..=1.0));
            return Some(ra + extra);
        }
        let exp = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        let full = self.base_delay.saturating_mul(exp).min(self.max_delay);
        let fixed = full.mul_f64(1.0 - jitter);
        let random = full.mul_f64(jitter * rng.gen_range(0.0..=1.0));
        Some(fixed + random)
    }
}

/// `Retry-After` as delay-seconds (RFC 9110 §10.2.3). The HTTP-date form is
/// not used by the Particle API; it falls back to the exponential delay.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_and_stays_within_its_jitter_bounds() {
        let policy = RetryPolicy {
            max_attempts: 10,
            ..RetryPolicy::default()
        };
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..10u32 {
            let full = (policy.base_delay * 2u32.pow(attempt - 1)).min(policy.max_delay);
            let low = full.mul_f64(1.0 - policy.jitter);
            for _ in 0..200 {
                let d = policy.delay_after(attempt, None, &mut rng).unwrap();
                assert!(
                    d >= low && d <= full,
                    "attempt {attempt}: {d:?} not in {low:?}..={full:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_actually_varies_the_delay() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        let delays: std::collections::HashSet<_> = (0..50)
            .map(|_| policy.delay_after(1, None, &mut rng).unwrap())
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn retry_after_is_honoured_as_a_minimum() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let d = policy
                .delay_after(1, Some(Duration::from_secs(5)), &mut rng)
                .unwrap();
            assert!(d >= Duration::from_secs(5));
            assert!(d <= Duration::from_secs(5) + policy.base_delay.mul_f64(policy.jitter));
        }
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(3);
        assert!(policy.delay_after(3, None, &mut rng).is_some());
        assert!(policy.delay_after(4, None, &mut rng).is_none());
        assert!(RetryPolicy::none().delay_after(1, None, &mut rng).is_none());
        assert_eq!(RetryPolicy::with_retries(2).max_attempts, 3);
    }

    #[test]
    fn an_excessive_retry_after_gives_up_instead_of_waiting() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(3);
        assert!(policy
            .delay_after(1, Some(Duration::from_secs(3600)), &mut rng)
            .is_none());
    }

    #[test]
    fn retry_after_seconds_parse() {
        assert_eq!(parse_retry_after(" 1 "), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
