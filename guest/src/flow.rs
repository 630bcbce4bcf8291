//! Step 3: call the imports. The attribute is the claim, so it moves last on
//! the way up and first on the way down: set only once every policy is
//! attached, removed before any is detached. It never names an identity that
//! lacks a policy, whichever call fails.

use crate::prelude::*;

use crate::decide::Plan;
use crate::ids::PoolUser;
use crate::types::{Attribute, AttributeValue, AwsError, Config, Host, Level};

/// The AWS step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    AttachPolicy,
    ListUsers,
    UpdateAttributes,
    DeleteAttributes,
    DetachPolicy,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::AttachPolicy => "attach-policy",
            Step::ListUsers => "list-users",
            Step::UpdateAttributes => "update-attributes",
            Step::DeleteAttributes => "delete-attributes",
            Step::DetachPolicy => "detach-policy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every policy is attached; the attribute is set when there is a user.
    Done { attribute_updated: bool },
    /// Every policy is attached, but the user pool has no user with this sub.
    UserNotFound,
    /// An AWS call failed. `attached` lists the policies attached before it.
    Failed { step: Step, error: AwsError, attached: Vec<String> },
}

/// What became of each policy a detach asked for, in the configuration's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyResults {
    /// `detach-policy` succeeded: the policy is not attached now.
    pub detached: Vec<String>,
    /// `detach-policy` answered `not-found`: it was not attached, or there is
    /// no such policy (AWS's answer does not tell which). Never "detached".
    pub not_attached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detached {
    /// No policy is attached now. `attribute_absent`: `delete-attributes`
    /// succeeded for the user, so the user has no such attribute now (whether
    /// or not it had one: AWS does not say). `user_found` is false when the
    /// user pool has no user with the caller's sub.
    Done { attribute_absent: bool, user_found: bool, policies: PolicyResults },
    /// An AWS call failed. `policies` holds those dealt with before it;
    /// none is detached unless the attribute was first removed.
    Failed { step: Step, error: AwsError, attribute_absent: bool, policies: PolicyResults },
}

pub fn attach(plan: &Plan, config: &Config, host: &mut impl Host) -> Outcome {
    let mut attached = Vec::with_capacity(config.policy_names.len());
    for policy in &config.policy_names {
        host.log(Level::Info, &format!("attaching IoT policy {policy} to {}", plan.identity_id));
        if let Err(error) = host.attach_policy(policy, &plan.identity_id) {
            return failed(host, Step::AttachPolicy, error, attached);
        }
        attached.push(policy.clone());
    }

    let Some(user) = &plan.user else {
        host.log(Level::Info, "the caller did not sign in through a user pool; no attribute to set");
        return Outcome::Done { attribute_updated: false };
    };
    let value = match config.attribute_value {
        AttributeValue::LiteralTrue => "true".to_owned(),
        AttributeValue::IdentityId => plan.identity_id.clone(),
    };
    let attributes = [Attribute { name: config.attribute_name.clone(), value }];
    host.log(Level::Info, &format!("setting {} on user {} in {}", config.attribute_name, user.sub, user.user_pool_id));
    match on_user(host, user, Step::UpdateAttributes, |host, pool, username| {
        host.update_attributes(pool, username, &attributes)
    }) {
        Ok(true) => Outcome::Done { attribute_updated: true },
        Ok(false) => Outcome::UserNotFound,
        Err((step, error)) => failed(host, step, error, attached),
    }
}

pub fn detach(plan: &Plan, config: &Config, host: &mut impl Host) -> Detached {
    let mut attribute_absent = false;
    let mut user_found = true;
    let mut policies = PolicyResults::default();
    if let Some(user) = &plan.user {
        host.log(
            Level::Info,
            &format!("removing {} from user {} in {}", config.attribute_name, user.sub, user.user_pool_id),
        );
        let names = [config.attribute_name.clone()];
        match on_user(host, user, Step::DeleteAttributes, |host, pool, username| {
            host.delete_attributes(pool, username, &names)
        }) {
            Ok(found) => (attribute_absent, user_found) = (found, found),
            Err((step, error)) => {
                log_failure(host, step, &error);
                return Detached::Failed { step, error, attribute_absent: false, policies };
            }
        }
    }

    for policy in &config.policy_names {
        host.log(Level::Info, &format!("detaching IoT policy {policy} from {}", plan.identity_id));
        match host.detach_policy(policy, &plan.identity_id) {
            Ok(()) => policies.detached.push(policy.clone()),
            // Not attached, or no such policy: the identity lacks it, as asked,
            // but nothing was detached.
            Err(AwsError::NotFound(why)) => {
                host.log(Level::Info, &format!("{policy} was not attached: {why}"));
                policies.not_attached.push(policy.clone());
            }
            Err(error) => {
                log_failure(host, Step::DetachPolicy, &error);
                return Detached::Failed { step: Step::DetachPolicy, error, attribute_absent, policies };
            }
        }
    }
    Detached::Done { attribute_absent, user_found, policies }
}

/// Runs `call` for the user: first with the sub as the username, which
/// Cognito takes for a local user; then, if no user has that username, with
/// the username `ListUsers` finds for the sub. `Ok(false)`: no such user.
fn on_user<H: Host>(
    host: &mut H,
    user: &PoolUser,
    step: Step,
    mut call: impl FnMut(&mut H, &str, &str) -> Result<(), AwsError>,
) -> Result<bool, (Step, AwsError)> {
    match call(host, &user.user_pool_id, &user.sub) {
        Ok(()) => return Ok(true),
        Err(AwsError::NotFound(_)) => {}
        Err(error) => return Err((step, error)),
    }
    // The sub is a validated UUID, so it cannot break out of the filter's quotes.
    host.log(Level::Info, &format!("the sub is not a username; looking up sub {}", user.sub));
    let usernames =
        host.list_users(&user.user_pool_id, &format!("sub = \"{}\"", user.sub)).map_err(|e| (Step::ListUsers, e))?;
    let Some(username) = usernames.first() else {
        host.log(Level::Warn, &format!("no user with sub {} in {}", user.sub, user.user_pool_id));
        return Ok(false);
    };
    host.log(Level::Debug, &format!("username is {username}"));
    match call(host, &user.user_pool_id, username) {
        Ok(()) => Ok(true),
        Err(AwsError::NotFound(_)) => Ok(false),
        Err(error) => Err((step, error)),
    }
}

fn failed(host: &mut impl Host, step: Step, error: AwsError, attached: Vec<String>) -> Outcome {
    log_failure(host, step, &error);
    Outcome::Failed { step, error, attached }
}

fn log_failure(host: &mut impl Host, step: Step, error: &AwsError) {
    host.log(Level::Error, &format!("{} failed: {}: {}", step.name(), error.kind(), error.message()));
}
