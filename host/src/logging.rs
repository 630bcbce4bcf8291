//! Logs on stderr, in Lambda's conventions: `AWS_LAMBDA_LOG_FORMAT` (`Text` or
//! `JSON`) and `AWS_LAMBDA_LOG_LEVEL`. Every line inside an invocation carries
//! its request ID through the `invoke` span.

use std::io::IsTerminal;

use crate::config::{ConfigError, Lookup, ProcessEnv};

/// Installs the logger. A bad setting is returned, for the caller to stop on
/// (or report as Lambda's init error); the logger is installed with the
/// defaults anyway, so that report can be logged.
pub fn init() -> Result<(), ConfigError> {
    let settings = settings(&ProcessEnv);
    let (level, json) = settings.clone().unwrap_or((tracing::Level::INFO, false));
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
    settings.map(drop)
}

/// The level and whether the format is JSON; unset or empty means the default.
fn settings(var: &impl Lookup) -> Result<(tracing::Level, bool), ConfigError> {
    let level = match var.get("AWS_LAMBDA_LOG_LEVEL")?.unwrap_or_default().trim().to_ascii_uppercase().as_str() {
        "" | "INFO" => tracing::Level::INFO,
        "TRACE" => tracing::Level::TRACE,
        "DEBUG" => tracing::Level::DEBUG,
        "WARN" => tracing::Level::WARN,
        "ERROR" | "FATAL" => tracing::Level::ERROR,
        _ => {
            let problem = "must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL".into();
            return Err(ConfigError { variable: "AWS_LAMBDA_LOG_LEVEL", problem });
        }
    };
    let json = match var.get("AWS_LAMBDA_LOG_FORMAT")?.unwrap_or_default().trim().to_ascii_uppercase().as_str() {
        "" | "TEXT" => false,
        "JSON" => true,
        _ => return Err(ConfigError { variable: "AWS_LAMBDA_LOG_FORMAT", problem: "must be Text or JSON".into() }),
    };
    Ok((level, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(level: &str, format: &str) -> Result<(tracing::Level, bool), ConfigError> {
        let (level, format) = (level.to_owned(), format.to_owned());
        settings(&move |k: &str| match k {
            "AWS_LAMBDA_LOG_LEVEL" => Some(level.clone()),
            "AWS_LAMBDA_LOG_FORMAT" => Some(format.clone()),
            _ => None,
        })
    }

    #[test]
    fn a_bad_log_setting_is_an_error_that_names_it() {
        assert_eq!(read("", "").unwrap(), (tracing::Level::INFO, false));
        assert_eq!(read("debug", "json").unwrap(), (tracing::Level::DEBUG, true));
        assert_eq!(read("bogus", "Text").unwrap_err().variable, "AWS_LAMBDA_LOG_LEVEL");
        assert_eq!(read("INFO", "bogus").unwrap_err().variable, "AWS_LAMBDA_LOG_FORMAT");
    }
}
