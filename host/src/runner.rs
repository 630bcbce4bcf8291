//! The component runner: one `InstancePre` per process, a fresh `Store` per
//! invocation, and limits that turn a runaway guest into a 500.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{Level, event};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::aws::{Aws, CallContext};
use crate::bindings::{Attacher, AttacherPre, Config, Context, Response, WORLD};
use crate::engine::{self, ticks};
use crate::limits::Limits;
use crate::response;

/// Facts about one invocation, from Lambda or the command line.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Lambda's request ID, or `invoke --request-id`.
    pub request_id: String,
    /// The raw `Lambda-Runtime-Cognito-Identity` JSON, for a direct invocation.
    pub cognito_identity: Option<String>,
    /// No AWS call, and no retry, runs past this.
    pub deadline: Instant,
    /// Lambda's `Lambda-Runtime-Trace-Id` for this invocation, if it sent one.
    pub trace_id: Option<String>,
}

impl Invocation {
    /// The span every line of the invocation is logged in: it gives each its
    /// `requestId` (and `traceId`). The entry points open it.
    pub fn span(&self) -> tracing::Span {
        span(&self.request_id, self.trace_id.as_deref())
    }
}

/// An invocation's span, whose fields the JSON log format lifts to the top
/// level of each line as `requestId` and `traceId`.
pub fn span(request_id: &str, trace_id: Option<&str>) -> tracing::Span {
    tracing::info_span!("invoke", request_id = %request_id, trace_id)
}

/// What an invocation produced.
#[derive(Debug)]
pub struct Outcome {
    /// The answer.
    pub response: Response,
    /// Where the time went.
    pub phases: Phases,
    /// The most linear memory the component held, in bytes.
    pub peak_memory: usize,
    /// How many AWS calls the component made.
    pub aws_calls: u32,
    /// How long it waited on them.
    pub aws_wait: Duration,
}

impl Outcome {
    /// A response the host made without the component.
    pub fn host(response: Response) -> Self {
        Outcome { response, phases: Phases::default(), peak_memory: 0, aws_calls: 0, aws_wait: Duration::ZERO }
    }
}

/// Where an invocation's time went; logged at DEBUG, and read by `make bench`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    /// Building the `Store`.
    pub setup: Duration,
    /// Instantiating the component from its `InstancePre`.
    pub instantiate: Duration,
    /// The guest's `handle`, with its imports.
    pub handle: Duration,
    /// Dropping the `Store`, which returns the instance to the pool.
    pub teardown: Duration,
}

/// The component, compiled and linked once; it runs each invocation in a
/// fresh `Store`.
pub struct Runner {
    engine: Engine,
    pre: AttacherPre<State>,
    limits: Limits,
    /// Whether the component imports WASI, and so gets a deny-all context.
    wasi: bool,
    /// One permit per pool slot, so a burst waits instead of failing.
    turns: tokio::sync::Semaphore,
}

impl Runner {
    /// Compiles a `.wasm` component of the `attacher` world and links it.
    #[cfg(feature = "compiler")]
    pub fn new(wasm: &[u8], limits: Limits) -> wasmtime::Result<Self> {
        let engine = engine::new_engine(&limits)?;
        let component = engine::compile(&engine, wasm)?;
        Self::link(engine, component, limits)
    }

    /// Loads a component that [`engine::precompile`] made, without compiling.
    ///
    /// # Safety
    /// See [`engine::load_precompiled`]: the bytes must come from a trusted source.
    pub unsafe fn from_precompiled(cwasm: &[u8], limits: Limits) -> wasmtime::Result<Self> {
        let engine = engine::new_engine(&limits)?;
        let component = unsafe { engine::load_precompiled(&engine, cwasm)? };
        Self::link(engine, component, limits)
    }

    /// Loads a component from a file: `.wasm` (compiled, in builds with the
    /// compiler) or `.cwasm`.
    ///
    /// # Safety
    /// See [`engine::load_file`]: name only files the operator put there.
    pub unsafe fn from_file(path: &std::path::Path, limits: Limits) -> wasmtime::Result<Self> {
        let engine = engine::new_engine(&limits)?;
        let component = unsafe { engine::load_file(&engine, path)? };
        Self::link(engine, component, limits)
    }

    /// The built-in guest: precompiled when this binary carries it so (the
    /// Lambda bootstrap, the release CLI), otherwise compiled now. A release
    /// CLI moved to a CPU that its precompiled guest does not fit compiles.
    pub fn embedded(limits: Limits) -> wasmtime::Result<Self> {
        #[cfg(precompiled)]
        {
            // SAFETY: wasmtime's own output, built into this binary.
            let loaded = unsafe { Self::from_precompiled(crate::GUEST_CWASM, limits) };
            #[cfg(feature = "compiler")]
            if let Err(e) = &loaded {
                event!(Level::WARN, "the precompiled guest does not load here ({e:#}); compiling it");
                return Self::new(crate::GUEST_WASM, limits);
            }
            event!(Level::DEBUG, "loaded the built-in guest, precompiled");
            loaded
        }
        #[cfg(not(precompiled))]
        {
            event!(Level::DEBUG, "compiling the built-in guest");
            Self::new(crate::GUEST_WASM, limits)
        }
    }

    fn link(engine: Engine, component: Component, limits: Limits) -> wasmtime::Result<Self> {
        let mut linker = Linker::<State>::new(&engine);
        // WASI only for a component that asks for it, and then with nothing granted.
        let wasi = component.component_type().imports(&engine).any(|(name, _)| name.starts_with("wasi:"));
        if wasi {
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        }
        Attacher::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(AttacherPre::new)
            .map_err(|e| e.context(format!("the component is not of the world {WORLD}")))?;
        let turns = tokio::sync::Semaphore::new(engine::CONCURRENT_INVOCATIONS as usize);
        Ok(Self { engine, pre, limits, wasi, turns })
    }

    /// Whether the component imports WASI (and so runs with a deny-all WASI).
    pub fn links_wasi(&self) -> bool {
        self.wasi
    }

    /// What each invocation may use.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs one invocation in a fresh store. Every failure is a response.
    /// The caller opens the invocation's span ([`Invocation::span`]).
    pub async fn invoke(&self, event: &[u8], invocation: &Invocation, config: &Config, aws: Arc<dyn Aws>) -> Outcome {
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
            // No environment, arguments, files, sockets or stdio.
            wasi: self.wasi.then(|| (WasiCtx::builder().build(), ResourceTable::new())),
            limiter: Limiter {
                limits: StoreLimitsBuilder::new().memory_size(self.limits.memory_bytes).instances(4).build(),
                peak: 0,
            },
            aws,
            call: CallContext {
                deadline: invocation.deadline,
                trace_id: invocation.trace_id.clone(),
                stats: Arc::default(),
            },
            started,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let budget = self.limits.cpu_time;
        store.set_epoch_deadline(ticks(budget));
        store.epoch_deadline_callback(move |store| store.data().over_budget(budget));
        let mut phases = Phases { setup: started.elapsed(), ..Phases::default() };

        let result = self.run(&mut store, event, invocation, config, &mut phases).await;
        let stats = &store.data().call.stats;
        let (peak_memory, aws_calls, aws_wait) = (store.data().limiter.peak, stats.calls(), stats.waited());
        let dropped = Instant::now();
        drop(store);
        phases.teardown = dropped.elapsed();
        event!(
            Level::DEBUG,
            setup_us = phases.setup.as_micros() as u64,
            instantiate_us = phases.instantiate.as_micros() as u64,
            handle_us = phases.handle.as_micros() as u64,
            teardown_us = phases.teardown.as_micros() as u64,
            peak_memory,
            "invocation phases"
        );
        let response = result.unwrap_or_else(|trap| {
            event!(Level::ERROR, error = %format!("{trap:#}"), "the component failed; answering 500");
            response::host_error(500, "internal-error", "the invocation failed", &config.cors_allow_origin)
        });
        Outcome { response, phases, peak_memory, aws_calls, aws_wait }
    }

    async fn run(
        &self,
        store: &mut Store<State>,
        event: &str,
        invocation: &Invocation,
        config: &Config,
        phases: &mut Phases,
    ) -> wasmtime::Result<Response> {
        let instantiating = Instant::now();
        let instance = self.pre.instantiate_async(&mut *store).await?;
        phases.instantiate = instantiating.elapsed();
        let handling = Instant::now();
        let context = Context {
            request_id: invocation.request_id.clone(),
            cognito_identity: invocation.cognito_identity.clone(),
        };
        let response =
            instance.attach_iot_policy_core_handler().call_handle(&mut *store, event, &context, config).await;
        phases.handle = handling.elapsed();
        response
    }
}

fn host_refusal(status: u16, code: &str, message: &str, config: &Config) -> Outcome {
    event!(Level::WARN, status, code, "refused before the component ran: {message}");
    Outcome::host(response::host_error(status, code, message, &config.cors_allow_origin))
}

/// A store's data: everything one invocation may touch.
pub struct State {
    wasi: Option<(WasiCtx, ResourceTable)>,
    limiter: Limiter,
    /// The function's backend, with its layers: the metering layer adds each
    /// call's time to `call.stats`, which the CPU budget does not count.
    pub(crate) aws: Arc<dyn Aws>,
    pub(crate) call: CallContext,
    started: Instant,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (ctx, table) = self.wasi.as_mut().expect("WASI is linked only for stores that have a context");
        WasiCtxView { ctx, table }
    }
}

impl State {
    /// Called when the epoch deadline passes: traps if the guest has computed
    /// for longer than its budget, and otherwise sets the next deadline.
    fn over_budget(&self, budget: Duration) -> wasmtime::Result<UpdateDeadline> {
        let used = self.started.elapsed().saturating_sub(self.call.stats.waited());
        match budget.checked_sub(used) {
            Some(left) if !left.is_zero() => Ok(UpdateDeadline::Continue(ticks(left))),
            _ => Err(wasmtime::Error::msg(format!("the guest ran past its CPU budget of {budget:?}"))),
        }
    }
}

/// wasmtime's own limits, noting the most memory they allowed.
struct Limiter {
    limits: StoreLimits,
    peak: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.peak = self.peak.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// A default deadline for invocations that have none of their own.
pub fn deadline_in(d: Duration) -> Instant {
    Instant::now() + d
}

#[cfg(all(test, feature = "compiler"))]
mod tests {
    use super::*;

    #[test]
    fn a_precompiled_component_loads_only_where_it_was_made_for() {
        let native = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let load = |bytes: &[u8]| unsafe { Runner::from_precompiled(bytes, Limits::default()) };
        let cwasm = engine::precompile(crate::GUEST_WASM, Some(&native)).unwrap();
        assert!(load(&cwasm).is_ok());
        let this_machine = engine::precompile(crate::GUEST_WASM, None).unwrap();
        assert!(load(&this_machine).is_ok());

        let other = if std::env::consts::ARCH == "aarch64" { "x86_64" } else { "aarch64" };
        let foreign = engine::precompile(crate::GUEST_WASM, Some(&format!("{other}-unknown-linux-musl"))).unwrap();
        let err = load(&foreign).err().expect("a foreign artifact is refused");
        assert!(
            format!("{err:#}").to_lowercase().contains("architecture") || format!("{err:#}").contains("target"),
            "{err:#}"
        );

        assert!(load(&cwasm[..cwasm.len() / 2]).is_err());
        assert!(load(b"not a component").is_err());
    }
}
