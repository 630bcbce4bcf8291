//! What one invocation of the guest may use, each bound overridable from the
//! environment.

use std::time::Duration;

use crate::config::{ConfigError, Lookup};

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

/// The linear memory the built-in guest needs, at most, for an event of
/// `event_bytes`: the event copied in; serde_json's unescaping of its largest
/// string (a scratch buffer that grows by doubling, then the string), which
/// with the parsed fields stays under three times the event; and 2 MiB for the
/// guest's stack, data and allocator. `tests/all/component.rs` measures the peak
/// on the worst events of each shape against this bound.
pub fn memory_needed(event_bytes: usize) -> usize {
    event_bytes.saturating_mul(4).saturating_add(2 << 20)
}

impl Limits {
    /// The defaults, each overridable: `GUEST_MEMORY_LIMIT_MB`, `GUEST_CPU_MS`, `MAX_EVENT_BYTES`.
    pub fn from_lookup(var: &impl Lookup) -> Result<Self, ConfigError> {
        if var.get("GUEST_FUEL")?.is_some() {
            // Silently ignoring it would drop a limit the user thinks is set.
            return Err(ConfigError { variable: "GUEST_FUEL", problem: "is no longer read; use GUEST_CPU_MS".into() });
        }
        let mut limits = Self::default();
        let number = |variable: &'static str| -> Result<Option<u64>, ConfigError> {
            var.get(variable)?
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
        // An event the host admits must never run the guest out of memory:
        // that would be a 500 where a 4xx or a 2xx is due.
        let needed = memory_needed(limits.max_event_bytes);
        if limits.memory_bytes < needed {
            let variable =
                if var.get("GUEST_MEMORY_LIMIT_MB")?.is_some() { "GUEST_MEMORY_LIMIT_MB" } else { "MAX_EVENT_BYTES" };
            let problem = format!(
                "the guest needs {} MB of memory for events of up to {} bytes; raise GUEST_MEMORY_LIMIT_MB or lower MAX_EVENT_BYTES",
                needed.div_ceil(1 << 20),
                limits.max_event_bytes
            );
            return Err(ConfigError { variable, problem });
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_can_be_overridden_and_are_checked() {
        let limits = Limits::from_lookup(&|k: &str| (k == "GUEST_MEMORY_LIMIT_MB").then(|| "64".into())).unwrap();
        assert_eq!(limits.memory_bytes, 64 << 20);
        assert_eq!(limits.cpu_time, Limits::default().cpu_time);
        let err = Limits::from_lookup(&|k: &str| (k == "GUEST_CPU_MS").then(|| "lots".into())).unwrap_err();
        assert_eq!(err.variable, "GUEST_CPU_MS");
        let err = Limits::from_lookup(&|k: &str| (k == "GUEST_FUEL").then(|| "1000".into())).unwrap_err();
        assert!(err.to_string().contains("GUEST_CPU_MS"), "{err}");
    }

    #[test]
    fn the_guest_memory_must_cover_the_largest_event_admitted() {
        assert!(Limits::default().memory_bytes >= memory_needed(Limits::default().max_event_bytes));
        // GUEST_MEMORY_LIMIT_MB=1 was accepted, and every event over about
        // 0.5 MB then trapped (500) instead of getting its answer.
        let err = Limits::from_lookup(&|k: &str| (k == "GUEST_MEMORY_LIMIT_MB").then(|| "1".into())).unwrap_err();
        assert_eq!(err.variable, "GUEST_MEMORY_LIMIT_MB");
        assert!(err.problem.contains("26 MB"), "{err}");
        let err = Limits::from_lookup(&|k: &str| (k == "MAX_EVENT_BYTES").then(|| (64 << 20).to_string())).unwrap_err();
        assert_eq!(err.variable, "MAX_EVENT_BYTES");
        let small = |k: &str| match k {
            "GUEST_MEMORY_LIMIT_MB" => Some("4".into()),
            "MAX_EVENT_BYTES" => Some("262144".into()),
            _ => None,
        };
        assert!(Limits::from_lookup(&small).is_ok());
    }
}
