//! The `attach-iot-policy` command.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use attach_iot_policy::aws::Aws;
use attach_iot_policy::aws::client::AwsClient;
use attach_iot_policy::aws::simulated::{AccountState, SimulatedAccount};
use attach_iot_policy::config::Config;
use attach_iot_policy::runner::{self, Invocation, Limits, Runner};
use clap::{Parser, Subcommand};

/// The account `--simulate` starts from, unless `--account` names another.
const DEFAULT_ACCOUNT: &str = include_str!("../../examples/account.json");

#[derive(Parser)]
#[command(version, about = "Attaches an AWS IoT policy to the calling Cognito identity")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one invocation and print the response JSON on stdout (logs go to stderr).
    Invoke {
        /// The event JSON file, or - for standard input.
        #[arg(long)]
        event: PathBuf,
        /// Use the built-in simulated AWS account instead of AWS.
        #[arg(long)]
        simulate: bool,
        /// With --simulate: the account to start from (JSON; see examples/account.json).
        #[arg(long, requires = "simulate")]
        account: Option<PathBuf>,
        /// The Lambda `Lambda-Runtime-Cognito-Identity` JSON, to act as a direct invocation.
        #[arg(long)]
        cognito_identity: Option<String>,
        /// The request ID to log.
        #[arg(long, default_value = "local-invoke")]
        request_id: String,
        /// How long the invocation may take, AWS retries included.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
}

fn main() -> ExitCode {
    init_logging();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attach-iot-policy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Invoke { event, simulate, account, cognito_identity, request_id, timeout_ms } => {
            let config = Arc::new(Config::from_env()?);
            let event = read_event(&event)?;
            let aws: Arc<dyn Aws> = if simulate {
                let state = match account {
                    Some(path) => {
                        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
                    }
                    None => DEFAULT_ACCOUNT.to_owned(),
                };
                let state: AccountState = serde_json::from_str(&state).context("reading the simulated account")?;
                Arc::new(SimulatedAccount::new(state))
            } else {
                Arc::new(AwsClient::from_env()?)
            };
            let runner = Runner::new(attach_iot_policy::GUEST_COMPONENT, Limits::default())
                .map_err(|e| anyhow::anyhow!("loading the component: {e:#}"))?;
            let invocation = Invocation {
                request_id,
                cognito_identity,
                deadline: runner::deadline_in(Duration::from_millis(timeout_ms)),
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let outcome = rt.block_on(runner.invoke(&event, &invocation, &config, aws));
            println!("{}", serde_json::to_string_pretty(&outcome.response.to_proxy_json())?);
            Ok(())
        }
    }
}

fn read_event(path: &PathBuf) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("reading the event from stdin")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading the event {}", path.display()))
    }
}

fn init_logging() {
    let level = match std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_default().to_ascii_uppercase().as_str() {
        "TRACE" => tracing::Level::TRACE,
        "DEBUG" => tracing::Level::DEBUG,
        "WARN" => tracing::Level::WARN,
        "ERROR" | "FATAL" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).with_target(false).init();
}
