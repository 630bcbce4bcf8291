//! One CloudWatch Embedded Metric Format line per invocation, so a user gets
//! graphs and alarms without writing code: the outcome by status class, the
//! AWS calls made, the time spent waiting on AWS and the time spent in the
//! guest. Lambda sends the line to CloudWatch Logs, which extracts the metrics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::config::{ConfigError, Lookup, switch};
use crate::runner::Outcome;

/// Where the metrics go: on by default under Lambda; `ATTACH_IOT_POLICY_METRICS=off` turns them off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// The `FunctionName` dimension, from `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
}

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "attach-iot-policy";

impl Metrics {
    /// `None` when turned off.
    pub fn from_lookup(var: &impl Lookup) -> Result<Option<Self>, ConfigError> {
        if !switch(var, "ATTACH_IOT_POLICY_METRICS")? {
            return Ok(None);
        }
        let function_name = var.get("AWS_LAMBDA_FUNCTION_NAME")?.unwrap_or_else(|| "local".into());
        Ok(Some(Self { function_name }))
    }

    /// The EMF line for one invocation.
    pub fn line(&self, outcome: &Outcome, at: SystemTime) -> Value {
        let status_class = format!("{}xx", outcome.response.status_code / 100);
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let guest = (outcome.phases.instantiate + outcome.phases.handle).saturating_sub(outcome.aws_wait);
        json!({
            "_aws": {
                "Timestamp": at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName", "StatusClass"]],
                    "Metrics": [
                        {"Name": "Invocations", "Unit": "Count"},
                        {"Name": "AwsCalls", "Unit": "Count"},
                        {"Name": "AwsWaitTime", "Unit": "Milliseconds"},
                        {"Name": "GuestTime", "Unit": "Milliseconds"},
                    ],
                }],
            },
            "FunctionName": self.function_name,
            "StatusClass": status_class,
            "Invocations": 1,
            "AwsCalls": outcome.aws_calls,
            "AwsWaitTime": ms(outcome.aws_wait),
            "GuestTime": ms(guest),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::host_error;
    use crate::runner::Phases;

    #[test]
    fn one_line_carries_every_metric_under_its_dimensions() {
        let metrics =
            Metrics::from_lookup(&|k: &str| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "fn".into())).unwrap().unwrap();
        let outcome = Outcome {
            response: host_error(503, "throttled", "m", "*"),
            phases: Phases {
                instantiate: Duration::from_micros(500),
                handle: Duration::from_millis(30),
                ..Phases::default()
            },
            peak_memory: 0,
            aws_calls: 3,
            aws_wait: Duration::from_millis(25),
        };
        let line = metrics.line(&outcome, UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        assert_eq!(line["_aws"]["Timestamp"], 1_800_000_000_000u64);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        // Every dimension and every metric named in the directive is a member of the line.
        for name in directive["Dimensions"][0].as_array().unwrap() {
            assert!(line.get(name.as_str().unwrap()).is_some(), "{name}");
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            assert!(line[metric["Name"].as_str().unwrap()].is_number(), "{metric}");
        }
        assert_eq!(line["StatusClass"], "5xx");
        assert_eq!(line["AwsCalls"], 3);
        assert_eq!(line["AwsWaitTime"], 25.0);
        assert_eq!(line["GuestTime"], 5.5);
    }

    #[test]
    fn metrics_can_be_turned_off_and_a_bad_value_is_refused() {
        let read = |v: &'static str| {
            Metrics::from_lookup(&move |k: &str| (k == "ATTACH_IOT_POLICY_METRICS").then(|| v.into()))
        };
        assert_eq!(read("off").unwrap(), None);
        assert!(read("on").unwrap().is_some());
        assert_eq!(read("sometimes").unwrap_err().variable, "ATTACH_IOT_POLICY_METRICS");
    }
}
