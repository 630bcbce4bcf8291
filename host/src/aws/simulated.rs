//! An in-memory AWS account: IoT policies and their targets, user pools, users
//! and attributes. It answers as AWS does, including its error cases, and can
//! be told to fail any call. `invoke --simulate` and the fixture tests use it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Answer, Attribute, Aws, AwsCall, AwsError, CallContext, OPS, PolicyVersion, TargetsPage};

/// The account's contents, as JSON (see `examples/account.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountState {
    /// IoT policies that exist.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Policy name to the targets it is attached to.
    #[serde(default)]
    pub attachments: BTreeMap<String, BTreeSet<String>>,
    /// User pool ID to pool.
    #[serde(default)]
    pub user_pools: BTreeMap<String, UserPool>,
    /// Calls to fail, in order of declaration.
    #[serde(default, skip_serializing)]
    pub faults: Vec<Fault>,
}

/// A user pool: its schema's custom attributes and its users.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserPool {
    /// The custom attributes in the pool's schema, such as `custom:iotPolicyIsAttached`.
    #[serde(default)]
    pub custom_attributes: Vec<String>,
    /// Its users.
    #[serde(default)]
    pub users: Vec<User>,
}

/// A user, with the attributes it has.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// Its username.
    pub username: String,
    /// Its `sub`, a UUID.
    pub sub: String,
    /// Cognito takes a local user's sub in place of its username; a user
    /// federated from another provider (`Google_1234…`) is found only by username.
    #[serde(default = "yes")]
    pub sub_is_alias: bool,
    /// Attribute name to value.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// Makes a call fail: every call of `op`, or only its `call`-th (from 1).
/// Strict, so that a fault with a typo is an error, not a test that injects
/// nothing and passes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// An [`AwsCall::op`] name, such as `attach-policy`.
    #[serde(deserialize_with = "op_name")]
    pub op: String,
    /// Only the `call`-th call of `op`, counted from 1; every one when unset.
    #[serde(default)]
    pub call: Option<std::num::NonZeroU32>,
    /// The WIT error case and its message: `{"throttled": "Rate exceeded"}`.
    #[serde(deserialize_with = "wit_error")]
    pub error: AwsError,
}

/// AWS IoT attaches at most this many policies to one Cognito identity.
pub const POLICIES_PER_IDENTITY: usize = 10;
/// The simulated `ListTargetsForPolicy`'s page size.
const PAGE_SIZE: usize = 250;

fn op_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;
    let name = String::deserialize(d)?;
    match OPS.contains(&name.as_str()) {
        true => Ok(name),
        false => Err(D::Error::custom(format!("`{name}` is not an operation; one of {}", OPS.join(", ")))),
    }
}

fn wit_error<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AwsError, D::Error> {
    use serde::de::Error;
    let case = BTreeMap::<String, String>::deserialize(d)?;
    let mut cases = case.into_iter();
    match (cases.next(), cases.next()) {
        (Some((kind, message)), None) => AwsError::from_kind(&kind, message)
            .ok_or_else(|| D::Error::custom(format!("`{kind}` is not a case of the WIT's aws.error"))),
        _ => Err(D::Error::custom("an error is one WIT case and its message, such as {\"throttled\": \"…\"}")),
    }
}

/// The account, behind a lock; each operation's calls are counted, for faults that hit the n-th.
pub struct SimulatedAccount {
    state: Mutex<(AccountState, BTreeMap<&'static str, u32>)>,
}

impl SimulatedAccount {
    /// An account that starts as `state`.
    pub fn new(state: AccountState) -> Self {
        Self { state: Mutex::new((state, BTreeMap::new())) }
    }

    /// The account as it is now.
    pub fn snapshot(&self) -> AccountState {
        self.lock().0.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (AccountState, BTreeMap<&'static str, u32>)> {
        // A panic elsewhere cannot leave the maps half-written, so poison is moot.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the call and runs `f` on the state, unless a fault says to fail.
    fn run<R>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut AccountState) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        let mut guard = self.lock();
        let (state, counts) = &mut *guard;
        let n = counts.entry(op).or_default();
        *n += 1;
        let n = *n;
        if let Some(fault) = state.faults.iter().find(|f| f.op == op && f.call.is_none_or(|c| c.get() == n)) {
            return Err(fault.error.clone());
        }
        f(state)
    }
}

fn pool<'a>(state: &'a mut AccountState, id: &str) -> Result<&'a mut UserPool, AwsError> {
    state
        .user_pools
        .get_mut(id)
        .ok_or_else(|| AwsError::NotFound(format!("ResourceNotFoundException: User pool {id} does not exist.")))
}

#[async_trait]
impl Aws for SimulatedAccount {
    async fn call(&self, _: &CallContext, call: AwsCall) -> Result<Answer, AwsError> {
        self.run(call.op(), |state| match &call {
            AwsCall::AttachPolicy { policy_name, target } => attach_policy(state, policy_name, target),
            AwsCall::ListUsers { user_pool_id, filter } => list_users(state, user_pool_id, filter).map(Answer::Users),
            AwsCall::UpdateAttributes { user_pool_id, username, attributes } => {
                update_attributes(state, user_pool_id, username, attributes)
            }
            AwsCall::DetachPolicy { policy_name, target } => detach_policy(state, policy_name, target),
            AwsCall::DeleteAttributes { user_pool_id, username, names } => {
                delete_attributes(state, user_pool_id, username, names)
            }
            AwsCall::ListTargetsForPolicy { policy_name, marker } => {
                list_targets_for_policy(state, policy_name, marker.as_deref()).map(Answer::Targets)
            }
            // Each simulated policy has one version, its default.
            AwsCall::ListPolicyVersions { policy_name } => policy_exists(state, policy_name)
                .map(|()| Answer::Versions(vec![PolicyVersion { id: "1".into(), default: true }])),
            AwsCall::DeletePolicyVersion { policy_name, version_id } => {
                policy_exists(state, policy_name)?;
                Err(match version_id.as_str() {
                    "1" => AwsError::InvalidRequest(
                        "InvalidRequestException: Cannot delete the default version of a policy".into(),
                    ),
                    _ => AwsError::NotFound("ResourceNotFoundException: Policy version not found".into()),
                })
            }
            AwsCall::DeletePolicy { policy_name } => delete_policy(state, policy_name),
        })
    }
}

fn policy_exists(state: &AccountState, policy_name: &str) -> Result<(), AwsError> {
    match state.policies.iter().any(|p| p == policy_name) {
        true => Ok(()),
        false => Err(AwsError::NotFound("ResourceNotFoundException: Policy not found".into())),
    }
}

fn attach_policy(state: &mut AccountState, policy_name: &str, target: &str) -> Result<Answer, AwsError> {
    policy_exists(state, policy_name)?;
    let already = state.attachments.get(policy_name).is_some_and(|t| t.contains(target));
    let count = state.attachments.values().filter(|t| t.contains(target)).count();
    if !already && count >= POLICIES_PER_IDENTITY {
        return Err(AwsError::LimitExceeded(format!(
            "LimitExceededException: The target {target} has reached the limit of {POLICIES_PER_IDENTITY} policies"
        )));
    }
    state.attachments.entry(policy_name.to_owned()).or_default().insert(target.to_owned());
    Ok(Answer::Done)
}

fn list_users(state: &mut AccountState, user_pool_id: &str, filter: &str) -> Result<Vec<String>, AwsError> {
    let pool = pool(state, user_pool_id)?;
    let (name, value) = parse_filter(filter)
        .ok_or_else(|| AwsError::InvalidRequest("InvalidParameterException: Error while parsing filter.".into()))?;
    Ok(pool
        .users
        .iter()
        .filter(|u| match name {
            "sub" => u.sub == value,
            "username" => u.username == value,
            other => u.attributes.get(other).is_some_and(|v| v == value),
        })
        .map(|u| u.username.clone())
        .collect())
}

fn update_attributes(
    state: &mut AccountState,
    user_pool_id: &str,
    username: &str,
    attributes: &[Attribute],
) -> Result<Answer, AwsError> {
    let user = user_for(state, user_pool_id, username, attributes.iter().map(|a| a.name.as_str()))?;
    for a in attributes {
        user.attributes.insert(a.name.clone(), a.value.clone());
    }
    Ok(Answer::Done)
}

fn detach_policy(state: &mut AccountState, policy_name: &str, target: &str) -> Result<Answer, AwsError> {
    policy_exists(state, policy_name)?;
    if let Some(targets) = state.attachments.get_mut(policy_name) {
        targets.remove(target);
        if targets.is_empty() {
            state.attachments.remove(policy_name);
        }
    }
    Ok(Answer::Done)
}

/// As AWS: refused while anything is attached.
fn delete_policy(state: &mut AccountState, policy_name: &str) -> Result<Answer, AwsError> {
    policy_exists(state, policy_name)?;
    if state.attachments.get(policy_name).is_some_and(|t| !t.is_empty()) {
        return Err(AwsError::InvalidRequest(format!(
            "DeleteConflictException: The policy cannot be deleted as the policy is attached to one or more principals (name={policy_name})"
        )));
    }
    state.policies.retain(|p| p != policy_name);
    Ok(Answer::Done)
}

fn delete_attributes(
    state: &mut AccountState,
    user_pool_id: &str,
    username: &str,
    names: &[String],
) -> Result<Answer, AwsError> {
    let user = user_for(state, user_pool_id, username, names.iter().map(String::as_str))?;
    // As AWS: removing an attribute the user does not have is not an error.
    for name in names {
        user.attributes.remove(name);
    }
    Ok(Answer::Done)
}

/// The user an attribute call names, once every attribute it names is in
/// the pool's schema (as Cognito checks, before it looks for the user).
fn user_for<'a, 'n>(
    state: &'a mut AccountState,
    user_pool_id: &str,
    username: &str,
    mut names: impl Iterator<Item = &'n str>,
) -> Result<&'a mut User, AwsError> {
    let pool = pool(state, user_pool_id)?;
    if let Some(name) = names.find(|n| !pool.custom_attributes.iter().any(|c| c == n)) {
        return Err(AwsError::InvalidRequest(format!(
            "InvalidParameterException: Attribute does not exist in the schema: {name}"
        )));
    }
    user(pool, username)
}

fn list_targets_for_policy(
    state: &mut AccountState,
    policy_name: &str,
    marker: Option<&str>,
) -> Result<TargetsPage, AwsError> {
    policy_exists(state, policy_name)?;
    let start: usize = match marker {
        Some(m) => m.parse().map_err(|_| AwsError::InvalidRequest("InvalidRequestException: bad marker".into()))?,
        None => 0,
    };
    let all = state.attachments.get(policy_name).map(|t| t.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let targets: Vec<String> = all.iter().skip(start).take(PAGE_SIZE).cloned().collect();
    let next = start + targets.len();
    Ok(TargetsPage { targets, next_marker: (next < all.len()).then(|| next.to_string()) })
}

/// The user Cognito finds by `username`: its username, or a local user's sub.
fn user<'a>(pool: &'a mut UserPool, username: &str) -> Result<&'a mut User, AwsError> {
    pool.users
        .iter_mut()
        .find(|u| u.username == username || (u.sub_is_alias && u.sub == username))
        .ok_or_else(|| AwsError::NotFound("UserNotFoundException: User does not exist.".into()))
}

/// `name = "value"`, the only filter form the guest sends.
fn parse_filter(filter: &str) -> Option<(&str, &str)> {
    let (name, value) = filter.split_once(" = ")?;
    let value = value.strip_prefix('"')?.strip_suffix('"')?;
    (!value.contains('"')).then_some((name.trim(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_with_a_typo_is_an_error_not_a_fault_that_never_fires() {
        let fault = |text: &str| serde_json::from_str::<Fault>(text);
        assert!(fault(r#"{"op": "attach-policy", "call": 2, "error": {"throttled": "Rate exceeded"}}"#).is_ok());
        for bad in [
            r#"{"op": "attach_policy", "error": {"throttled": "x"}}"#,
            r#"{"op": "AttachPolicy", "error": {"throttled": "x"}}"#,
            r#"{"op": "attach-policy", "call": 0, "error": {"throttled": "x"}}"#,
            r#"{"op": "attach-policy", "error": {"throttling": "x"}}"#,
            r#"{"op": "attach-policy", "error": {"throttled": "x", "other": "y"}}"#,
            r#"{"op": "attach-policy", "calls": 1, "error": {"throttled": "x"}}"#,
        ] {
            assert!(fault(bad).is_err(), "{bad}");
        }
    }
}
