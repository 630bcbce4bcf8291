//! Times each call, logs it at DEBUG, and adds it to the invocation's tally:
//! the EMF line's `AwsCalls` and `AwsWaitTime`, and the time the guest's CPU
//! budget does not count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracing::{Level, event};

use super::{Answer, Aws, AwsCall, AwsError, CallContext};

/// One invocation's AWS calls: how many, and how long they were waited on.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: AtomicU32,
    waited_us: AtomicU64,
}

impl CallStats {
    /// Calls made so far.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Time spent waiting on them so far.
    pub fn waited(&self) -> Duration {
        Duration::from_micros(self.waited_us.load(Ordering::Relaxed))
    }

    fn add(&self, elapsed: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.waited_us.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }
}

/// The metering layer.
pub struct Metered {
    inner: Arc<dyn Aws>,
}

impl Metered {
    /// Meters every call to `inner`.
    pub fn new(inner: Arc<dyn Aws>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Aws for Metered {
    async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<Answer, AwsError> {
        let op = call.op();
        let started = Instant::now();
        let result = self.inner.call(cx, call).await;
        let elapsed = started.elapsed();
        cx.stats.add(elapsed);
        let outcome = result.as_ref().map_or_else(AwsError::kind, |_| "ok");
        event!(Level::DEBUG, op, outcome, elapsed_us = elapsed.as_micros() as u64, "import call");
        result
    }
}
