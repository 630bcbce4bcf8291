//! The `attach-iot-policy` command, which is also the Lambda `bootstrap`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use attach_iot_policy::aws::Aws;
use attach_iot_policy::aws::client::AwsClient;
use attach_iot_policy::aws::recording::Recording;
use attach_iot_policy::aws::simulated::{AccountState, SimulatedAccount};
use attach_iot_policy::config::ProcessEnv;
use attach_iot_policy::function::Function;
use attach_iot_policy::lambda::{self, RuntimeApi};
use attach_iot_policy::limits::Limits;
use attach_iot_policy::logging::LogSettings;
use attach_iot_policy::metrics::Metrics;
use attach_iot_policy::runner::{self, Invocation, Runner};
use attach_iot_policy::settings::{InitError, Settings};
use clap::{CommandFactory, Parser, Subcommand};
use tracing::Instrument as _;

// See host/Cargo.toml: musl's malloc costs system calls on every invocation.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The account `--simulate` starts from, unless `--account` names another.
const DEFAULT_ACCOUNT: &str = include_str!("../../examples/account.json");

#[derive(Parser)]
#[command(
    version,
    about = "Attaches an AWS IoT policy to the calling Cognito identity",
    after_help = "With no command and AWS_LAMBDA_RUNTIME_API set, serves Lambda invocations (the bootstrap)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
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
        /// Another component of the `attacher` world to run instead of the
        /// built-in one: a `.wasm` (compiled now) or a `.cwasm` from `precompile`.
        /// By default ATTACH_IOT_POLICY_COMPONENT.
        #[arg(long)]
        component: Option<PathBuf>,
        /// Print each AWS call the component made, with its outcome, on stderr as JSON lines.
        #[arg(long)]
        show_calls: bool,
    },
    /// Send a SigV4-signed GET to a deployed API, with credentials found as the
    /// AWS SDKs find them, and print the answer: a smoke test for a deployment.
    Call {
        /// The API's URL, such as the stack's InvokeUrl output.
        #[arg(long)]
        url: String,
        /// The API's region; by default taken from an execute-api URL, else AWS_REGION.
        #[arg(long)]
        region: Option<String>,
    },
    /// Detach an IoT policy from every target it is attached to (Cognito
    /// identities, certificates, thing groups) at a rate within AWS's quota,
    /// for example before deleting the policy. Prints a JSON summary; run it
    /// again to resume after an interruption.
    DetachAll {
        /// The IoT policy.
        #[arg(long)]
        policy: String,
        /// Detaches a second, more than 0 and at most 10000; by default
        /// DETACH_RATE, else 15, AWS IoT's default quota for DetachPolicy.
        #[arg(long, value_parser = attach_iot_policy::drain::parse_rate)]
        rate: Option<f64>,
        /// List the targets and print the summary, detaching nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compile a component ahead of time, for a host to load without compiling.
    #[cfg(feature = "compiler")]
    Precompile {
        /// The Rust target triple of the host that will load it; by default
        /// this machine, with its CPU features.
        #[arg(long)]
        target: Option<String>,
        /// The `.wasm` component to compile; by default the built-in guest.
        #[arg(long)]
        component: Option<PathBuf>,
        /// Where to write the `.cwasm`.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The one read of the settings; the logger takes its own part of them,
    // or its defaults when they are bad, so that the error can be logged.
    let settings = Settings::from_lookup(&ProcessEnv);
    let log = match &settings {
        Ok(settings) => settings.log,
        Err(_) => LogSettings::from_lookup(&ProcessEnv).unwrap_or_default(),
    };
    attach_iot_policy::logging::init(log);
    let result = match cli.command {
        Some(command) => settings.map_err(anyhow::Error::from).and_then(|settings| run(command, &settings)),
        None => match std::env::var("AWS_LAMBDA_RUNTIME_API") {
            Ok(api) => serve_lambda(&api, settings),
            Err(_) => {
                let _ = Cli::command().print_help();
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attach-iot-policy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Init, then the Runtime API loop. A failed init is reported to Lambda.
fn serve_lambda(api: &str, settings: std::result::Result<Settings, InitError>) -> Result<()> {
    runtime()?.block_on(async {
        let api = RuntimeApi::new(api).context("building the Runtime API client")?;
        match async { init_function(settings?).await }.await {
            Ok((function, metrics)) => Ok(lambda::serve(api, function, metrics).await?),
            Err(e) => {
                let message = format!("{:#}", e.cause);
                api.init_error(e.error_type, &message).await;
                anyhow::bail!("init failed: {message}");
            }
        }
    })
}

/// Everything an invocation needs, built once: the AWS client, the
/// component, and the connections the first invocation will use.
async fn init_function(settings: Settings) -> std::result::Result<(Function, Option<Metrics>), InitError> {
    // The function's own configuration first: it names what to set.
    let config = settings.config()?;
    let aws = AwsClient::from_settings(&ProcessEnv, &settings)?;
    let runner =
        load_runner(settings.component.as_deref(), settings.limits).map_err(InitError::component_load_failed)?;
    if settings.preconnect {
        aws.preconnect(cognito_region(&config.allowed_user_pool_ids)).await;
    }
    let function = Function::from_settings(Arc::new(runner), &settings, Arc::new(aws))?;
    Ok((function, settings.metrics))
}

/// The region of Cognito calls, when the allowed user pools pin one.
fn cognito_region(allowed_user_pool_ids: &[String]) -> Option<&str> {
    let mut regions = allowed_user_pool_ids.iter().filter_map(|id| attach_iot_policy_ids::region_of_user_pool_id(id));
    let first = regions.next()?;
    regions.all(|r| r == first).then_some(first)
}

/// The component named on the command line or in the environment, else the built-in one.
fn load_runner(component: Option<&std::path::Path>, limits: Limits) -> Result<Runner> {
    match component {
        // SAFETY: a `.cwasm` is trusted as the binary is: the operator named it.
        Some(path) => unsafe { Runner::from_file(path, limits) }
            .map_err(|e| anyhow::anyhow!("loading the component {}: {e:#}", path.display())),
        None => Runner::embedded(limits).map_err(|e| anyhow::anyhow!("loading the built-in component: {e:#}")),
    }
}

fn run(command: Command, settings: &Settings) -> Result<()> {
    match command {
        Command::Invoke {
            event,
            simulate,
            account,
            cognito_identity,
            request_id,
            timeout_ms,
            component,
            show_calls,
        } => {
            let runtime = runtime()?;
            let limits = settings.limits;
            let event = read_event(&event, limits.max_event_bytes)?;
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
                Arc::new(runtime.block_on(command_line_client(settings))?)
            };
            let recording = show_calls.then(|| Arc::new(Recording::new(aws.clone())));
            let backend = recording.clone().map_or(aws, |r| r as Arc<dyn Aws>);
            let runner = load_runner(component.as_ref().or(settings.component.as_ref()).map(PathBuf::as_path), limits)?;
            let function = Function::from_settings(Arc::new(runner), settings, backend)?;
            let invocation = Invocation {
                request_id,
                cognito_identity,
                deadline: runner::deadline_in(Duration::from_millis(timeout_ms)),
                trace_id: None,
            };
            let span = invocation.span();
            let outcome = runtime.block_on(function.invoke(&event, &invocation).instrument(span));
            for call in recording.iter().flat_map(|r| r.take()) {
                eprintln!("{}", serde_json::to_string(&call)?);
            }
            print_out(&serde_json::to_string_pretty(&outcome.response.to_proxy_json())?)
        }
        Command::DetachAll { policy, rate, dry_run } => {
            detach_all(&policy, rate.unwrap_or(settings.drain.rate), dry_run, settings)
        }
        Command::Call { url, region } => {
            let answer = runtime()?.block_on(attach_iot_policy::call::call(&url, region, &ProcessEnv, settings))?;
            print_out(&answer.body)?;
            if (200..300).contains(&answer.status) {
                Ok(())
            } else {
                anyhow::bail!("the API answered HTTP {}", answer.status)
            }
        }
        #[cfg(feature = "compiler")]
        Command::Precompile { target, component, out } => {
            let wasm = match &component {
                Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                None => attach_iot_policy::GUEST_WASM.to_vec(),
            };
            let for_what = target.as_deref().unwrap_or("this machine");
            let cwasm = attach_iot_policy::engine::precompile(&wasm, target.as_deref())
                .map_err(|e| anyhow::anyhow!("precompiling for {for_what}: {e:#}"))?;
            std::fs::write(&out, cwasm).with_context(|| format!("writing {}", out.display()))
        }
    }
}

/// `detach-all`: the summary on stdout, a progress bar on stderr when it is a
/// terminal. Fails (after the summary) when a target is left attached.
fn detach_all(policy: &str, rate: f64, dry_run: bool, settings: &Settings) -> Result<()> {
    use attach_iot_policy::drain::{self, Limits, Summary};
    use std::io::{IsTerminal, Write};
    if !attach_iot_policy_ids::is_policy_name(policy) {
        anyhow::bail!("--policy is not an IoT policy name ([A-Za-z0-9_+=,.@-], 1-128 characters)");
    }
    let runtime = runtime()?;
    let aws: Arc<dyn Aws> = Arc::new(runtime.block_on(command_line_client(settings))?);
    let summary = runtime.block_on(async {
        let (stop, interrupted) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = stop.send(true);
            }
        });
        // A far deadline: an operator's command runs until it is done or stopped.
        let deadline = std::time::Instant::now() + Duration::from_secs(86_400 * 7);
        if dry_run {
            let (n, whole) = drain::count(aws.as_ref(), policy, deadline, Some(interrupted)).await?;
            let stopped = if whole { "dry run" } else { "dry run, interrupted before the listing ended" };
            return Ok(Summary {
                policy: policy.into(),
                targets: n,
                remaining: n,
                stopped: Some(stopped.into()),
                listed_all: whole,
                ..Summary::default()
            });
        }
        let terminal = std::io::stderr().is_terminal();
        let mut shown = std::time::Instant::now();
        let progress = |done: usize, total: usize| {
            if terminal && (done == total || shown.elapsed() >= Duration::from_millis(100)) {
                shown = std::time::Instant::now();
                let _ = write!(std::io::stderr(), "\r{}", drain::bar(done, total, 40));
            }
        };
        let limits = Limits { rate, deadline, calls_end: None, interrupted: Some(interrupted) };
        let summary = drain::drain(aws.clone(), policy, limits, progress).await;
        if terminal {
            let _ = writeln!(std::io::stderr());
        }
        summary
    });
    let summary = summary
        .map_err(|e| anyhow::anyhow!("listing the targets of {policy} failed: {}: {}", e.kind(), e.message()))?;
    print_out(&serde_json::to_string_pretty(&summary)?)?;
    if summary.complete() || dry_run {
        Ok(())
    } else {
        anyhow::bail!("{}; run the command again to resume", drain::still_attached(&summary))
    }
}

/// The command line's AWS client: with the credential chain when it is built
/// in, and its credentials fetched now, so that a command without any stops
/// before it starts.
async fn command_line_client(settings: &Settings) -> Result<AwsClient> {
    #[cfg(feature = "credential-chain")]
    let aws = AwsClient::from_settings_or_profile(&ProcessEnv, settings).await?;
    #[cfg(not(feature = "credential-chain"))]
    let aws = AwsClient::from_settings(&ProcessEnv, settings)?;
    aws.check_credentials().await.map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    Ok(aws)
}

/// Prints a line on stdout; a reader that went away (`| head`) is not an error.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Reads at most one byte more than `limit`: enough for the host to answer
/// 413, without reading (or holding) the rest of an endless input.
fn read_event(path: &PathBuf, limit: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let most = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    if path.as_os_str() == "-" {
        std::io::stdin().take(most).read_to_end(&mut buf).context("reading the event from stdin")?;
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("reading the event {}", path.display()))?;
        file.take(most).read_to_end(&mut buf).with_context(|| format!("reading the event {}", path.display()))?;
    }
    Ok(buf)
}
