//! Host bindings for the WIT world, and the domain types of the import
//! boundary: the host has no other definition of a configuration, an AWS
//! error or a response. Imports are async: they do network I/O.

/// What `bindgen!` makes of the WIT. Its types carry the WIT's own docs; the
/// glue it adds (instantiation, linking, accessors) has none to give.
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        world: "attacher",
        path: "../wit",
        imports: { default: async },
        exports: { default: async },
        additional_derives: [Clone, PartialEq, Eq],
    });
}

pub use generated::*;

pub use self::attach_iot_policy::core::aws::{Attribute, Error as AwsError};
pub use self::attach_iot_policy::core::log::Level;
pub use self::exports::attach_iot_policy::core::handler::{AttributeValue, Config, Context, Response};

/// The WIT world this host runs; named in errors about components of other worlds.
pub const WORLD: &str = "attach-iot-policy:core/attacher@0.2.0";

impl AwsError {
    /// The WIT case name, as logs and recorded calls show it.
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

    /// The case's message: the AWS error code and text, safe to log.
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

    /// The case named `kind`, as fixtures write it (`{"throttled": "Rate exceeded"}`).
    pub fn from_kind(kind: &str, message: String) -> Option<Self> {
        Some(match kind {
            "not-found" => AwsError::NotFound(message),
            "access-denied" => AwsError::AccessDenied(message),
            "throttled" => AwsError::Throttled(message),
            "invalid-request" => AwsError::InvalidRequest(message),
            "unavailable" => AwsError::Unavailable(message),
            "other" => AwsError::Other(message),
            "limit-exceeded" => AwsError::LimitExceeded(message),
            _ => return None,
        })
    }
}
