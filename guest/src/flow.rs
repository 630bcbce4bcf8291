//! Step 3: call the imports. Policies first; the attribute only once every
//! policy is attached, so it never claims a policy that is not there.

use crate::prelude::*;

use crate::decide::Plan;
use crate::types::{Attribute, AwsError, Config, Host, Level};

/// The AWS step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    AttachPolicy,
    ListUsers,
    UpdateAttributes,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::AttachPolicy => "attach-policy",
            Step::ListUsers => "list-users",
            Step::UpdateAttributes => "update-attributes",
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

pub fn run(plan: &Plan, config: &Config, host: &mut impl Host) -> Outcome {
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
    let attributes = [Attribute { name: config.attribute_name.clone(), value: "true".into() }];

    // Cognito takes a local user's sub as its username: one call when it works.
    host.log(Level::Info, &format!("setting {} on user {} in {}", config.attribute_name, user.sub, user.user_pool_id));
    match host.update_attributes(&user.user_pool_id, &user.sub, &attributes) {
        Ok(()) => return Outcome::Done { attribute_updated: true },
        Err(AwsError::NotFound(_)) => {}
        Err(error) => return failed(host, Step::UpdateAttributes, error, attached),
    }

    // The sub is a validated UUID, so it cannot break out of the filter's quotes.
    host.log(Level::Info, &format!("the sub is not a username; looking up sub {}", user.sub));
    let usernames = match host.list_users(&user.user_pool_id, &format!("sub = \"{}\"", user.sub)) {
        Ok(usernames) => usernames,
        Err(error) => return failed(host, Step::ListUsers, error, attached),
    };
    let Some(username) = usernames.first() else {
        host.log(Level::Warn, &format!("no user with sub {} in {}", user.sub, user.user_pool_id));
        return Outcome::UserNotFound;
    };
    host.log(Level::Debug, &format!("username is {username}"));
    match host.update_attributes(&user.user_pool_id, username, &attributes) {
        Ok(()) => Outcome::Done { attribute_updated: true },
        Err(AwsError::NotFound(_)) => Outcome::UserNotFound,
        Err(error) => failed(host, Step::UpdateAttributes, error, attached),
    }
}

fn failed(host: &mut impl Host, step: Step, error: AwsError, attached: Vec<String>) -> Outcome {
    host.log(Level::Error, &format!("{} failed: {}: {}", step.name(), error.kind(), error.message()));
    Outcome::Failed { step, error, attached }
}
