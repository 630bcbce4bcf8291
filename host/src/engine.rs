//! The wasmtime engine: configured once per process, with a pooling allocator
//! and an epoch ticker; and the components it runs, compiled here or ahead of
//! time by [`precompile`].

use std::path::Path;
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::limits::Limits;

/// How often the epoch advances: the granularity of the CPU budget.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How many invocations one process runs at once; more wait their turn.
/// Lambda sends one at a time.
pub const CONCURRENT_INVOCATIONS: u32 = 8;

/// The engine configuration every build of the host shares: what shapes the
/// compiled code, so a precompiled component matches its loader.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    // Bounds the guest's CPU time. Epoch checks cost far less than fuel
    // metering (measured: about a fifth of the guest's run time).
    config.epoch_interruption(true);
    config
}

/// The engine that runs components: [`engine_config`] plus a pooling
/// allocator, so that a fresh instance reuses memory, tables and stacks that
/// are already mapped instead of mapping and faulting them in each time. Its
/// epoch ticker runs for as long as the engine lives.
pub fn new_engine(limits: &Limits) -> wasmtime::Result<Engine> {
    let mut config = engine_config();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    let n = CONCURRENT_INVOCATIONS;
    // The built-in guest has one memory and three core instances; the slack
    // lets other components in and costs only address space.
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
    let engine = Engine::new(&config)?;
    start_epoch_ticker(&engine)?;
    Ok(engine)
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
pub fn ticks(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(EPOCH_TICK.as_nanos())).unwrap_or(u64::MAX)
}

/// Compiles a component for `target` (a Rust target triple such as
/// `aarch64-unknown-linux-musl`), or for this machine and its CPU features
/// when `target` is `None`, for a host to load without compiling.
#[cfg(feature = "compiler")]
pub fn precompile(wasm: &[u8], target: Option<&str>) -> wasmtime::Result<Vec<u8>> {
    let mut config = engine_config();
    if let Some(target) = target {
        // An explicit target means baseline CPU features, not this machine's.
        config.target(target)?;
    }
    Engine::new(&config)?.precompile_component(wasm)
}

/// Compiles a `.wasm` component.
#[cfg(feature = "compiler")]
pub fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
    Component::new(engine, wasm)
}

/// Loads a component that [`precompile`] made, without compiling anything.
/// wasmtime checks the artifact's version, target, CPU features and settings,
/// so a mismatched one is an error.
///
/// # Safety
/// The bytes must be wasmtime's own output from a trusted source (built into
/// this binary, or a file the operator deployed): wasmtime validates the
/// header, not the machine code.
pub unsafe fn load_precompiled(engine: &Engine, cwasm: &[u8]) -> wasmtime::Result<Component> {
    unsafe { Component::deserialize(engine, cwasm) }
}

/// A component from a file: a `.wasm`, compiled when this build has the
/// compiler, or a `.cwasm` from `precompile`.
///
/// # Safety
/// As [`load_precompiled`]: a `.cwasm` is trusted, so name only files the
/// operator put there.
pub unsafe fn load_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    let bytes = std::fs::read(path).map_err(|e| wasmtime::format_err!("reading {}: {e}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        #[cfg(feature = "compiler")]
        return compile(engine, &bytes);
        #[cfg(not(feature = "compiler"))]
        wasmtime::bail!(
            "{} is a .wasm component, and this build cannot compile: precompile it with \
             `attach-iot-policy precompile --component FILE --target TRIPLE --out FILE.cwasm`",
            path.display()
        );
    }
    unsafe { load_precompiled(engine, &bytes) }
}
