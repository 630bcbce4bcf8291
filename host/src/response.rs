//! The API Gateway proxy response, and the few the host answers itself.

use serde_json::{Map, Value, json};

/// The WIT's `handler.response`.
pub use crate::bindings::Response;

impl Response {
    /// `{"statusCode", "headers", "body"}`, as API Gateway expects from Lambda.
    pub fn to_proxy_json(&self) -> Value {
        let headers: Map<String, Value> =
            self.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        json!({ "statusCode": self.status_code, "headers": headers, "body": self.body })
    }
}

/// A response the host makes when the guest cannot answer: the same shape
/// the guest uses, so clients need handle only one.
pub fn host_error(status_code: u16, code: &str, message: &str, cors_allow_origin: &str) -> Response {
    Response {
        status_code,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Access-Control-Allow-Origin".into(), cors_allow_origin.into()),
        ],
        body: json!({ "error": code, "message": message }).to_string(),
    }
}
