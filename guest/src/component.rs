//! The thin glue between the WIT world and the plain-Rust pipeline.

use crate::prelude::*;

use crate::types;

wit_bindgen::generate!({
    world: "attacher",
    path: "../wit",
});

use attach_iot_policy::core::{aws, log};
use exports::attach_iot_policy::core::handler;

struct Component;

impl handler::Guest for Component {
    fn handle(event: String, context: handler::Context, config: handler::Config) -> handler::Response {
        let context = types::Context { request_id: context.request_id, cognito_identity: context.cognito_identity };
        let config = types::Config {
            policy_names: config.policy_names,
            attribute_name: config.attribute_name,
            allowed_identity_pool_ids: config.allowed_identity_pool_ids,
            allowed_user_pool_ids: config.allowed_user_pool_ids,
            cors_allow_origin: config.cors_allow_origin,
            attribute_value: match config.attribute_value {
                handler::AttributeValue::LiteralTrue => types::AttributeValue::LiteralTrue,
                handler::AttributeValue::IdentityId => types::AttributeValue::IdentityId,
            },
        };
        let response = crate::handle(&event, &context, &config, &mut Imports);
        handler::Response { status_code: response.status_code, headers: response.headers, body: response.body }
    }
}

/// The WIT imports, as the pipeline's [`types::Host`].
struct Imports;

impl types::Host for Imports {
    fn attach_policy(&mut self, policy_name: &str, target: &str) -> Result<(), types::AwsError> {
        aws::attach_policy(policy_name, target).map_err(from_wit)
    }

    fn list_users(&mut self, user_pool_id: &str, filter: &str) -> Result<Vec<String>, types::AwsError> {
        aws::list_users(user_pool_id, filter).map_err(from_wit)
    }

    fn update_attributes(
        &mut self,
        user_pool_id: &str,
        username: &str,
        attributes: &[types::Attribute],
    ) -> Result<(), types::AwsError> {
        let attributes: Vec<aws::Attribute> =
            attributes.iter().map(|a| aws::Attribute { name: a.name.clone(), value: a.value.clone() }).collect();
        aws::update_attributes(user_pool_id, username, &attributes).map_err(from_wit)
    }

    fn detach_policy(&mut self, policy_name: &str, target: &str) -> Result<(), types::AwsError> {
        aws::detach_policy(policy_name, target).map_err(from_wit)
    }

    fn delete_attributes(
        &mut self,
        user_pool_id: &str,
        username: &str,
        names: &[String],
    ) -> Result<(), types::AwsError> {
        aws::delete_attributes(user_pool_id, username, names).map_err(from_wit)
    }

    fn log(&mut self, level: types::Level, message: &str) {
        let level = match level {
            types::Level::Debug => log::Level::Debug,
            types::Level::Info => log::Level::Info,
            types::Level::Warn => log::Level::Warn,
            types::Level::Error => log::Level::Error,
        };
        log::write(level, message);
    }
}

fn from_wit(e: aws::Error) -> types::AwsError {
    match e {
        aws::Error::NotFound(m) => types::AwsError::NotFound(m),
        aws::Error::AccessDenied(m) => types::AwsError::AccessDenied(m),
        aws::Error::Throttled(m) => types::AwsError::Throttled(m),
        aws::Error::InvalidRequest(m) => types::AwsError::InvalidRequest(m),
        aws::Error::Unavailable(m) => types::AwsError::Unavailable(m),
        aws::Error::Other(m) => types::AwsError::Other(m),
        aws::Error::LimitExceeded(m) => types::AwsError::LimitExceeded(m),
    }
}

export!(Component);

/// The canonical ABI's allocator export, through which the host copies
/// strings and lists in. With std, Rust's wasip2 std exports it; this guest is
/// `no_std`, and wit-bindgen supplies one only for other targets, so this is
/// wit-bindgen's own, restated.
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(old_ptr: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};

    let ptr = unsafe {
        if old_len == 0 {
            if new_len == 0 {
                return align as *mut u8;
            }
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(old_ptr, Layout::from_size_align_unchecked(old_len, align), new_len)
        }
    };
    if ptr.is_null() {
        // Out of memory (the host's cap): a trap, which the host answers with 500.
        core::arch::wasm32::unreachable();
    }
    ptr
}
