//! The invariant, as a property: whatever fails, and whenever, the attribute
//! never names an identity that lacks one of the configured policies.
//!
//! A model account plays AWS. Each call may fail before it takes effect, or
//! after (the effect happened, the answer was lost). Any sequence of attaches
//! and detaches, by any of the user's identities, runs against it.

use std::collections::{BTreeSet, VecDeque};

use attach_iot_policy_guest::{Attribute, AttributeValue, AwsError, Config, Context, Host, Level, handle};
use proptest::prelude::*;

use crate::support::{self, SUB};

const IDENTITIES: [&str; 2] =
    ["us-west-2:d625c9c7-9a79-483c-bb4a-000000000001", "us-west-2:d625c9c7-9a79-483c-bb4a-000000000002"];

#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    /// AWS refused: nothing changed.
    Before,
    /// AWS did it, but the answer never came back.
    After,
}

#[derive(Default)]
struct Account {
    attached: BTreeSet<(String, String)>,
    attribute: Option<String>,
    /// Whether Cognito takes the sub as the username (else ListUsers finds "mat").
    sub_alias: bool,
    faults: VecDeque<Fault>,
}

impl Account {
    /// Runs `effect` unless the next fault says it fails first; fails after it when told.
    fn call<T>(&mut self, effect: impl FnOnce(&mut Self) -> Result<T, AwsError>) -> Result<T, AwsError> {
        let unavailable = || AwsError::Unavailable("injected".into());
        match self.faults.pop_front().unwrap_or(Fault::None) {
            Fault::None => effect(self),
            Fault::Before => Err(unavailable()),
            Fault::After => effect(self).and_then(|_| Err(unavailable())),
        }
    }

    fn user(&self, username: &str) -> Result<(), AwsError> {
        match username == "mat" || (self.sub_alias && username == SUB) {
            true => Ok(()),
            false => Err(AwsError::NotFound("UserNotFoundException".into())),
        }
    }
}

impl Host for Account {
    fn attach_policy(&mut self, policy: &str, target: &str) -> Result<(), AwsError> {
        self.call(|a| {
            a.attached.insert((policy.into(), target.into()));
            Ok(())
        })
    }
    fn list_users(&mut self, _: &str, _: &str) -> Result<Vec<String>, AwsError> {
        self.call(|_| Ok(vec!["mat".into()]))
    }
    fn update_attributes(&mut self, _: &str, username: &str, attributes: &[Attribute]) -> Result<(), AwsError> {
        self.call(|a| {
            a.user(username)?;
            a.attribute = Some(attributes[0].value.clone());
            Ok(())
        })
    }
    fn detach_policy(&mut self, policy: &str, target: &str) -> Result<(), AwsError> {
        self.call(|a| match a.attached.remove(&(policy.into(), target.into())) {
            true => Ok(()),
            false => Err(AwsError::NotFound("ResourceNotFoundException".into())),
        })
    }
    fn delete_attributes(&mut self, _: &str, username: &str, _: &[String]) -> Result<(), AwsError> {
        self.call(|a| {
            a.user(username)?;
            a.attribute = None;
            Ok(())
        })
    }
    fn log(&mut self, _: Level, _: &str) {}
}

fn config(attribute_value: AttributeValue) -> Config {
    Config { cors_allow_origin: "*".into(), attribute_value, ..support::config() }
}

fn event(identity: &str, detach: bool) -> String {
    support::rest_event(if detach { "DELETE" } else { "POST" }, identity)
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![4 => Just(Fault::None), 1 => Just(Fault::Before), 1 => Just(Fault::After)]
}

/// Whether `identity` has every configured policy.
fn has_all(account: &Account, config: &Config, identity: &str) -> bool {
    config.policy_names.iter().all(|p| account.attached.contains(&(p.clone(), identity.to_owned())))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// `identity-id`: the attribute names an identity; that identity has every policy.
    #[test]
    fn the_attribute_never_names_an_identity_without_its_policies(
        steps in prop::collection::vec((0..2usize, any::<bool>()), 1..12),
        faults in prop::collection::vec(fault(), 0..40),
        sub_alias in any::<bool>(),
    ) {
        let config = config(AttributeValue::IdentityId);
        let mut account = Account { sub_alias, faults: faults.into(), ..Account::default() };
        for (who, detach) in steps {
            let response = handle(&event(IDENTITIES[who], detach), &Context::default(), &config, &mut account);
            if let Some(named) = &account.attribute {
                prop_assert!(has_all(&account, &config, named), "after {} ({}): {named} lacks a policy: {:?}",
                    if detach { "DELETE" } else { "POST" }, response.status_code, account.attached);
            }
            // A success means what it says.
            if response.status_code == 200 && detach {
                prop_assert!(config.policy_names.iter().all(|p| !account.attached.contains(&(p.clone(), IDENTITIES[who].into()))));
                prop_assert_ne!(account.attribute.as_deref(), Some(IDENTITIES[who]));
            }
            if response.status_code == 200 && !detach {
                prop_assert_eq!(account.attribute.as_deref(), Some(IDENTITIES[who]));
            }
        }
    }

    /// `true`, with one identity: `"true"` only while the identity has every policy.
    #[test]
    fn true_is_never_written_or_left_without_the_policies(
        steps in prop::collection::vec(any::<bool>(), 1..12),
        faults in prop::collection::vec(fault(), 0..40),
        sub_alias in any::<bool>(),
    ) {
        let config = config(AttributeValue::LiteralTrue);
        let mut account = Account { sub_alias, faults: faults.into(), ..Account::default() };
        for detach in steps {
            handle(&event(IDENTITIES[0], detach), &Context::default(), &config, &mut account);
            if account.attribute.is_some() {
                prop_assert!(has_all(&account, &config, IDENTITIES[0]), "{:?}", account.attached);
            }
        }
    }
}
