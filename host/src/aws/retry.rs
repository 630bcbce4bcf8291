//! Exponential backoff with full jitter, bounded by the invocation's deadline.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff ceiling before the first retry; it doubles after each.
    pub base: Duration,
    pub max_backoff: Duration,
    /// One attempt may take at most this long.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1`, or `None` to give up:
    /// attempts ran out, or the wait and one more attempt would pass the deadline.
    pub fn backoff(&self, attempt: u32, now: Instant, deadline: Instant) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let ceiling = self.base.saturating_mul(1 << (attempt - 1).min(16)).min(self.max_backoff);
        let wait = ceiling.mul_f64(fastrand::f64());
        // A retry is worth it only if it has time to get an answer.
        let needed = wait + Duration::from_millis(50);
        (now + needed < deadline).then_some(wait)
    }

    /// The timeout for an attempt that starts now.
    pub fn attempt_timeout(&self, now: Instant, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(now).min(self.attempt_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_the_ceiling_and_stops() {
        let p = RetryPolicy::default();
        let now = Instant::now();
        let far = now + Duration::from_secs(60);
        for _ in 0..100 {
            assert!(p.backoff(1, now, far).unwrap() <= Duration::from_millis(100));
            assert!(p.backoff(2, now, far).unwrap() <= Duration::from_millis(200));
        }
        assert_eq!(p.backoff(3, now, far), None);
    }

    #[test]
    fn no_retry_past_the_deadline() {
        let p = RetryPolicy::default();
        let now = Instant::now();
        assert_eq!(p.backoff(1, now, now + Duration::from_millis(40)), None);
        assert_eq!(p.attempt_timeout(now, now + Duration::from_millis(300)), Duration::from_millis(300));
        assert_eq!(p.attempt_timeout(now, now + Duration::from_secs(60)), Duration::from_secs(5));
    }
}
