//! Logs on stderr, in Lambda's conventions: `AWS_LAMBDA_LOG_FORMAT` (`Text` or
//! `JSON`) and `AWS_LAMBDA_LOG_LEVEL`. Every line inside an invocation carries
//! its request ID (and trace ID) through the `invoke` span.
//!
//! The JSON format is Lambda's own, as its managed runtimes write it: one
//! object a line with `timestamp`, `level`, `message`, `requestId` and, when
//! there is one, `traceId` at the top level, so CloudWatch's level filter and
//! Logs Insights' fields work. An event's other fields follow at the top level.

use std::fmt;
use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{ConfigError, Lookup};

/// `AWS_LAMBDA_LOG_LEVEL` and `AWS_LAMBDA_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// The least severe level written.
    pub level: tracing::Level,
    /// Lambda's JSON lines rather than text.
    pub json: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: tracing::Level::INFO, json: false }
    }
}

impl LogSettings {
    /// The level and the format; unset or empty means the default.
    pub fn from_lookup(var: &impl Lookup) -> Result<Self, ConfigError> {
        settings(var).map(|(level, json)| Self { level, json })
    }
}

/// Installs the logger, once per process.
pub fn init(settings: LogSettings) {
    let LogSettings { level, json } = settings;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(!json && std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry();
    if json {
        registry.with(layer.fmt_fields(JsonFields::new()).event_format(LambdaJson).with_filter(targets(level))).init();
    } else {
        registry.with(layer.with_filter(targets(level))).init();
    }
}

/// Our events at `level`; other crates' (the credential chain's AWS SDK
/// crates) at ERROR at most: their warnings and debug lines print raw
/// responses and commands, which can hold credentials.
fn targets(level: tracing::Level) -> Targets {
    let level = LevelFilter::from_level(level);
    Targets::new().with_target(env!("CARGO_CRATE_NAME"), level).with_default(level.min(LevelFilter::ERROR))
}

/// Lambda's JSON log line. Span fields are kept as JSON by [`JsonFields`].
pub struct LambdaJson;

impl<S> FormatEvent<S, JsonFields> for LambdaJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(rfc3339(SystemTime::now())));
        line.insert("level".into(), Value::String(event.metadata().level().to_string()));
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        line.insert("message".into(), fields.0.remove("message").unwrap_or(Value::String(String::new())));
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            let extensions = span.extensions();
            let Some(formatted) = extensions.get::<FormattedFields<JsonFields>>() else { continue };
            let Ok(Value::Object(span_fields)) = serde_json::from_str::<Value>(&formatted.fields) else { continue };
            for (from, to) in [("request_id", "requestId"), ("trace_id", "traceId")] {
                if let Some(value) = span_fields.get(from) {
                    line.insert(to.into(), value.clone());
                }
            }
        }
        for (key, value) in fields.0 {
            line.entry(key).or_insert(value);
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields as JSON values.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

/// `2026-11-26T12:34:56.789Z`, in UTC.
fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (days, seconds) = ((since.as_secs() / 86_400) as i64, since.as_secs() % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        since.subsec_millis()
    )
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
    fn timestamps_are_rfc3339_in_utc() {
        let at = |secs: u64, millis: u64| rfc3339(UNIX_EPOCH + std::time::Duration::from_millis(secs * 1000 + millis));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_696_496, 789), "2026-11-26T12:34:56.789Z");
    }

    #[test]
    fn json_lines_follow_lambdas_schema() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .fmt_fields(JsonFields::new())
            .event_format(LambdaJson)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
            crate::runner::span("8476a536", Some(trace)).in_scope(|| {
                tracing::warn!(status = 503, "the answer is \"throttled\"");
            });
            crate::runner::span("9f0a", None).in_scope(|| {
                tracing::info!(cold_start = false, "invocation");
            });
            tracing::debug!("filtered out");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["message"], "the answer is \"throttled\"");
        assert_eq!(lines[0]["requestId"], "8476a536");
        assert_eq!(lines[0]["traceId"], "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
        assert_eq!(lines[0]["status"], 503);
        assert!(lines[0]["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["requestId"], "9f0a");
        assert!(lines[1].get("traceId").is_none(), "no trace, no key: {}", lines[1]);
        assert_eq!(lines[1]["cold_start"], false);
    }

    #[test]
    fn a_bad_log_setting_is_an_error_that_names_it() {
        assert_eq!(read("", "").unwrap(), (tracing::Level::INFO, false));
        assert_eq!(read("debug", "json").unwrap(), (tracing::Level::DEBUG, true));
        assert_eq!(read("bogus", "Text").unwrap_err().variable, "AWS_LAMBDA_LOG_LEVEL");
        assert_eq!(read("INFO", "bogus").unwrap_err().variable, "AWS_LAMBDA_LOG_FORMAT");
    }
}
