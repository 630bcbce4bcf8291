//! Plain Rust mirrors of the WIT types, so the logic compiles and tests natively.

use crate::prelude::*;

/// Why an AWS call failed (WIT `aws.error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsError {
    NotFound(String),
    AccessDenied(String),
    Throttled(String),
    InvalidRequest(String),
    Unavailable(String),
    Other(String),
    LimitExceeded(String),
}

impl AwsError {
    /// The WIT case name, as used in logs and response bodies.
    pub fn kind(&self) -> &'static str {
        match self {
            AwsError::NotFound(_) => "not-found",
            AwsError::AccessDenied(_) => "access-denied",
            AwsError::Throttled(_) => "throttled",
            AwsError::InvalidRequest(_) => "invalid-request",
            AwsError::Unavailable(_) => "unavailable",
            AwsError::Other(_) => "other",
            AwsError::LimitExceeded(_) => "limit-exceeded",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            AwsError::NotFound(m)
            | AwsError::AccessDenied(m)
            | AwsError::Throttled(m)
            | AwsError::InvalidRequest(m)
            | AwsError::Unavailable(m)
            | AwsError::Other(m)
            | AwsError::LimitExceeded(m) => m,
        }
    }
}

/// A user pool attribute to set (WIT `aws.attribute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: String,
}

/// Log levels (WIT `log.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// What the host vouches for about this invocation (WIT `handler.context`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub request_id: String,
    pub cognito_identity: Option<String>,
}

/// The host's validated configuration (WIT `handler.config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub policy_names: Vec<String>,
    pub attribute_name: String,
    pub allowed_identity_pool_ids: Vec<String>,
    pub allowed_user_pool_ids: Vec<String>,
    pub cors_allow_origin: String,
    pub attribute_value: AttributeValue,
}

/// What the attribute holds once every policy is attached (WIT `handler.attribute-value`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AttributeValue {
    /// `"true"`.
    #[default]
    LiteralTrue,
    /// The identity ID the policies are attached to.
    IdentityId,
}

/// An API Gateway proxy response (WIT `handler.response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status_code: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The imports, as a trait: the component binds it to the WIT imports, and
/// native tests bind it to a recording fake.
pub trait Host {
    fn attach_policy(&mut self, policy_name: &str, target: &str) -> Result<(), AwsError>;
    fn list_users(&mut self, user_pool_id: &str, filter: &str) -> Result<Vec<String>, AwsError>;
    fn update_attributes(
        &mut self,
        user_pool_id: &str,
        username: &str,
        attributes: &[Attribute],
    ) -> Result<(), AwsError>;
    fn detach_policy(&mut self, policy_name: &str, target: &str) -> Result<(), AwsError>;
    fn delete_attributes(&mut self, user_pool_id: &str, username: &str, names: &[String]) -> Result<(), AwsError>;
    fn log(&mut self, level: Level, message: &str);
}
