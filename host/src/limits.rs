//! What one invocation of the guest may use, each bound overridable from the
//! environment.

use std::time::Duration;

use crate::config::ConfigError;

/// Bounds on one invocation of the guest.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most linear memory the guest may hold.
    pub memory_bytes: usize,
    /// The guest's own compute time per invocation; time it spends waiting on
    /// AWS does not count.
    pub cpu_time: Duration,
    /// Events larger than this are refused before the guest sees them.
    pub max_event_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Lambda's synchronous payload limit is 6 MB; the guest parses in place,
        // so it needs little more memory than the event itself.
        Self { memory_bytes: 32 << 20, cpu_time: Duration::from_secs(1), max_event_bytes: 6 << 20 }
    }
}

impl Limits {
    /// The defaults, each overridable: `GUEST_MEMORY_LIMIT_MB`, `GUEST_CPU_MS`, `MAX_EVENT_BYTES`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if var("GUEST_FUEL").is_some() {
            // Silently ignoring it would drop a limit the user thinks is set.
            return Err(ConfigError { variable: "GUEST_FUEL", problem: "is no longer read; use GUEST_CPU_MS".into() });
        }
        let mut limits = Self::default();
        let number = |variable: &'static str| -> Result<Option<u64>, ConfigError> {
            var(variable)
                .map(|v| v.trim().parse::<u64>().ok().filter(|n| *n > 0))
                .map(|n| n.ok_or(ConfigError { variable, problem: "must be a positive whole number".into() }))
                .transpose()
        };
        if let Some(mb) = number("GUEST_MEMORY_LIMIT_MB")? {
            limits.memory_bytes = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        }
        if let Some(ms) = number("GUEST_CPU_MS")? {
            limits.cpu_time = Duration::from_millis(ms);
        }
        if let Some(bytes) = number("MAX_EVENT_BYTES")? {
            limits.max_event_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        }
        Ok(limits)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_can_be_overridden_and_are_checked() {
        let limits = Limits::from_lookup(|k| (k == "GUEST_MEMORY_LIMIT_MB").then(|| "2".into())).unwrap();
        assert_eq!(limits.memory_bytes, 2 << 20);
        assert_eq!(limits.cpu_time, Limits::default().cpu_time);
        let err = Limits::from_lookup(|k| (k == "GUEST_CPU_MS").then(|| "lots".into())).unwrap_err();
        assert_eq!(err.variable, "GUEST_CPU_MS");
        let err = Limits::from_lookup(|k| (k == "GUEST_FUEL").then(|| "1000".into())).unwrap_err();
        assert!(err.to_string().contains("GUEST_CPU_MS"), "{err}");
    }
}
