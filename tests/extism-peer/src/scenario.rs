//! The ways one call is made, each timed the same way: Symphony's sandbox call (a fresh store
//! per call, as always) and Extism's plugin call, with one plugin reused or a new plugin per
//! call from a precompiled `CompiledPlugin` (on Extism's default allocator or on wasmtime's
//! pooling allocator). Limits for Extism are taken from the Symphony extension's effective
//! limits, so both hosts run under the same fuel, memory and deadline.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use extism::{CompiledPlugin, Manifest, Plugin, PluginBuilder, Wasm};
use symphony_host::types::payload::JSON_CONTENT_TYPE;
use symphony_host::{CallRequest, LoadedExtension, Payload};

/// Bytes in one wasm page (Extism's memory limit is in pages).
const WASM_PAGE_BYTES: u64 = 64 * 1024;
/// Instance, memory and table slots in the pooling allocator handed to Extism: a call needs
/// two instances (Extism's kernel and the plugin), and only one call runs at a time.
const EXTISM_POOL_SLOTS: u32 = 64;

/// How a scenario calls its guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Symphony: `LoadedExtension::call`, a fresh store and instance per call.
    Symphony,
    /// Extism normal mode: one `Plugin` (one instance) serves every call.
    ExtismReused,
    /// Extism fresh instance: `Plugin::new_from_compiled` per call, default allocator.
    ExtismFresh,
    /// Extism fresh instance on wasmtime's pooling allocator (as Symphony's engine uses).
    ExtismFreshPooled,
}

impl Mode {
    /// Every mode, Symphony first.
    pub const ALL: [Mode; 4] =
        [Mode::Symphony, Mode::ExtismReused, Mode::ExtismFresh, Mode::ExtismFreshPooled];

    /// Stable key for JSON output.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Mode::Symphony => "symphony",
            Mode::ExtismReused => "extism_reused",
            Mode::ExtismFresh => "extism_fresh",
            Mode::ExtismFreshPooled => "extism_fresh_pooled",
        }
    }

    /// What the table shows.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Mode::Symphony => "symphony sandbox call (fresh store)",
            Mode::ExtismReused => "extism one plugin reused",
            Mode::ExtismFresh => "extism new plugin per call",
            Mode::ExtismFreshPooled => "extism new plugin per call, pooling",
        }
    }
}

/// The limits both hosts enforce, from Symphony's effective limits for the extension.
#[derive(Debug, Clone, Copy)]
pub struct SharedLimits {
    /// Fuel per call, in fuel units.
    pub fuel: u64,
    /// Linear memory per instance, in bytes (a whole number of wasm pages for Extism).
    pub memory_bytes: u64,
    /// Wall-clock deadline per call, in milliseconds.
    pub deadline_ms: u64,
}

impl SharedLimits {
    /// Extism's memory limit: whole wasm pages, never above Symphony's byte limit.
    #[must_use]
    pub fn memory_pages(&self) -> u32 {
        u32::try_from(self.memory_bytes / WASM_PAGE_BYTES).unwrap_or(u32::MAX)
    }
}

/// One mode made ready for one workload.
pub enum Scenario {
    /// See [`Mode::Symphony`].
    Symphony(Box<LoadedExtension>),
    /// See [`Mode::ExtismReused`].
    ExtismReused(Box<Plugin>),
    /// See [`Mode::ExtismFresh`].
    ExtismFresh(CompiledPlugin),
    /// See [`Mode::ExtismFreshPooled`].
    ExtismFreshPooled(CompiledPlugin),
}

/// One call's output and the fuel it used, as its host counts it.
#[derive(Debug)]
pub struct CallResult {
    /// The guest's output bytes.
    pub output: Vec<u8>,
    /// Fuel consumed, in fuel units (instantiation included where the host instantiates).
    pub fuel: u64,
}

impl Scenario {
    /// Compile the Extism plugin at `plugin` for `mode` under `limits`.
    ///
    /// # Errors
    /// When the plugin cannot be read, compiled or instantiated.
    pub fn extism(mode: Mode, plugin: &Path, limits: SharedLimits) -> anyhow::Result<Self> {
        let manifest = Manifest::new([Wasm::file(plugin)])
            .with_memory_max(limits.memory_pages())
            .with_timeout(Duration::from_millis(limits.deadline_ms));
        let builder = PluginBuilder::new(manifest)
            .with_wasi(false)
            .with_fuel_limit(limits.fuel)
            // The benchmark compiles once in memory; no on-disk cache to warm or pollute.
            .with_cache_disabled();
        let compile = |builder: PluginBuilder<'_>| {
            CompiledPlugin::new(builder).with_context(|| format!("compiling {}", plugin.display()))
        };
        Ok(match mode {
            Mode::Symphony => anyhow::bail!("a Symphony scenario is built from a loaded extension"),
            Mode::ExtismReused => {
                Scenario::ExtismReused(Box::new(Plugin::new_from_compiled(&compile(builder)?)?))
            }
            Mode::ExtismFresh => Scenario::ExtismFresh(compile(builder)?),
            Mode::ExtismFreshPooled => {
                let builder = builder.with_wasmtime_config(pooling_config(limits));
                Scenario::ExtismFreshPooled(compile(builder)?)
            }
        })
    }

    /// The mode this scenario runs.
    #[must_use]
    pub fn mode(&self) -> Mode {
        match self {
            Scenario::Symphony(_) => Mode::Symphony,
            Scenario::ExtismReused(_) => Mode::ExtismReused,
            Scenario::ExtismFresh(_) => Mode::ExtismFresh,
            Scenario::ExtismFreshPooled(_) => Mode::ExtismFreshPooled,
        }
    }

    /// Call once, untimed: for checking outputs before measuring.
    ///
    /// # Errors
    /// When the call fails.
    pub fn call_once(&mut self, rt: &tokio::runtime::Runtime, input: &[u8]) -> anyhow::Result<CallResult> {
        let mut samples = Vec::with_capacity(1);
        self.run_batch(rt, input, 1, &mut samples)
    }

    /// Make `calls` calls with `input`, appending each call's wall time (nanoseconds) to
    /// `samples`; returns the last call's result. Only the call itself is timed: for Symphony,
    /// the request (a copy of the input) is built before the clock starts, as Extism borrows it;
    /// for a fresh Extism plugin, creating and dropping the plugin is timed, as Symphony's store
    /// is created and dropped inside its call.
    ///
    /// # Errors
    /// When a call fails.
    pub fn run_batch(
        &mut self,
        rt: &tokio::runtime::Runtime,
        input: &[u8],
        calls: usize,
        samples: &mut Vec<u64>,
    ) -> anyhow::Result<CallResult> {
        let mut last = CallResult { output: Vec::new(), fuel: 0 };
        match self {
            Scenario::Symphony(extension) => {
                let requests: Vec<CallRequest> = (0..calls)
                    .map(|_| CallRequest::new(Payload::new(JSON_CONTENT_TYPE, input.to_vec())))
                    .collect();
                rt.block_on(async {
                    for request in requests {
                        let started = Instant::now();
                        let outcome = extension.call(request).await;
                        samples.push(nanos(started.elapsed()));
                        let output = outcome.result.context("Symphony call failed")?;
                        last = CallResult { output: output.bytes, fuel: outcome.usage.fuel };
                    }
                    anyhow::Ok(())
                })?;
            }
            Scenario::ExtismReused(plugin) => {
                for _ in 0..calls {
                    let started = Instant::now();
                    let output: Vec<u8> = plugin.call("invoke", input).context("Extism call failed")?;
                    samples.push(nanos(started.elapsed()));
                    last = CallResult { output, fuel: plugin.fuel_consumed().unwrap_or(0) };
                }
            }
            Scenario::ExtismFresh(compiled) | Scenario::ExtismFreshPooled(compiled) => {
                for _ in 0..calls {
                    let started = Instant::now();
                    let mut plugin = Plugin::new_from_compiled(compiled).context("new Extism plugin")?;
                    let output: Vec<u8> = plugin.call("invoke", input).context("Extism call failed")?;
                    let fuel = plugin.fuel_consumed().unwrap_or(0);
                    drop(plugin);
                    samples.push(nanos(started.elapsed()));
                    last = CallResult { output, fuel };
                }
            }
        }
        Ok(last)
    }
}

/// wasmtime's pooling allocator sized for one call at a time, each memory capped at the
/// shared limit (as Symphony's pool caps memories at its ceiling).
fn pooling_config(limits: SharedLimits) -> wasmtime::Config {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(EXTISM_POOL_SLOTS)
        .total_memories(EXTISM_POOL_SLOTS)
        .total_tables(EXTISM_POOL_SLOTS)
        .max_memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX));
    let mut config = wasmtime::Config::new();
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    config
}

/// A duration in whole nanoseconds.
fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}
