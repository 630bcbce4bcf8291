//! Deleting the stack's IoT policy once the drain has detached it from
//! everything, so that CloudFormation finds it gone.
//!
//! CloudFormation's own delete of an `AWS::IoT::Policy` deletes the other
//! versions and then calls `DeletePolicy` once; IoT refuses that with
//! `DeleteConflictException` for up to five minutes after a detach. Here the
//! same steps are tried again, with pauses, while the invocation has time.
//! A policy already gone is success: CloudFormation's handler answers
//! `NotFound` for it, which CloudFormation takes as deleted.

use std::time::{Duration, Instant};

use tracing::{Level, event};

use crate::aws::{Aws, AwsCall, AwsError, CallContext};

/// The first pause after a refusal; each next one doubles, up to [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_secs(2);
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// How the deletion went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted now, after `tries` tries, with `versions` other versions first.
    Now {
        /// The tries it took; more than one when IoT refused at first.
        tries: u32,
        /// The non-default versions deleted before it.
        versions: usize,
    },
    /// It did not exist when the deletion began.
    AlreadyGone,
}

/// Why the policy is still there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotDeleted {
    /// IoT still refused with `DeleteConflictException` when the time ran out.
    #[error("IoT still refused to delete it after {tries} tries over {seconds} s ({last})")]
    StillRefused {
        /// The tries made.
        tries: u32,
        /// The seconds from the first to the last.
        seconds: u64,
        /// IoT's last answer.
        last: String,
    },
    /// Any other failure, which waiting does not mend.
    #[error("deleting it failed ({}: {})", .0.kind(), .0.message())]
    Failed(AwsError),
}

/// Whether IoT refused because the policy is still attached, has other
/// versions, or was detached too recently: the one refusal worth waiting on.
pub fn is_delete_conflict(error: &AwsError) -> bool {
    matches!(error, AwsError::InvalidRequest(m) if m.starts_with("DeleteConflictException"))
}

/// Deletes `policy`'s other versions, then `policy`, trying again after a
/// `DeleteConflictException` until no pause fits before `until`, the first
/// after `pause` ([`FIRST_PAUSE`]). Each call ends by `calls_end`.
pub async fn delete_policy(
    aws: &dyn Aws,
    policy: &str,
    mut pause: Duration,
    until: Instant,
    calls_end: Instant,
) -> Result<Deleted, NotDeleted> {
    let cx = CallContext::until(calls_end);
    let started = Instant::now();
    for tries in 1u32.. {
        match try_once(aws, &cx, policy).await {
            Ok(versions) => return Ok(Deleted::Now { tries, versions }),
            // Gone at the first look; or, on a later try, deleted by the try
            // before, whose answer was lost.
            Err(AwsError::NotFound(_)) if tries == 1 => return Ok(Deleted::AlreadyGone),
            Err(AwsError::NotFound(_)) => return Ok(Deleted::Now { tries, versions: 0 }),
            Err(e) if is_delete_conflict(&e) => {
                if Instant::now() + pause >= until {
                    let seconds = started.elapsed().as_secs();
                    return Err(NotDeleted::StillRefused { tries, seconds, last: e.message().to_owned() });
                }
                event!(Level::INFO, policy, tries, wait_s = pause.as_secs(), "IoT refused to delete the policy yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Err(e) => return Err(NotDeleted::Failed(e)),
        }
    }
    unreachable!("the tries are counted without end")
}

/// One try: the versions listed, each but the default deleted, then the
/// policy. A version already gone is no failure.
async fn try_once(aws: &dyn Aws, cx: &CallContext, policy: &str) -> Result<usize, AwsError> {
    let versions = aws.list_policy_versions(cx, policy).await?;
    let mut deleted = 0;
    for version in versions.into_iter().filter(|v| !v.default) {
        let call = AwsCall::DeletePolicyVersion { policy_name: policy.into(), version_id: version.id };
        match aws.done(cx, call).await {
            Ok(()) => deleted += 1,
            Err(AwsError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    aws.done(cx, AwsCall::DeletePolicy { policy_name: policy.into() }).await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::aws::{Answer, PolicyVersion};

    /// An IoT with versions 1 (default) and 3 that refuses `DeletePolicy`
    /// `refusals` times, then deletes; every call is kept.
    struct Slow {
        refusals: Mutex<u32>,
        calls: Mutex<Vec<String>>,
        gone: Mutex<bool>,
    }

    #[async_trait]
    impl Aws for Slow {
        async fn call(&self, _: &CallContext, call: AwsCall) -> Result<Answer, AwsError> {
            self.calls.lock().unwrap().push(format!("{} {}", call.op(), call.args().join(" ")));
            if *self.gone.lock().unwrap() {
                return Err(AwsError::NotFound("ResourceNotFoundException".into()));
            }
            match call {
                AwsCall::ListPolicyVersions { .. } => Ok(Answer::Versions(vec![
                    PolicyVersion { id: "1".into(), default: true },
                    PolicyVersion { id: "3".into(), default: false },
                ])),
                AwsCall::DeletePolicy { .. } => {
                    let mut refusals = self.refusals.lock().unwrap();
                    if *refusals > 0 {
                        *refusals -= 1;
                        return Err(AwsError::InvalidRequest("DeleteConflictException: detached too recently".into()));
                    }
                    *self.gone.lock().unwrap() = true;
                    Ok(Answer::Done)
                }
                _ => Ok(Answer::Done),
            }
        }
    }

    fn slow(refusals: u32) -> Slow {
        Slow { refusals: Mutex::new(refusals), calls: Mutex::default(), gone: Mutex::default() }
    }

    const PAUSE: Duration = Duration::from_millis(10);

    #[tokio::test]
    async fn other_versions_go_first_and_a_conflict_is_waited_out() {
        let iot = slow(2);
        let far = Instant::now() + Duration::from_secs(600);
        let deleted = delete_policy(&iot, "p", PAUSE, far, far).await;
        assert_eq!(deleted, Ok(Deleted::Now { tries: 3, versions: 1 }));
        let calls = iot.calls.lock().unwrap().clone();
        assert_eq!(&calls[..3], ["list-policy-versions p", "delete-policy-version p 3", "delete-policy p"]);
        assert_eq!(calls.len(), 9, "{calls:?}");
    }

    #[tokio::test]
    async fn a_policy_that_is_never_let_go_ends_with_the_tries_and_the_last_answer() {
        let iot = slow(u32::MAX);
        let until = Instant::now() + Duration::from_millis(500);
        let Err(NotDeleted::StillRefused { tries, last, .. }) = delete_policy(&iot, "p", PAUSE, until, until).await
        else {
            panic!("deleted a policy IoT refused")
        };
        // Pauses of 10, 20, 40, 80 and 160 ms fit in 500 ms; a sixth of 320 does not.
        assert_eq!(tries, 6);
        assert!(last.starts_with("DeleteConflictException"), "{last}");
        assert!(Instant::now() < until);
    }

    #[tokio::test]
    async fn a_policy_already_gone_is_no_failure_and_other_errors_are_not_waited_on() {
        let iot = slow(0);
        *iot.gone.lock().unwrap() = true;
        let far = Instant::now() + Duration::from_secs(600);
        assert_eq!(delete_policy(&iot, "p", PAUSE, far, far).await, Ok(Deleted::AlreadyGone));

        struct Denied;
        #[async_trait]
        impl Aws for Denied {
            async fn call(&self, _: &CallContext, _: AwsCall) -> Result<Answer, AwsError> {
                Err(AwsError::AccessDenied("AccessDeniedException: no iot:ListPolicyVersions".into()))
            }
        }
        let started = Instant::now();
        let result = delete_policy(&Denied, "p", Duration::from_secs(60), far, far).await;
        assert!(matches!(result, Err(NotDeleted::Failed(AwsError::AccessDenied(_)))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(60), "not waited on");
    }
}
