//! Detaching one IoT policy from every target it has: `detach-all`, and the
//! stack's custom resource before CloudFormation deletes the policy.
//!
//! The targets are listed first (every page), then detached at a steady rate
//! with several calls in flight, so the rate holds whatever AWS's latency. A
//! throttled detach waits and goes again; a target that was already detached
//! counts as done. Running it again resumes: the listing shows only what is
//! still attached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{Level, event};

use crate::aws::{Aws, AwsCall, AwsError, CallContext};

/// AWS IoT's default quota for `DetachPolicy`, in requests a second.
pub const DEFAULT_RATE: f64 = 15.0;
/// The most detaches in flight at once.
const IN_FLIGHT: usize = 32;
/// How long one AWS call (with its own retries) may take.
const CALL_BUDGET: Duration = Duration::from_secs(30);
/// How often a target that stays throttled is tried again before it is
/// reported as not detached.
const THROTTLED_TRIES: u32 = 5;
/// The wait before trying a throttled target again.
const THROTTLED_PAUSE: Duration = Duration::from_secs(1);

/// A rate of detaches a second, as `--rate` and `DETACH_RATE` take it: more
/// than 0 and at most 1000.
pub fn parse_rate(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate <= 1000.0 => Ok(rate),
        _ => Err("must be a number of detaches a second, more than 0 and at most 1000".into()),
    }
}

/// How the drain went, as `detach-all` prints it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The policy drained.
    pub policy: String,
    /// Targets the listing found.
    pub targets: usize,
    /// Detached now.
    pub detached: usize,
    /// Already detached when their turn came (AWS answered not-found).
    pub already_detached: usize,
    /// Targets still attached: not reached before the deadline or an
    /// interruption, or refused.
    pub remaining: usize,
    /// Each refused target with why (at most [`MAX_REPORTED_FAILURES`]).
    pub failures: Vec<Failure>,
    /// Why the drain stopped early, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// How long the whole drain took, listing included.
    pub seconds: f64,
    /// Detaches a second, over the detach phase.
    pub rate: f64,
}

impl Summary {
    /// Every target is detached.
    pub fn complete(&self) -> bool {
        self.remaining == 0 && self.stopped.is_none()
    }
}

/// The most failures a summary lists; the count is in `remaining`.
pub const MAX_REPORTED_FAILURES: usize = 20;

/// A target left attached, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// The target: a Cognito identity ID, a certificate or thing group ARN.
    pub target: String,
    /// The WIT error case and its message.
    pub error: String,
}

/// What the drain may use.
pub struct Limits {
    /// Detaches a second.
    pub rate: f64,
    /// Nothing is started after this.
    pub deadline: Instant,
    /// No call runs past this; a detach it cuts short leaves its target
    /// counted as remaining. `None`: a call that started is let finish.
    pub calls_end: Option<Instant>,
    /// Stops the drain when it resolves (Ctrl-C); in-flight calls finish.
    pub interrupted: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Lists every target of `policy` and detaches each. `progress` hears the
/// count done and the total after each detach. An error from the listing
/// (the policy is missing, access is denied) is returned as it is.
pub async fn drain(
    aws: Arc<dyn Aws>,
    policy: &str,
    limits: Limits,
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary, AwsError> {
    let started = Instant::now();
    let targets = list_all(aws.as_ref(), policy, limits.deadline, limits.interrupted.as_ref()).await?;
    let total = targets.len();
    event!(Level::INFO, policy, targets = total, "listed the policy's targets");
    let mut summary = Summary { policy: policy.to_owned(), targets: total, ..Summary::default() };
    progress(0, total);

    let detaching = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / limits.rate.max(0.001));
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = JoinSet::new();
    let mut next_start = Instant::now();
    let mut started_count = 0;
    let mut interrupted = limits.interrupted.clone();
    let finish = |summary: &mut Summary, (target, result): (String, Result<bool, AwsError>)| match result {
        Ok(true) => summary.detached += 1,
        Ok(false) => summary.already_detached += 1,
        Err(e) => {
            summary.remaining += 1;
            if summary.failures.len() < MAX_REPORTED_FAILURES {
                summary.failures.push(Failure { target, error: format!("{}: {}", e.kind(), e.message()) });
            }
        }
    };
    for target in targets {
        // Paced by start time: the rate holds while calls overlap. However
        // low the rate, the wait ends at the deadline or an interrupt.
        pause_until(next_start.min(limits.deadline), &mut interrupted).await;
        if interrupted.as_ref().is_some_and(|i| *i.borrow()) {
            summary.stopped = Some("interrupted".into());
            break;
        }
        if Instant::now() >= limits.deadline {
            summary.stopped = Some("the time ran out".into());
            break;
        }
        let now = Instant::now();
        next_start = next_start.max(now.checked_sub(interval).unwrap_or(now)) + interval;
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let aws = aws.clone();
        let (policy, deadline, calls_end) = (policy.to_owned(), limits.deadline, limits.calls_end);
        tasks.spawn(async move {
            let result = detach_one(aws.as_ref(), &policy, &target, deadline, calls_end).await;
            drop(slot);
            (target, result)
        });
        started_count += 1;
        while let Some(done) = tasks.try_join_next() {
            finish(&mut summary, done.expect("a detach task panicked"));
            progress(summary.detached + summary.already_detached, total);
        }
    }
    while let Some(done) = tasks.join_next().await {
        finish(&mut summary, done.expect("a detach task panicked"));
        progress(summary.detached + summary.already_detached, total);
    }
    summary.remaining += total - started_count;
    summary.seconds = started.elapsed().as_secs_f64();
    let detach_seconds = detaching.elapsed().as_secs_f64();
    let done = summary.detached + summary.already_detached;
    summary.rate = if detach_seconds > 0.0 { done as f64 / detach_seconds } else { 0.0 };
    Ok(summary)
}

/// Waits until `at`, or until `interrupted` says stop, whichever is first.
async fn pause_until(at: Instant, interrupted: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    let pause = tokio::time::sleep_until(at.into());
    match interrupted {
        Some(stop) => {
            tokio::select! {
                () = pause => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        }
        None => pause.await,
    }
}

/// Every target, page by page. It stops at a marker it has seen before (a
/// cycle, A → B → A, would never end), and between pages when `interrupted`
/// says stop: the drain then stops too, with what was listed.
pub async fn list_all(
    aws: &dyn Aws,
    policy: &str,
    deadline: Instant,
    interrupted: Option<&tokio::sync::watch::Receiver<bool>>,
) -> Result<Vec<String>, AwsError> {
    let mut targets = Vec::new();
    let mut marker: Option<String> = None;
    // One marker a page of 250: small beside the targets themselves.
    let mut seen = std::collections::HashSet::<String>::new();
    loop {
        let cx = CallContext::until(deadline.min(Instant::now() + CALL_BUDGET));
        let page = aws.list_targets_for_policy(&cx, policy, marker.as_deref()).await?;
        targets.extend(page.targets);
        if interrupted.is_some_and(|i| *i.borrow()) {
            return Ok(targets);
        }
        match page.next_marker {
            Some(next) if seen.insert(next.clone()) => marker = Some(next),
            Some(_) => {
                event!(Level::WARN, policy, "the listing gave a marker it gave before; it stops there");
                return Ok(targets);
            }
            None => return Ok(targets),
        }
    }
}

/// `Ok(true)`: detached now; `Ok(false)`: it was not attached.
async fn detach_one(
    aws: &dyn Aws,
    policy: &str,
    target: &str,
    deadline: Instant,
    calls_end: Option<Instant>,
) -> Result<bool, AwsError> {
    let mut tries = 0;
    loop {
        // Unless `calls_end` says otherwise, a call may run past the drain's
        // deadline: one that started is let finish.
        let budget = Instant::now() + CALL_BUDGET;
        let cx = CallContext::until(calls_end.map_or(budget, |end| end.min(budget)));
        let call = AwsCall::DetachPolicy { policy_name: policy.to_owned(), target: target.to_owned() };
        match aws.done(&cx, call).await {
            Ok(()) => return Ok(true),
            Err(AwsError::NotFound(_)) => return Ok(false),
            Err(AwsError::Throttled(_))
                if tries + 1 < THROTTLED_TRIES && Instant::now() + THROTTLED_PAUSE * (tries + 1) < deadline =>
            {
                tries += 1;
                tokio::time::sleep(THROTTLED_PAUSE * tries).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A progress bar for a terminal: `[#####.....] 512/1000`.
pub fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width).checked_div(total).unwrap_or(width).min(width);
    format!("[{}{}] {done}/{total}", "#".repeat(filled), ".".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::simulated::{AccountState, SimulatedAccount};

    fn account(targets: usize, other: usize) -> Arc<SimulatedAccount> {
        let mut state = AccountState { policies: vec!["drain-me".into(), "keep-me".into()], ..Default::default() };
        state.attachments.insert("drain-me".into(), (0..targets).map(|i| format!("target-{i:04}")).collect());
        state.attachments.insert("keep-me".into(), (0..other).map(|i| format!("target-{i:04}")).collect());
        Arc::new(SimulatedAccount::new(state))
    }

    fn limits(rate: f64) -> Limits {
        Limits { rate, deadline: Instant::now() + Duration::from_secs(60), calls_end: None, interrupted: None }
    }

    #[tokio::test]
    async fn every_page_is_drained_and_other_policies_are_untouched() {
        let aws = account(600, 300);
        let summary = drain(aws.clone(), "drain-me", limits(100_000.0), |_, _| {}).await.unwrap();
        assert_eq!((summary.targets, summary.detached, summary.remaining), (600, 600, 0), "{summary:?}");
        assert!(summary.complete());
        let state = aws.snapshot();
        assert!(!state.attachments.contains_key("drain-me"));
        assert_eq!(state.attachments["keep-me"].len(), 300);
    }

    #[tokio::test]
    async fn a_deadline_stops_it_and_says_how_many_remain() {
        let aws = account(50, 0);
        let summary =
            drain(aws, "drain-me", Limits { deadline: Instant::now(), ..limits(10.0) }, |_, _| {}).await.unwrap();
        assert_eq!(summary.remaining, 50);
        assert!(!summary.complete());
        assert_eq!(summary.stopped.as_deref(), Some("the time ran out"));
    }

    #[tokio::test]
    async fn a_missing_policy_is_an_error_from_the_listing() {
        let e = drain(account(0, 0), "no-such", limits(10.0), |_, _| {}).await.unwrap_err();
        assert!(matches!(e, AwsError::NotFound(_)), "{e:?}");
    }

    /// An IoT whose `DetachPolicy` never answers: each call lasts until its
    /// deadline, as the real client cuts it, and says how late that was.
    struct HangingDetach {
        latest_deadline: std::sync::Mutex<Option<Instant>>,
    }

    #[async_trait::async_trait]
    impl Aws for HangingDetach {
        async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<crate::aws::Answer, AwsError> {
            match call {
                AwsCall::ListTargetsForPolicy { .. } => Ok(crate::aws::Answer::Targets(crate::aws::TargetsPage {
                    targets: vec!["a".into(), "b".into()],
                    next_marker: None,
                })),
                AwsCall::DetachPolicy { .. } => {
                    {
                        let mut latest = self.latest_deadline.lock().unwrap();
                        *latest = Some(latest.map_or(cx.deadline, |l| l.max(cx.deadline)));
                    }
                    tokio::time::sleep_until(cx.deadline.into()).await;
                    Err(AwsError::Unavailable("the deadline passed".into()))
                }
                other => unreachable!("the drain does not call {}", other.op()),
            }
        }
    }

    #[tokio::test]
    async fn no_call_outlives_calls_end_and_what_it_cut_is_remaining() {
        let aws = Arc::new(HangingDetach { latest_deadline: Default::default() });
        let end = Instant::now() + Duration::from_millis(300);
        let limits = Limits { deadline: end, calls_end: Some(end), ..limits(1000.0) };
        let summary = drain(aws.clone(), "p", limits, |_, _| {}).await.unwrap();
        // Without calls_end each call would have had CALL_BUDGET (30 s).
        assert!(aws.latest_deadline.lock().unwrap().unwrap() <= end);
        assert_eq!((summary.targets, summary.remaining, summary.detached), (2, 2, 0), "{summary:?}");
        assert!(!summary.complete());
        assert_eq!(summary.failures[0].error, "unavailable: the deadline passed");
    }

    /// At 0.01 a second the pause before the second detach is 100 s; it used
    /// to run on past the deadline (and the answer to CloudFormation) and
    /// past Ctrl-C.
    #[tokio::test]
    async fn the_pause_between_detaches_ends_at_the_deadline_or_an_interrupt() {
        let soon = Instant::now() + Duration::from_millis(300);
        let until_soon = Limits { deadline: soon, ..limits(0.01) };
        let drained =
            tokio::time::timeout(Duration::from_secs(5), drain(account(3, 0), "drain-me", until_soon, |_, _| {}));
        let summary = drained.await.expect("it stops at the deadline").unwrap();
        assert_eq!((summary.detached, summary.remaining), (1, 2), "{summary:?}");
        assert_eq!(summary.stopped.as_deref(), Some("the time ran out"));

        let (stop, interrupted) = tokio::sync::watch::channel(false);
        let until_stopped = Limits { interrupted: Some(interrupted), ..limits(0.01) };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = stop.send(true);
        });
        let drained =
            tokio::time::timeout(Duration::from_secs(5), drain(account(3, 0), "drain-me", until_stopped, |_, _| {}));
        let summary = drained.await.expect("it stops when interrupted").unwrap();
        assert_eq!((summary.detached, summary.remaining), (1, 2), "{summary:?}");
        assert_eq!(summary.stopped.as_deref(), Some("interrupted"));
    }

    /// An IoT whose markers go round: A, B, then A again.
    struct CyclingListing;

    #[async_trait::async_trait]
    impl Aws for CyclingListing {
        async fn call(&self, _: &CallContext, call: AwsCall) -> Result<crate::aws::Answer, AwsError> {
            // A real call yields; so the test's timeout can fire if the listing never ends.
            tokio::task::yield_now().await;
            let AwsCall::ListTargetsForPolicy { marker, .. } = call else { unreachable!("only the listing") };
            let (target, next) = match marker.as_deref() {
                None => ("a", "A"),
                Some("A") => ("b", "B"),
                _ => ("c", "A"),
            };
            let page = crate::aws::TargetsPage { targets: vec![target.into()], next_marker: Some(next.into()) };
            Ok(crate::aws::Answer::Targets(page))
        }
    }

    #[tokio::test]
    async fn a_listing_whose_markers_go_round_ends() {
        let far = Instant::now() + Duration::from_secs(60);
        let listed = tokio::time::timeout(Duration::from_secs(5), list_all(&CyclingListing, "p", far, None));
        assert_eq!(listed.await.expect("the listing ends").unwrap(), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn an_interrupt_stops_the_listing_between_pages() {
        let (_stop, interrupted) = tokio::sync::watch::channel(true);
        let far = Instant::now() + Duration::from_secs(60);
        let listed = list_all(&CyclingListing, "p", far, Some(&interrupted)).await.unwrap();
        assert_eq!(listed, ["a"], "one page, then it stops");
    }

    #[test]
    fn the_bar_fills() {
        assert_eq!(bar(5, 10, 10), "[#####.....] 5/10");
        assert_eq!(bar(0, 0, 4), "[####] 0/0");
    }
}
