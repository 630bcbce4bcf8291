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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detached {
    /// Every policy is detached (or was not attached). The attribute was
    /// removed when there is a user; `user_found` is false when the user pool
    /// has no user with the caller's sub.
    Done { attribute_cleared: bool, user_found: bool },
    /// An AWS call failed. `detached` lists the policies detached before it;
    /// none is detached unless the attribute was first removed.
    Failed { step: Step, error: AwsError, attribute_cleared: bool, detached: Vec<String> },
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
    let mut attribute_cleared = false;
    let mut user_found = true;
    if let Some(user) = &plan.user {
        host.log(
            Level::Info,
            &format!("removing {} from user {} in {}", config.attribute_name, user.sub, user.user_pool_id),
        );
        let names = [config.attribute_name.clone()];
        match on_user(host, user, Step::DeleteAttributes, |host, pool, username| {
            host.delete_attributes(pool, username, &names)
        }) {
            Ok(found) => (attribute_cleared, user_found) = (found, found),
            Err((step, error)) => {
                log_failure(host, step, &error);
                return Detached::Failed { step, error, attribute_cleared: false, detached: Vec::new() };
            }
        }
    }

    let mut detached = Vec::with_capacity(config.policy_names.len());
    for policy in &config.policy_names {
        host.log(Level::Info, &format!("detaching IoT policy {policy} from {}", plan.identity_id));
        match host.detach_policy(policy, &plan.identity_id) {
            Ok(()) => {}
            // Not attached (or no such policy): the identity lacks it, as asked.
            Err(AwsError::NotFound(why)) => host.log(Level::Info, &format!("{policy} was not attached: {why}")),
            Err(error) => {
                log_failure(host, Step::DetachPolicy, &error);
                return Detached::Failed { step: Step::DetachPolicy, error, attribute_cleared, detached };
            }
        }
        detached.push(policy.clone());
    }
    Detached::Done { attribute_cleared, user_found }
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
