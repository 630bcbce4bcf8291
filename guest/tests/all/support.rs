//! What the guest's tests share: one configuration, the caller's event, and
//! a fake of the imports that records each call and fails one on cue.

use attach_iot_policy_guest::{Attribute, AttributeValue, AwsError, Config, Host, Level};
use serde_json::json;

pub const ID: &str = "us-west-2:d625c9c7-9a79-483c-bb4a-000000000001";
pub const POOL: &str = "us-west-2:5214f2db-370c-456c-8c4a-000000000002";
pub const SUB: &str = "1e10ff5b-642b-489a-894c-0123456789ab";
pub const USER_POOL: &str = "us-west-2_Pool1";
pub const ATTRIBUTE: &str = "custom:iotPolicyIsAttached";
/// The caller's own credentials, which the event carries and nothing may echo.
pub const CALLER_TOKEN: &str = "IQoJb3JpZ2luX2VjECaller-Session-Token-Secret";
pub const CALLER_ACCESS_KEY: &str = "ASIAEXAMPLEACCESSKEY";

/// Two policies, the default attribute, no allowlists, one CORS origin.
pub fn config() -> Config {
    Config {
        policy_names: vec!["iot-a".into(), "iot-b".into()],
        attribute_name: ATTRIBUTE.into(),
        allowed_identity_pool_ids: vec![],
        allowed_user_pool_ids: vec![],
        cors_allow_origin: "https://app.example.com".into(),
        attribute_value: AttributeValue::LiteralTrue,
    }
}

/// A REST API event from `identity`, signed in through `USER_POOL` as `SUB`,
/// carrying the caller's session token and access key.
pub fn rest_event(method: &str, identity: &str) -> String {
    let issuer = format!("cognito-idp.us-west-2.amazonaws.com/{USER_POOL}");
    json!({
        "httpMethod": method,
        "headers": {"x-amz-security-token": CALLER_TOKEN},
        "requestContext": {"identity": {
            "cognitoIdentityId": identity,
            "cognitoIdentityPoolId": POOL,
            "cognitoAuthenticationType": "authenticated",
            "cognitoAuthenticationProvider": format!("{issuer},{issuer}:CognitoSignIn:{SUB}"),
            "accessKey": CALLER_ACCESS_KEY,
        }}
    })
    .to_string()
}

/// Records each call as the fixtures list them (`op`, then its arguments),
/// and answers as Cognito would: a username is known when it is in
/// `usernames`, or is `SUB` and `sub_alias` is set. `fail` fails every call
/// of one operation.
#[derive(Default)]
pub struct Fake {
    pub calls: Vec<(String, Vec<String>)>,
    pub logs: Vec<String>,
    /// Whom `ListUsers` finds, and whom the attribute calls know.
    pub usernames: Vec<String>,
    pub sub_alias: bool,
    pub fail: Option<(&'static str, AwsError)>,
}

impl Fake {
    /// Each call on one line: `update-attributes <pool> <user> <name=value,…>`.
    pub fn lines(&self) -> Vec<String> {
        self.calls
            .iter()
            .map(|(op, args)| match op.as_str() {
                "update-attributes" | "delete-attributes" => {
                    format!("{op} {} {} {}", args[0], args[1], args[2..].join(","))
                }
                _ => format!("{op} {}", args.join(" ")),
            })
            .collect()
    }

    fn record(&mut self, op: &'static str, args: Vec<String>) -> Result<(), AwsError> {
        self.calls.push((op.to_owned(), args));
        match &self.fail {
            Some((name, e)) if *name == op => Err(e.clone()),
            _ => Ok(()),
        }
    }

    fn known(&self, username: &str) -> Result<(), AwsError> {
        match (self.sub_alias && username == SUB) || self.usernames.iter().any(|u| u == username) {
            true => Ok(()),
            false => Err(AwsError::NotFound("UserNotFoundException".into())),
        }
    }
}

impl Host for Fake {
    fn attach_policy(&mut self, policy_name: &str, target: &str) -> Result<(), AwsError> {
        self.record("attach-policy", vec![policy_name.into(), target.into()])
    }
    fn list_users(&mut self, user_pool_id: &str, filter: &str) -> Result<Vec<String>, AwsError> {
        self.record("list-users", vec![user_pool_id.into(), filter.into()]).map(|()| self.usernames.clone())
    }
    fn update_attributes(&mut self, pool: &str, username: &str, attrs: &[Attribute]) -> Result<(), AwsError> {
        let mut args = vec![pool.to_owned(), username.to_owned()];
        args.extend(attrs.iter().map(|a| format!("{}={}", a.name, a.value)));
        self.record("update-attributes", args)?;
        self.known(username)
    }
    fn detach_policy(&mut self, policy_name: &str, target: &str) -> Result<(), AwsError> {
        self.record("detach-policy", vec![policy_name.into(), target.into()])
    }
    fn delete_attributes(&mut self, pool: &str, username: &str, names: &[String]) -> Result<(), AwsError> {
        let mut args = vec![pool.to_owned(), username.to_owned()];
        args.extend(names.iter().cloned());
        self.record("delete-attributes", args)?;
        self.known(username)
    }
    fn log(&mut self, level: Level, message: &str) {
        self.logs.push(format!("{level:?} {message}"));
    }
}
