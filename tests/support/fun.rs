//! Lambda packages under @vercel/fun, a real Lambda Runtime API, through
//! `tests/node/fun_driver.mjs`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::moto::Moto;
use crate::process::{CHILD_LIMIT, OutputWithin};
use crate::{node, root};

/// Which runtime fun gives the package.
#[derive(Clone, Copy)]
pub enum Runtime {
    /// The Rust `bootstrap` (`provided`).
    Provided,
    /// The Node.js package (`nodejs`, handler `index.handler`); its AWS SDK
    /// comes from node/node_modules, as Lambda's runtime provides it.
    Nodejs,
}

/// Invokes each payload in turn, with moto's function key; returns each
/// invocation's `{functionError, payload}` and the function's logs (its
/// stdout and stderr: a Node.js handler's console writes to stdout). Checks
/// that no secret reached the logs.
pub fn run(
    directory: &Path,
    runtime: Runtime,
    moto: &Moto,
    mut environment: Value,
    payloads: &[String],
) -> (Vec<Value>, String) {
    let (key, secret) = moto.function_key();
    let (runtime, handler) = match runtime {
        Runtime::Provided => ("provided", "bootstrap"),
        Runtime::Nodejs => {
            environment["NODE_PATH"] = json!(root().join("node/node_modules"));
            ("nodejs", "index.handler")
        }
    };
    // The results go to a file: the function's own stdout is the driver's.
    let output = directory.join("fun-results.json");
    let input = json!({
        "directory": directory, "region": "us-east-1", "accessKeyId": key, "secretAccessKey": secret,
        "environment": environment, "payloads": payloads, "runtime": runtime, "handler": handler,
        "output": output,
    });
    let mut child = Command::new(node())
        .arg(root().join("tests/node/fun_driver.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.output_within(CHILD_LIMIT);
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the fun driver failed:\n{logs}");
    for secret in [secret.as_str(), "Signature=", "AWS4-HMAC-SHA256"] {
        assert!(!logs.contains(secret), "a secret reached the logs ({secret})");
    }
    (serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap(), logs)
}
