//! Retries as the AWS SDKs' standard mode makes them: `AWS_MAX_ATTEMPTS` and
//! `AWS_RETRY_MODE`, exponential backoff with full jitter, and a retry quota
//! (a token bucket shared by every call the process makes), so that a long
//! outage does not multiply the load. No retry runs past the invocation's
//! deadline.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{ConfigError, Lookup};

/// How a call is retried (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (`AWS_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// The backoff ceiling before the first retry; it doubles after each.
    pub base: Duration,
    /// The longest wait before a retry.
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
    /// The defaults, with `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE` as the SDKs
    /// read them. `standard` (the default) and `legacy` both retry as above;
    /// `adaptive` also rate-limits on the client side, which this client does
    /// not do, so it is refused rather than silently treated as `standard`.
    pub fn from_lookup(var: &impl Lookup) -> Result<Self, ConfigError> {
        let mut policy = Self::default();
        if let Some(value) = var.get("AWS_MAX_ATTEMPTS")? {
            policy.max_attempts = value.trim().parse().ok().filter(|n| *n >= 1).ok_or(ConfigError {
                variable: "AWS_MAX_ATTEMPTS",
                problem: "must be a whole number of attempts, 1 or more".into(),
            })?;
        }
        match var.get("AWS_RETRY_MODE")?.unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "" | "standard" | "legacy" => {}
            "adaptive" => {
                let problem = "adaptive (client-side rate limiting) is not supported; use standard".into();
                return Err(ConfigError { variable: "AWS_RETRY_MODE", problem });
            }
            _ => return Err(ConfigError { variable: "AWS_RETRY_MODE", problem: "must be standard or legacy".into() }),
        }
        Ok(policy)
    }

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

/// The standard mode's retry quota: a bucket of 500 tokens per process. A
/// retry takes 5 (10 after a timeout or a connection failure) and gives them
/// back if it succeeds; a call that succeeds at once adds 1. An empty bucket
/// means no more retries until calls succeed again.
#[derive(Debug)]
pub struct RetryQuota {
    tokens: Mutex<u32>,
}

/// What a retry took from the quota, to give back if it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken(u32);

impl RetryQuota {
    /// The tokens the bucket holds, and starts with.
    pub const CAPACITY: u32 = 500;
    /// What a retry after an answer costs.
    pub const RETRY_COST: u32 = 5;
    /// What a retry after no answer (a timeout, a reset) costs.
    pub const TIMEOUT_RETRY_COST: u32 = 10;

    /// A full bucket.
    pub fn new() -> Self {
        Self { tokens: Mutex::new(Self::CAPACITY) }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, u32> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the cost of one retry, or `None` when the bucket cannot pay it.
    pub fn take(&self, after_timeout: bool) -> Option<Taken> {
        let cost = if after_timeout { Self::TIMEOUT_RETRY_COST } else { Self::RETRY_COST };
        let mut tokens = self.tokens();
        let left = tokens.checked_sub(cost)?;
        *tokens = left;
        Some(Taken(cost))
    }

    /// A call succeeded: `retried` is what its retries took, if any.
    pub fn succeeded(&self, retried: Option<Taken>) {
        let give_back = retried.map_or(1, |Taken(cost)| cost);
        let mut tokens = self.tokens();
        *tokens = (*tokens + give_back).min(Self::CAPACITY);
    }

    /// The tokens left.
    pub fn available(&self) -> u32 {
        *self.tokens()
    }
}

impl Default for RetryQuota {
    fn default() -> Self {
        Self::new()
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

    #[test]
    fn the_sdk_settings_are_read_and_checked() {
        let read = |attempts: &'static str, mode: &'static str| {
            RetryPolicy::from_lookup(&move |k: &str| match k {
                "AWS_MAX_ATTEMPTS" => Some(attempts.to_owned()),
                "AWS_RETRY_MODE" => Some(mode.to_owned()),
                _ => None,
            })
        };
        assert_eq!(read("5", "standard").unwrap().max_attempts, 5);
        assert_eq!(read("1", "Legacy").unwrap().max_attempts, 1);
        assert_eq!(read("0", "standard").unwrap_err().variable, "AWS_MAX_ATTEMPTS");
        assert_eq!(read("three", "standard").unwrap_err().variable, "AWS_MAX_ATTEMPTS");
        assert_eq!(read("3", "adaptive").unwrap_err().variable, "AWS_RETRY_MODE");
        assert_eq!(read("3", "bogus").unwrap_err().variable, "AWS_RETRY_MODE");
        assert_eq!(RetryPolicy::from_lookup(&|_: &str| None).unwrap().max_attempts, 3);
    }

    #[test]
    fn the_quota_runs_dry_in_an_outage_and_refills_on_success() {
        let quota = RetryQuota::new();
        // An outage: every call fails and wants a retry.
        let mut retries = 0;
        while quota.take(false).is_some() {
            retries += 1;
        }
        assert_eq!(retries, RetryQuota::CAPACITY / RetryQuota::RETRY_COST);
        assert_eq!(quota.take(true), None);
        // Recovery: successes at the first attempt refill it, one token each.
        for _ in 0..RetryQuota::RETRY_COST {
            quota.succeeded(None);
        }
        let taken = quota.take(false).expect("five successes pay for one retry");
        quota.succeeded(Some(taken));
        assert_eq!(quota.available(), RetryQuota::RETRY_COST);
        for _ in 0..1000 {
            quota.succeeded(None);
        }
        assert_eq!(quota.available(), RetryQuota::CAPACITY);
    }
}
