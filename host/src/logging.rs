//! Logs on stderr, in Lambda's conventions: `AWS_LAMBDA_LOG_FORMAT` (`Text` or
//! `JSON`) and `AWS_LAMBDA_LOG_LEVEL`. Every line inside an invocation carries
//! its request ID through the `invoke` span.

use std::io::IsTerminal;

pub fn init() {
    let level = match std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_default().to_ascii_uppercase().as_str() {
        "TRACE" => tracing::Level::TRACE,
        "DEBUG" => tracing::Level::DEBUG,
        "WARN" => tracing::Level::WARN,
        "ERROR" | "FATAL" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(!json && std::io::stderr().is_terminal());
    if json {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init();
    } else {
        builder.init();
    }
}
