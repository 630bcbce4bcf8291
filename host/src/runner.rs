//! The component runner: one engine and one `InstancePre` per process, a fresh
//! `Store` per invocation, and limits that turn a runaway guest into a 500.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{Instrument, Level, event};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::aws::{Attribute, Aws, AwsError, CallContext};
use crate::bindings::exports::attach_iot_policy::core::handler;
use crate::bindings::{Attacher, AttacherPre, attach_iot_policy::core::aws as wit_aws, attach_iot_policy::core::log};
use crate::config::{Config, ConfigError};
use crate::response::{self, Response};

/// Bounds on one invocation of the guest.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most linear memory the guest may hold.
    pub memory_bytes: usize,
    /// The guest's own compute time per invocation; time it spends waiting on
    /// AWS does not count.
    pub cpu_time: Duration,
    /// Events larger than this are refused before the guest sees them.
    pub max_event_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Lambda's synchronous payload limit is 6 MB; the guest parses in place,
        // so it needs little more memory than the event itself.
        Self { memory_bytes: 32 << 20, cpu_time: Duration::from_secs(1), max_event_bytes: 6 << 20 }
    }
}

impl Limits {
    /// The defaults, each overridable: `GUEST_MEMORY_LIMIT_MB`, `GUEST_CPU_MS`, `MAX_EVENT_BYTES`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if var("GUEST_FUEL").is_some() {
            // Silently ignoring it would drop a limit the user thinks is set.
            return Err(ConfigError { variable: "GUEST_FUEL", problem: "is no longer read; use GUEST_CPU_MS".into() });
        }
        let mut limits = Self::default();
        let number = |variable: &'static str| -> Result<Option<u64>, ConfigError> {
            var(variable)
                .map(|v| v.trim().parse::<u64>().ok().filter(|n| *n > 0))
                .map(|n| n.ok_or(ConfigError { variable, problem: "must be a positive whole number".into() }))
                .transpose()
        };
        if let Some(mb) = number("GUEST_MEMORY_LIMIT_MB")? {
            limits.memory_bytes = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        }
        if let Some(ms) = number("GUEST_CPU_MS")? {
            limits.cpu_time = Duration::from_millis(ms);
        }
        if let Some(bytes) = number("MAX_EVENT_BYTES")? {
            limits.max_event_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        }
        Ok(limits)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// Facts about one invocation, from Lambda or the command line.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// The raw `Lambda-Runtime-Cognito-Identity` JSON, for a direct invocation.
    pub cognito_identity: Option<String>,
    pub deadline: Instant,
}

/// One import call the guest made, as fixtures record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub op: String,
    pub args: Vec<String>,
    /// `ok`, or the WIT error case.
    pub result: String,
}

/// What an invocation produced.
#[derive(Debug)]
pub struct Outcome {
    pub response: Response,
    pub calls: Vec<Call>,
    pub phases: Phases,
}

/// Where an invocation's time went; logged at DEBUG, and read by `make bench`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    /// Building the `Store` and its WASI context.
    pub setup: Duration,
    pub instantiate: Duration,
    /// The guest's `handle`, with its imports.
    pub handle: Duration,
    /// Dropping the `Store`, which returns the instance to the pool.
    pub teardown: Duration,
}

pub struct Runner {
    engine: Engine,
    pre: AttacherPre<State>,
    limits: Limits,
    /// One permit per pool slot, so a burst waits instead of failing.
    turns: tokio::sync::Semaphore,
}

/// Builds the engine configuration every build of the host shares: what
/// shapes the compiled code, so a precompiled component matches its loader.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    // Bounds the guest's CPU time. Epoch checks cost far less than fuel
    // metering (measured: about a fifth of the guest's run time).
    config.epoch_interruption(true);
    config
}

/// How often the epoch advances: the granularity of the CPU budget.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How many invocations one process runs at once; more wait their turn.
/// Lambda sends one at a time.
const CONCURRENT_INVOCATIONS: u32 = 8;

/// The engine that runs the guest: [`engine_config`] plus a pooling allocator,
/// so that a fresh instance reuses memory, tables and stacks that are already
/// mapped instead of mapping and faulting them in each time.
fn runtime_config(limits: &Limits) -> wasmtime::Config {
    let mut config = engine_config();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    let n = CONCURRENT_INVOCATIONS;
    // The component has one memory and three core instances; the slack
    // costs only address space.
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memory_size(limits.memory_bytes.min(1 << 32))
        // Reset by memset, not madvise, up to this much: the guest's 128 KiB
        // stack and the heap an ordinary event needs, with no page faults on
        // the next invocation. PAGEMAP_SCAN (Linux 6.7+) measured no faster
        // here, so it stays off and every kernel behaves alike.
        .linear_memory_keep_resident(512 << 10)
        .table_keep_resident(64 << 10);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is gone.
fn start_epoch_ticker(engine: &Engine) -> std::io::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
        while let Some(engine) = engine.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    })?;
    Ok(())
}

/// Epoch ticks that cover `d`, rounded up.
fn ticks(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(EPOCH_TICK.as_nanos())).unwrap_or(u64::MAX)
}

/// Compiles a component for `target` (a Rust target triple such as
/// `aarch64-unknown-linux-musl`), for a runtime-only host to load. An explicit
/// target means baseline CPU features, not the build machine's.
#[cfg(feature = "compiler")]
pub fn precompile(wasm: &[u8], target: &str) -> wasmtime::Result<Vec<u8>> {
    let mut config = engine_config();
    config.target(target)?;
    Engine::new(&config)?.precompile_component(wasm)
}

impl Runner {
    /// Compiles the component and links it. Done once per process.
    #[cfg(feature = "compiler")]
    pub fn new(wasm: &[u8], limits: Limits) -> wasmtime::Result<Self> {
        let engine = Engine::new(&runtime_config(&limits))?;
        let component = Component::new(&engine, wasm)?;
        Self::link(engine, component, limits)
    }

    /// Loads a component that [`precompile`] made, without compiling anything.
    /// wasmtime checks the artifact's version, target and settings, so a
    /// mismatched one is an error, not undefined behaviour.
    pub fn load_precompiled(cwasm: &[u8], limits: Limits) -> wasmtime::Result<Self> {
        let engine = Engine::new(&runtime_config(&limits))?;
        // SAFETY: the bytes are wasmtime's own output, embedded at build time
        // (never input from outside); wasmtime validates the header itself.
        let component = unsafe { Component::deserialize(&engine, cwasm)? };
        Self::link(engine, component, limits)
    }

    /// The component embedded in this binary, whichever form it has.
    pub fn embedded(limits: Limits) -> wasmtime::Result<Self> {
        #[cfg(feature = "compiler")]
        return Self::new(crate::EMBEDDED_COMPONENT, limits);
        #[cfg(not(feature = "compiler"))]
        return Self::load_precompiled(crate::EMBEDDED_COMPONENT, limits);
    }

    fn link(engine: Engine, component: Component, limits: Limits) -> wasmtime::Result<Self> {
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Attacher::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)?;
        let pre = AttacherPre::new(linker.instantiate_pre(&component)?)?;
        start_epoch_ticker(&engine)?;
        let turns = tokio::sync::Semaphore::new(CONCURRENT_INVOCATIONS as usize);
        Ok(Self { engine, pre, limits, turns })
    }

    /// Runs one invocation in a fresh store. Every failure is a response.
    pub async fn invoke(
        &self,
        event: &[u8],
        invocation: &Invocation,
        config: &Arc<Config>,
        aws: Arc<dyn Aws>,
    ) -> Outcome {
        let span = tracing::info_span!("invoke", request_id = %invocation.request_id);
        self.invoke_in_span(event, invocation, config, aws).instrument(span).await
    }

    async fn invoke_in_span(
        &self,
        event: &[u8],
        invocation: &Invocation,
        config: &Arc<Config>,
        aws: Arc<dyn Aws>,
    ) -> Outcome {
        if event.len() > self.limits.max_event_bytes {
            let message = format!("the event is larger than {} bytes", self.limits.max_event_bytes);
            return host_refusal(413, "event-too-large", &message, config);
        }
        let Ok(event) = std::str::from_utf8(event) else {
            return host_refusal(400, "invalid-event", "the event is not valid UTF-8", config);
        };

        let _turn = self.turns.acquire().await.expect("the semaphore is never closed");
        let started = Instant::now();
        let state = State {
            // No environment, no preopened directories, no network: the
            // guest reaches the world only through its imports.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(self.limits.memory_bytes).instances(4).build(),
            aws,
            config: config.clone(),
            call_context: CallContext { deadline: invocation.deadline },
            calls: Vec::new(),
            started,
            waiting: Duration::ZERO,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        let budget = self.limits.cpu_time;
        store.set_epoch_deadline(ticks(budget));
        store.epoch_deadline_callback(move |store| store.data().over_budget(budget));
        let mut phases = Phases { setup: started.elapsed(), ..Phases::default() };

        let result = self.run(&mut store, event, invocation, config, &mut phases).await;
        let calls = std::mem::take(&mut store.data_mut().calls);
        let dropped = Instant::now();
        drop(store);
        phases.teardown = dropped.elapsed();
        event!(
            Level::DEBUG,
            setup_us = phases.setup.as_micros() as u64,
            instantiate_us = phases.instantiate.as_micros() as u64,
            handle_us = phases.handle.as_micros() as u64,
            teardown_us = phases.teardown.as_micros() as u64,
            "invocation phases"
        );
        let response = match result {
            Ok(guest) => Response { status_code: guest.status_code, headers: guest.headers, body: guest.body },
            Err(trap) => {
                event!(Level::ERROR, error = %format!("{trap:#}"), "the component failed; answering 500");
                response::host_error(500, "internal-error", "the invocation failed", &config.cors_allow_origin)
            }
        };
        Outcome { response, calls, phases }
    }

    async fn run(
        &self,
        store: &mut Store<State>,
        event: &str,
        invocation: &Invocation,
        config: &Config,
        phases: &mut Phases,
    ) -> wasmtime::Result<handler::Response> {
        let instantiating = Instant::now();
        let instance = self.pre.instantiate_async(&mut *store).await?;
        phases.instantiate = instantiating.elapsed();
        let handling = Instant::now();
        let context = handler::Context {
            request_id: invocation.request_id.clone(),
            cognito_identity: invocation.cognito_identity.clone(),
        };
        let config = handler::Config {
            policy_names: config.policy_names.clone(),
            attribute_name: config.attribute_name.clone(),
            allowed_identity_pool_ids: config.allowed_identity_pool_ids.clone(),
            allowed_user_pool_ids: config.allowed_user_pool_ids.clone(),
            cors_allow_origin: config.cors_allow_origin.clone(),
        };
        let response =
            instance.attach_iot_policy_core_handler().call_handle(&mut *store, event, &context, &config).await;
        phases.handle = handling.elapsed();
        response
    }
}

fn host_refusal(status: u16, code: &str, message: &str, config: &Config) -> Outcome {
    event!(Level::WARN, status, code, "refused before the component ran: {message}");
    let response = response::host_error(status, code, message, &config.cors_allow_origin);
    Outcome { response, calls: Vec::new(), phases: Phases::default() }
}

/// A store's data: everything one invocation may touch.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    aws: Arc<dyn Aws>,
    config: Arc<Config>,
    call_context: CallContext,
    calls: Vec<Call>,
    started: Instant,
    /// Time spent in AWS calls, which the CPU budget does not count.
    waiting: Duration,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl State {
    /// Called when the epoch deadline passes: traps if the guest has computed
    /// for longer than its budget, and otherwise sets the next deadline.
    fn over_budget(&self, budget: Duration) -> wasmtime::Result<UpdateDeadline> {
        let used = self.started.elapsed().saturating_sub(self.waiting);
        match budget.checked_sub(used) {
            Some(left) if !left.is_zero() => Ok(UpdateDeadline::Continue(ticks(left))),
            _ => Err(wasmtime::Error::msg(format!("the guest ran past its CPU budget of {budget:?}"))),
        }
    }

    fn record<T>(&mut self, op: &str, args: Vec<String>, result: &Result<T, AwsError>, started: Instant) {
        self.waiting += started.elapsed();
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        event!(Level::DEBUG, op, outcome, elapsed_us = started.elapsed().as_micros() as u64, "import call");
        self.calls.push(Call { op: op.to_owned(), args, result: outcome.to_owned() });
    }
}

/// The host keeps its side of the contract even if a guest does not: only the
/// configured policies, and only the configured attribute.
fn guard_policy(config: &Config, policy_name: &str) -> Result<(), AwsError> {
    if config.policy_names.iter().any(|p| p == policy_name) { Ok(()) } else { Err(refuse("a policy name")) }
}

fn guard_attributes(config: &Config, attributes: &[Attribute]) -> Result<(), AwsError> {
    if attributes.iter().all(|a| a.name == config.attribute_name) { Ok(()) } else { Err(refuse("an attribute name")) }
}

fn refuse(what: &str) -> AwsError {
    event!(Level::ERROR, "refused a guest request for {what} outside the configuration");
    AwsError::InvalidRequest(format!("the host refuses {what} that is not in its configuration"))
}

/// The same cases on both sides of the boundary.
fn to_wit(error: AwsError) -> wit_aws::Error {
    match error {
        AwsError::NotFound(m) => wit_aws::Error::NotFound(m),
        AwsError::AccessDenied(m) => wit_aws::Error::AccessDenied(m),
        AwsError::Throttled(m) => wit_aws::Error::Throttled(m),
        AwsError::InvalidRequest(m) => wit_aws::Error::InvalidRequest(m),
        AwsError::Unavailable(m) => wit_aws::Error::Unavailable(m),
        AwsError::Other(m) => wit_aws::Error::Other(m),
    }
}

impl wit_aws::Host for State {
    async fn attach_policy(&mut self, policy_name: String, target: String) -> Result<(), wit_aws::Error> {
        let started = Instant::now();
        let result = match guard_policy(&self.config, &policy_name) {
            Ok(()) => self.aws.attach_policy(&self.call_context, &policy_name, &target).await,
            Err(e) => Err(e),
        };
        self.record("attach-policy", vec![policy_name, target], &result, started);
        result.map_err(to_wit)
    }

    async fn list_users(&mut self, user_pool_id: String, filter: String) -> Result<Vec<String>, wit_aws::Error> {
        let started = Instant::now();
        let result = self.aws.list_users(&self.call_context, &user_pool_id, &filter).await;
        self.record("list-users", vec![user_pool_id, filter], &result, started);
        result.map_err(to_wit)
    }

    async fn update_attributes(
        &mut self,
        user_pool_id: String,
        username: String,
        attributes: Vec<wit_aws::Attribute>,
    ) -> Result<(), wit_aws::Error> {
        let started = Instant::now();
        let result = match guard_attributes(&self.config, &attributes) {
            Ok(()) => self.aws.update_attributes(&self.call_context, &user_pool_id, &username, &attributes).await,
            Err(e) => Err(e),
        };
        let mut args = vec![user_pool_id, username];
        args.extend(attributes.iter().map(|Attribute { name, value }| format!("{name}={value}")));
        self.record("update-attributes", args, &result, started);
        result.map_err(to_wit)
    }
}

impl log::Host for State {
    async fn write(&mut self, level: log::Level, message: String) {
        match level {
            log::Level::Debug => event!(Level::DEBUG, source = "guest", "{message}"),
            log::Level::Info => event!(Level::INFO, source = "guest", "{message}"),
            log::Level::Warn => event!(Level::WARN, source = "guest", "{message}"),
            log::Level::Error => event!(Level::ERROR, source = "guest", "{message}"),
        }
    }
}

/// A default deadline for invocations that have none of their own.
pub fn deadline_in(d: Duration) -> Instant {
    Instant::now() + d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            policy_names: vec!["allowed".into()],
            attribute_name: "custom:iotPolicyIsAttached".into(),
            allowed_identity_pool_ids: vec![],
            allowed_user_pool_ids: vec![],
            cors_allow_origin: "*".into(),
        }
    }

    #[cfg(feature = "compiler")]
    #[test]
    fn a_precompiled_component_loads_only_where_it_was_made_for() {
        let native = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let cwasm = precompile(crate::GUEST_COMPONENT, &native).unwrap();
        assert!(Runner::load_precompiled(&cwasm, Limits::default()).is_ok());

        let other = if std::env::consts::ARCH == "aarch64" { "x86_64" } else { "aarch64" };
        let foreign = precompile(crate::GUEST_COMPONENT, &format!("{other}-unknown-linux-musl")).unwrap();
        let err = Runner::load_precompiled(&foreign, Limits::default()).err().expect("a foreign artifact is refused");
        assert!(
            format!("{err:#}").to_lowercase().contains("architecture") || format!("{err:#}").contains("target"),
            "{err:#}"
        );

        let truncated = &cwasm[..cwasm.len() / 2];
        assert!(Runner::load_precompiled(truncated, Limits::default()).is_err());
        assert!(Runner::load_precompiled(b"not a component", Limits::default()).is_err());
    }

    #[test]
    fn limits_can_be_overridden_and_are_checked() {
        let limits = Limits::from_lookup(|k| (k == "GUEST_MEMORY_LIMIT_MB").then(|| "2".into())).unwrap();
        assert_eq!(limits.memory_bytes, 2 << 20);
        assert_eq!(limits.cpu_time, Limits::default().cpu_time);
        let err = Limits::from_lookup(|k| (k == "GUEST_CPU_MS").then(|| "lots".into())).unwrap_err();
        assert_eq!(err.variable, "GUEST_CPU_MS");
        let err = Limits::from_lookup(|k| (k == "GUEST_FUEL").then(|| "1000".into())).unwrap_err();
        assert!(err.to_string().contains("GUEST_CPU_MS"), "{err}");
    }

    #[test]
    fn the_host_refuses_what_it_was_not_configured_for() {
        assert!(guard_policy(&config(), "allowed").is_ok());
        assert!(matches!(guard_policy(&config(), "AdminPolicy"), Err(AwsError::InvalidRequest(_))));
        let attr = |name: &str| Attribute { name: name.into(), value: "true".into() };
        assert!(guard_attributes(&config(), &[attr("custom:iotPolicyIsAttached")]).is_ok());
        for bad in [vec![attr("email")], vec![attr("custom:iotPolicyIsAttached"), attr("custom:isAdmin")]] {
            assert!(matches!(guard_attributes(&config(), &bad), Err(AwsError::InvalidRequest(_))));
        }
    }
}
