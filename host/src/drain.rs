//! Detaching one IoT policy from every target it has: `detach-all`, and the
//! stack's custom resource before CloudFormation deletes the policy.
//!
//! The targets stream: each page of the listing is detached as it comes, at a
//! steady rate with several calls in flight, while the next page is fetched.
//! Memory holds a few pages, whatever the count. A listing read while its
//! targets are being detached may skip some (AWS's markers are opaque), so a
//! pass that detached anything is followed by another, until one detaches
//! nothing. A throttled detach waits and goes again; a target that was
//! already detached counts as done. Running it again resumes: the listing
//! shows only what is still attached.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{Instrument as _, Level, event};

use crate::aws::{Aws, AwsCall, AwsError, CallContext};

/// AWS IoT's default quota for `DetachPolicy`, in requests a second.
pub const DEFAULT_RATE: f64 = 15.0;
/// The highest rate `--rate` and `DETACH_RATE` take. AWS raises the quota on
/// request; this only catches a slip of the keyboard.
pub const MAX_RATE: f64 = 10_000.0;
/// The most detaches in flight at once.
const IN_FLIGHT: usize = 32;
/// How long one AWS call (with its own retries) may take.
const CALL_BUDGET: Duration = Duration::from_secs(30);
/// How often a target that stays throttled is tried again before it is
/// reported as not detached.
const THROTTLED_TRIES: u32 = 5;
/// The wait before trying a throttled target again.
const THROTTLED_PAUSE: Duration = Duration::from_secs(1);
/// Pages fetched ahead of the detaches.
const PAGES_AHEAD: usize = 1;
/// Targets remembered to skip one listed again on a nearby page: four of
/// AWS's pages of 250. A repeat further apart is detached again, and AWS
/// answers that it is not attached.
const RECENT_TARGETS: usize = 1000;

/// A rate of detaches a second, as `--rate` and `DETACH_RATE` take it: more
/// than 0 and at most [`MAX_RATE`].
pub fn parse_rate(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate <= MAX_RATE => Ok(rate),
        _ => Err(format!("must be a number of detaches a second, more than 0 and at most {MAX_RATE}")),
    }
}

/// How the drain went, as `detach-all` prints it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The policy drained.
    pub policy: String,
    /// The targets it dealt with: `detached + alreadyDetached + remaining`.
    pub targets: usize,
    /// Detached now.
    pub detached: usize,
    /// Already detached when their turn came (AWS answered not-found).
    pub already_detached: usize,
    /// Targets listed and still attached: refused, or not reached before the
    /// deadline or an interruption. When `stopped`, targets not yet listed
    /// are not counted.
    pub remaining: usize,
    /// Each refused target with why (at most [`MAX_REPORTED_FAILURES`]).
    pub failures: Vec<Failure>,
    /// Why the drain stopped early, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The last listing reached its last page: no target went uncounted.
    pub listed_all: bool,
    /// How long the whole drain took.
    pub seconds: f64,
    /// Detaches a second, from the first page to the last detach.
    pub rate: f64,
    /// What the drain does not touch, said in every summary.
    pub attributes: AttributesUntouched,
}

/// The users' attributes: a drain leaves them as they are, so one may still
/// claim a policy that is no longer attached. Serialized as the sentence
/// that says so, and how an app recovers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AttributesUntouched;

/// The sentence [`AttributesUntouched`] serializes as.
const ATTRIBUTES_UNTOUCHED: &str = "left as they are: a user's attribute may still say the policy is attached. \
An app recovers when AWS IoT refuses its connection: it calls ensureIotPolicy({ force: true }) once, then connects again";

impl Serialize for AttributesUntouched {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(ATTRIBUTES_UNTOUCHED)
    }
}

impl Summary {
    /// Every target is detached.
    pub fn complete(&self) -> bool {
        self.remaining == 0 && self.stopped.is_none()
    }
}

/// What an incomplete drain left, in a sentence: how many targets, and why.
pub fn still_attached(summary: &Summary) -> String {
    let policy = &summary.policy;
    match (&summary.stopped, summary.failures.first()) {
        (Some(why), _) if !summary.listed_all => format!(
            "{} listed targets are still attached to {policy}, and more may be: the listing did not end ({why})",
            summary.remaining
        ),
        (Some(why), _) => {
            format!("{} of {} targets are still attached to {policy} ({why})", summary.remaining, summary.targets)
        }
        (None, Some(f)) => format!(
            "{} of {} targets are still attached to {policy} (a detach failed: {})",
            summary.remaining, summary.targets, f.error
        ),
        (None, None) => {
            format!("{} of {} targets are still attached to {policy}", summary.remaining, summary.targets)
        }
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
    /// Stops the drain when it turns true (Ctrl-C): a page being listed is
    /// dropped, detaches in flight finish.
    pub interrupted: Option<watch::Receiver<bool>>,
}

/// Lists the targets of `policy` and detaches each, pass after pass until a
/// pass detaches nothing. `progress` hears the count done and the count
/// listed so far. An error from the first page (the policy is missing,
/// access is denied) is returned as it is; a later one stops the drain.
pub async fn drain(
    aws: Arc<dyn Aws>,
    policy: &str,
    limits: Limits,
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary, AwsError> {
    let started = Instant::now();
    let mut summary = Summary { policy: policy.to_owned(), ..Summary::default() };
    let mut pacer = Pacer::new(limits.rate);
    let mut interrupted = limits.interrupted.clone();
    let mut first_page: Option<Instant> = None;
    let mut last_done = started;
    // Kept across passes: a listing that lags behind the detaches lists the
    // last ones again, and they are not detached (and counted) twice.
    let mut recent = Recent::default();
    for pass in 1.. {
        let done_before = summary.detached + summary.already_detached;
        let detached_before = summary.detached;
        summary.failures.clear();
        summary.remaining = 0;
        summary.listed_all = false;
        let mut pages = Pages::start(aws.clone(), policy, limits.deadline);
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut tasks = JoinSet::new();
        let mut listed = 0;
        let mut finish =
            |summary: &mut Summary, recent: &mut Recent, (target, result): (String, Result<bool, AwsError>)| {
                match result {
                    Ok(true) => summary.detached += 1,
                    Ok(false) => summary.already_detached += 1,
                    Err(e) => {
                        // The next pass tries it again.
                        recent.forget(&target);
                        summary.remaining += 1;
                        if summary.failures.len() < MAX_REPORTED_FAILURES {
                            summary.failures.push(Failure { target, error: format!("{}: {}", e.kind(), e.message()) });
                        }
                    }
                }
                last_done = Instant::now();
            };
        'listing: loop {
            let page = tokio::select! {
                page = pages.next() => page,
                () = tokio::time::sleep_until(limits.deadline.into()) => {
                    summary.stopped = Some("the time ran out".into());
                    break;
                }
                () = stop(&mut interrupted) => {
                    summary.stopped = Some("interrupted".into());
                    break;
                }
            };
            let targets = match page {
                None => break,
                Some(Ok((targets, last))) => {
                    summary.listed_all = last;
                    targets
                }
                // Nothing was done: the caller tells "no such policy" from the rest.
                Some(Err(e)) if pass == 1 && listed == 0 => return Err(e),
                Some(Err(e)) => {
                    summary.stopped = Some(format!("listing the targets failed ({}: {})", e.kind(), e.message()));
                    break;
                }
            };
            first_page.get_or_insert_with(Instant::now);
            let targets: Vec<String> = targets.into_iter().filter(|t| recent.first_time(t)).collect();
            let count = targets.len();
            for (i, target) in targets.into_iter().enumerate() {
                listed += 1;
                // A start due at or after the deadline will not come: stop
                // now. Otherwise the pause ends at its time or an interrupt.
                if pacer.next < limits.deadline && pacer.next > Instant::now() {
                    pause_until(pacer.next, &mut interrupted).await;
                }
                let why = if interrupted.as_ref().is_some_and(|i| *i.borrow()) {
                    Some("interrupted")
                } else if pacer.next >= limits.deadline || Instant::now() >= limits.deadline {
                    Some("the time ran out")
                } else {
                    None
                };
                if let Some(why) = why {
                    summary.stopped = Some(why.into());
                    // This target and the rest of its page are known and still attached.
                    summary.remaining += count - i;
                    break 'listing;
                }
                pacer.started();
                let slot = slots.clone().acquire_owned().await.expect("never closed");
                let aws = aws.clone();
                let (policy, deadline, calls_end) = (policy.to_owned(), limits.deadline, limits.calls_end);
                tasks.spawn(
                    async move {
                        let result = detach_one(aws.as_ref(), &policy, &target, deadline, calls_end).await;
                        drop(slot);
                        (target, result)
                    }
                    .in_current_span(),
                );
                while let Some(done) = tasks.try_join_next() {
                    finish(&mut summary, &mut recent, done.expect("a detach task panicked"));
                    progress(summary.detached + summary.already_detached, done_before + listed);
                }
            }
        }
        // A page being fetched is dropped here; the detaches in flight finish.
        drop(pages);
        while let Some(done) = tasks.join_next().await {
            finish(&mut summary, &mut recent, done.expect("a detach task panicked"));
            progress(summary.detached + summary.already_detached, done_before + listed);
        }
        event!(
            Level::INFO,
            policy,
            pass,
            listed,
            detached = summary.detached - detached_before,
            "a pass of the drain ended"
        );
        if summary.stopped.is_some() || summary.detached == detached_before {
            break;
        }
    }
    summary.targets = summary.detached + summary.already_detached + summary.remaining;
    summary.seconds = started.elapsed().as_secs_f64();
    let done = summary.detached + summary.already_detached;
    let detach_seconds = first_page.map_or(0.0, |first| last_done.saturating_duration_since(first).as_secs_f64());
    summary.rate = if detach_seconds > 0.0 { done as f64 / detach_seconds } else { 0.0 };
    Ok(summary)
}

/// Start times at a steady rate: the rate holds while calls overlap, and a
/// late start does not bunch the next ones up.
struct Pacer {
    interval: Duration,
    next: Instant,
}

impl Pacer {
    fn new(rate: f64) -> Self {
        Self { interval: Duration::from_secs_f64(1.0 / rate.max(0.001)), next: Instant::now() }
    }

    fn started(&mut self) {
        let now = Instant::now();
        self.next = self.next.max(now.checked_sub(self.slack()).unwrap_or(now)) + self.interval;
    }

    /// How far behind the schedule may run and be caught up: one interval,
    /// or the timer's millisecond grain at high rates, or those would stall
    /// at one start a millisecond.
    fn slack(&self) -> Duration {
        self.interval.max(Duration::from_millis(5))
    }
}

/// Waits until `at`, or until `interrupted` says stop, whichever is first.
async fn pause_until(at: Instant, interrupted: &mut Option<watch::Receiver<bool>>) {
    tokio::select! {
        () = tokio::time::sleep_until(at.into()) => {}
        () = stop(interrupted) => {}
    }
}

/// Resolves when `interrupted` turns true; never, without one.
async fn stop(interrupted: &mut Option<watch::Receiver<bool>>) {
    match interrupted {
        Some(stop) => {
            if stop.wait_for(|stop| *stop).await.is_err() {
                // The sender is gone: nobody can interrupt any more.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// The listing's pages, fetched by a task of their own one page ahead of the
/// detaches. Dropping it stops the task, and a call in flight with it.
struct Pages {
    /// Each page, and whether it is the last.
    pages: mpsc::Receiver<Result<(Vec<String>, bool), AwsError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Pages {
    fn start(aws: Arc<dyn Aws>, policy: &str, deadline: Instant) -> Self {
        let (tx, pages) = mpsc::channel(PAGES_AHEAD);
        let mut listing = Listing::new(policy, deadline);
        // In the caller's span, so its log lines name the invocation.
        let task = tokio::spawn(
            async move {
                loop {
                    let page = match listing.next_page(aws.as_ref()).await {
                        Ok(Some(targets)) => Ok((targets, listing.ended)),
                        Ok(None) => return,
                        Err(e) => Err(e),
                    };
                    let stop = page.is_err() || listing.ended;
                    if tx.send(page).await.is_err() || stop {
                        return;
                    }
                }
            }
            .in_current_span(),
        );
        Self { pages, task }
    }

    async fn next(&mut self) -> Option<Result<(Vec<String>, bool), AwsError>> {
        self.pages.recv().await
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `ListTargetsForPolicy`, page by page. It ends at the last page, or at a
/// marker it has seen before: a cycle (A → B → A) would never end.
pub struct Listing {
    policy: String,
    deadline: Instant,
    marker: Option<String>,
    ended: bool,
    markers: Markers,
}

impl Listing {
    /// A listing from the first page; no call runs past `deadline`.
    pub fn new(policy: &str, deadline: Instant) -> Self {
        Self { policy: policy.to_owned(), deadline, marker: None, ended: false, markers: Markers::default() }
    }

    /// The next page's targets; `None` after the last.
    pub async fn next_page(&mut self, aws: &dyn Aws) -> Result<Option<Vec<String>>, AwsError> {
        if self.ended {
            return Ok(None);
        }
        let cx = CallContext::until(self.deadline.min(Instant::now() + CALL_BUDGET));
        let page = aws.list_targets_for_policy(&cx, &self.policy, self.marker.as_deref()).await?;
        match page.next_marker {
            Some(next) if !self.markers.seen_before(&next) => self.marker = Some(next),
            Some(_) => {
                event!(Level::WARN, policy = self.policy, "the listing gave a marker it gave before; it stops there");
                self.ended = true;
            }
            None => self.ended = true,
        }
        Ok(Some(page.targets))
    }
}

/// Brent's cycle detection over the markers, in constant memory: one marker
/// is kept, and replaced after 1, 2, 4, 8… steps. A cycle is caught within
/// `2 × (pages before it + its length) + its length` pages.
#[derive(Default)]
struct Markers {
    kept: Option<String>,
    power: usize,
    steps: usize,
}

impl Markers {
    fn seen_before(&mut self, marker: &str) -> bool {
        if self.kept.as_deref() == Some(marker) {
            return true;
        }
        self.steps += 1;
        if self.steps >= self.power.max(1) {
            self.kept = Some(marker.to_owned());
            self.power = self.power.max(1) * 2;
            self.steps = 0;
        }
        false
    }
}

/// The last [`RECENT_TARGETS`] targets, to skip one listed twice on nearby
/// pages, or listed again by a later pass while the listing lags.
#[derive(Default)]
struct Recent {
    set: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
}

impl Recent {
    fn first_time(&mut self, target: &str) -> bool {
        if self.set.contains(target) {
            return false;
        }
        if self.order.len() == RECENT_TARGETS
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        let target: Arc<str> = target.into();
        self.set.insert(target.clone());
        self.order.push_back(target);
        true
    }

    /// Lets `target` be listed again: it was not detached.
    fn forget(&mut self, target: &str) {
        if self.set.remove(target) {
            self.order.retain(|t| &**t != target);
        }
    }
}

/// Counts the targets of `policy` without detaching any (`--dry-run`).
/// Stops between pages at an interrupt, with the count so far.
pub async fn count(
    aws: &dyn Aws,
    policy: &str,
    deadline: Instant,
    mut interrupted: Option<watch::Receiver<bool>>,
) -> Result<(usize, bool), AwsError> {
    let mut listing = Listing::new(policy, deadline);
    let mut recent = Recent::default();
    let mut n = 0;
    loop {
        let page = tokio::select! {
            page = listing.next_page(aws) => page?,
            () = stop(&mut interrupted) => return Ok((n, false)),
        };
        match page {
            Some(targets) => n += targets.iter().filter(|t| recent.first_time(t)).count(),
            None => return Ok((n, true)),
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

        let (stop, interrupted) = watch::channel(false);
        // A deadline past the next start (100 s away), so that only the interrupt ends the pause.
        let far = Instant::now() + Duration::from_secs(3600);
        let until_stopped = Limits { interrupted: Some(interrupted), deadline: far, ..limits(0.01) };
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

    async fn list_all(aws: &dyn Aws) -> Vec<String> {
        let mut listing = Listing::new("p", Instant::now() + Duration::from_secs(60));
        let mut all = Vec::new();
        while let Some(page) = listing.next_page(aws).await.unwrap() {
            all.extend(page);
        }
        all
    }

    #[tokio::test]
    async fn a_listing_whose_markers_go_round_ends() {
        let listed = tokio::time::timeout(Duration::from_secs(5), list_all(&CyclingListing));
        assert_eq!(listed.await.expect("the listing ends"), ["a", "b", "c"]);
    }

    #[test]
    fn any_cycle_of_markers_is_caught_in_constant_memory() {
        for (tail, cycle) in [(0, 1), (0, 2), (3, 1), (5, 7), (100, 3), (1, 250)] {
            let mut markers = Markers::default();
            let sequence = (0..tail).map(|i| format!("t{i}")).chain((0..).map(|i| format!("c{}", i % cycle)));
            let caught = sequence.take(10_000).position(|m| markers.seen_before(&m));
            let caught = caught.unwrap_or_else(|| panic!("tail {tail}, cycle {cycle}: never caught"));
            assert!(caught <= 2 * (tail + cycle) + cycle, "tail {tail}, cycle {cycle}: caught only at {caught}");
        }
        let mut markers = Markers::default();
        assert!(!(0..100_000).any(|i| markers.seen_before(&i.to_string())), "distinct markers are never a cycle");
    }

    /// An IoT with `pages` pages of 250 targets, made as they are asked for,
    /// that detaches anything. It counts the targets it has handed out whose
    /// detach has not come yet: what the drain holds.
    struct ManyPages {
        pages: usize,
        detached: std::sync::atomic::AtomicUsize,
        listed: std::sync::atomic::AtomicUsize,
        most_held: std::sync::atomic::AtomicUsize,
        /// Pages after this one never answer.
        hang_after: Option<usize>,
    }

    impl ManyPages {
        fn new(pages: usize, hang_after: Option<usize>) -> Self {
            Self { pages, hang_after, detached: 0.into(), listed: 0.into(), most_held: 0.into() }
        }
    }

    #[async_trait::async_trait]
    impl Aws for ManyPages {
        async fn call(&self, _: &CallContext, call: AwsCall) -> Result<crate::aws::Answer, AwsError> {
            use std::sync::atomic::Ordering::SeqCst;
            tokio::task::yield_now().await;
            match call {
                AwsCall::ListTargetsForPolicy { marker, .. } => {
                    let n: usize = marker.map_or(0, |m| m.parse().unwrap());
                    if self.hang_after.is_some_and(|last| n > last) {
                        std::future::pending::<()>().await;
                    }
                    // Once detached, a target is no longer listed: the second pass finds none.
                    if self.detached.load(SeqCst) >= self.pages * 250 {
                        return Ok(crate::aws::Answer::Targets(crate::aws::TargetsPage::default()));
                    }
                    let targets = (0..250).map(|i| format!("us-east-1:{n:08}-0000-4000-8000-{i:012}")).collect();
                    let listed = self.listed.fetch_add(250, SeqCst) + 250;
                    self.most_held.fetch_max(listed - self.detached.load(SeqCst), SeqCst);
                    let next_marker = (n + 1 < self.pages).then(|| (n + 1).to_string());
                    Ok(crate::aws::Answer::Targets(crate::aws::TargetsPage { targets, next_marker }))
                }
                AwsCall::DetachPolicy { .. } => {
                    self.detached.fetch_add(1, SeqCst);
                    Ok(crate::aws::Answer::Done)
                }
                other => unreachable!("the drain does not call {}", other.op()),
            }
        }
    }

    /// The drain used to list every target before it detached any: 1.25
    /// million took 127 MB of a 128 MB function.
    #[tokio::test]
    async fn the_drain_holds_a_few_pages_whatever_the_count() {
        let aws = Arc::new(ManyPages::new(100, None));
        let summary = drain(aws.clone(), "p", limits(MAX_RATE), |_, _| {}).await.unwrap();
        assert_eq!((summary.detached, summary.remaining), (25_000, 0), "{summary:?}");
        assert!(summary.complete());
        let held = aws.most_held.load(std::sync::atomic::Ordering::SeqCst);
        // The page being detached, the page waiting, the page being fetched,
        // and the detaches on their way.
        assert!(held <= (PAGES_AHEAD + 2) * 250 + IN_FLIGHT, "{held} targets were held at once");
    }

    #[tokio::test]
    async fn an_interrupt_stops_an_endless_listing_and_a_page_that_never_comes() {
        for hang_after in [None, Some(3)] {
            let (stop, interrupted) = watch::channel(false);
            let aws = Arc::new(ManyPages::new(usize::MAX / 250, hang_after));
            let limits = Limits { interrupted: Some(interrupted), ..limits(MAX_RATE) };
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = stop.send(true);
            });
            let drained = tokio::time::timeout(Duration::from_secs(5), drain(aws, "p", limits, |_, _| {}));
            let summary = drained.await.expect("the interrupt stops it").unwrap();
            assert_eq!(summary.stopped.as_deref(), Some("interrupted"), "{summary:?}");
            assert!(!summary.complete());
        }
    }

    #[tokio::test]
    async fn an_interrupt_stops_a_dry_run_count() {
        let (stop, interrupted) = watch::channel(false);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = stop.send(true);
        });
        let far = Instant::now() + Duration::from_secs(60);
        let hanging = ManyPages::new(10, Some(3));
        let counted = count(&hanging, "p", far, Some(interrupted));
        let (n, whole) = tokio::time::timeout(Duration::from_secs(5), counted).await.expect("it stops").unwrap();
        assert_eq!((n, whole), (1000, false));
        let (n, whole) = count(&ManyPages::new(10, None), "p", far, None).await.unwrap();
        assert_eq!((n, whole), (2500, true));
    }

    /// Pages that overlap: each repeats the last 10 targets of the one
    /// before. Each listing reads what was attached when its first page was
    /// asked for, as a consistent read would.
    struct OverlappingPages {
        account: SimulatedAccount,
        listing: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Aws for OverlappingPages {
        async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<crate::aws::Answer, AwsError> {
            let AwsCall::ListTargetsForPolicy { policy_name, marker } = call else {
                return self.account.call(cx, call).await;
            };
            let mut listing = self.listing.lock().unwrap();
            if marker.is_none() {
                *listing = self
                    .account
                    .snapshot()
                    .attachments
                    .get(&policy_name)
                    .map(|t| t.iter().cloned().collect())
                    .unwrap_or_default();
            }
            let start: usize = marker.map_or(0, |m| m.parse().unwrap());
            let end = (start + 100).min(listing.len());
            let next_marker = (end < listing.len()).then(|| end.to_string());
            let targets = listing[start.saturating_sub(10)..end].to_vec();
            Ok(crate::aws::Answer::Targets(crate::aws::TargetsPage { targets, next_marker }))
        }
    }

    /// A listing that lags: the pass after the detaches lists them again.
    struct LaggingListing {
        account: SimulatedAccount,
        listings: std::sync::atomic::AtomicUsize,
        detaches: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Aws for LaggingListing {
        async fn call(&self, cx: &CallContext, call: AwsCall) -> Result<crate::aws::Answer, AwsError> {
            use std::sync::atomic::Ordering::SeqCst;
            if let AwsCall::DetachPolicy { .. } = call {
                self.detaches.fetch_add(1, SeqCst);
                return self.account.call(cx, call).await;
            }
            // The first two listings show all 100; AWS has caught up by the third.
            let targets = match self.listings.fetch_add(1, SeqCst) {
                0 | 1 => (0..100).map(|i| format!("target-{i:04}")).collect(),
                _ => Vec::new(),
            };
            Ok(crate::aws::Answer::Targets(crate::aws::TargetsPage { targets, next_marker: None }))
        }
    }

    #[tokio::test]
    async fn a_listing_that_lags_does_not_detach_or_count_a_target_again() {
        let mut state = AccountState { policies: vec!["drain-me".into()], ..Default::default() };
        state.attachments.insert("drain-me".into(), (0..100).map(|i| format!("target-{i:04}")).collect());
        let aws =
            Arc::new(LaggingListing { account: SimulatedAccount::new(state), listings: 0.into(), detaches: 0.into() });
        let summary = drain(aws.clone(), "drain-me", limits(MAX_RATE), |_, _| {}).await.unwrap();
        assert_eq!((summary.targets, summary.detached, summary.already_detached), (100, 100, 0), "{summary:?}");
        assert_eq!(aws.detaches.load(std::sync::atomic::Ordering::SeqCst), 100);
        assert!(summary.complete());
    }

    /// A target refused in one pass is tried again in the next, whatever
    /// the window of targets already seen.
    #[tokio::test]
    async fn a_target_refused_in_one_pass_is_tried_again_in_the_next() {
        let mut state = AccountState { policies: vec!["drain-me".into()], ..Default::default() };
        state.attachments.insert("drain-me".into(), ["a", "b"].map(String::from).into_iter().collect());
        state.faults = vec![crate::aws::simulated::Fault {
            op: "detach-policy".into(),
            call: std::num::NonZeroU32::new(2),
            error: AwsError::AccessDenied("AccessDeniedException: once".into()),
        }];
        let aws = Arc::new(SimulatedAccount::new(state));
        let summary = drain(aws.clone(), "drain-me", limits(MAX_RATE), |_, _| {}).await.unwrap();
        assert_eq!((summary.detached, summary.remaining), (2, 0), "{summary:?}");
        assert!(summary.complete());
        assert!(!aws.snapshot().attachments.contains_key("drain-me"));
    }

    #[tokio::test]
    async fn a_target_listed_twice_is_detached_and_counted_once() {
        let mut state = AccountState { policies: vec!["drain-me".into()], ..Default::default() };
        state.attachments.insert("drain-me".into(), (0..1000).map(|i| format!("target-{i:04}")).collect());
        let aws = Arc::new(OverlappingPages { account: SimulatedAccount::new(state), listing: Default::default() });
        let summary = drain(aws.clone(), "drain-me", limits(MAX_RATE), |_, _| {}).await.unwrap();
        assert_eq!((summary.targets, summary.detached, summary.already_detached), (1000, 1000, 0), "{summary:?}");
        assert!(summary.complete());
    }

    #[test]
    fn the_bar_fills() {
        assert_eq!(bar(5, 10, 10), "[#####.....] 5/10");
        assert_eq!(bar(0, 0, 4), "[####] 0/0");
    }
}
