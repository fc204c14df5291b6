//! The one wasmtime `Engine` configuration Symphony runs every guest on, and its epoch ticker.
//!
//! Fuel and epoch interruption are on unless an embedder picks another [`Metering`] (never from a
//! config file), execution is async (so a guest yields to the
//! executor every epoch tick), the wasm stack is the policy's, and instances come from the
//! pooling allocator sized from the policy ceilings. Guests run on their own executor
//! ([`guest_executor`]), never on the embedder's runtime. Nothing outside this file and
//! `sandbox` names a wasmtime configuration type.

pub mod guest_executor;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use self::guest_executor::GuestExecutor;
use crate::config::{EngineSettings, Metering};
use symphony_types::policy::PlatformPolicy;

/// Host-side stack room kept above the wasm stack on each async fiber, in bytes.
const HOST_STACK_HEADROOM_BYTES: usize = 1024 * 1024;
/// Core instances reserved per component instance in the pool.
const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 8;
/// Linear memories reserved per component instance in the pool.
const POOL_MEMORIES_PER_COMPONENT: u32 = 2;
/// Tables reserved per component instance in the pool.
const POOL_TABLES_PER_COMPONENT: u32 = 4;
/// Linear memory a freed pool slot keeps resident, in bytes: its touched pages are reset to
/// their initial contents in place (found with `PAGEMAP_SCAN` where the kernel has it) instead
/// of being unmapped and faulted in again by the next call. The guest sees the same fresh
/// memory either way; what it costs is idle RSS, at most this much per warm slot.
const POOL_KEEP_RESIDENT_BYTES: usize = 1024 * 1024;
/// Table memory a freed pool slot keeps resident, in bytes (reset in place, like memory).
const POOL_TABLE_KEEP_RESIDENT_BYTES: usize = 64 * 1024;

/// Fuel a guest may burn between two yields to its executor, in fuel units (roughly 0.1 ms of
/// straight-line wasm here). Between epoch ticks this is what keeps a spinning guest from
/// holding a guest thread while other calls wait for one; a yield costs a fiber switch and a
/// trip through the scheduler, about a microsecond.
pub const GUEST_YIELD_INTERVAL_FUEL: u64 = 250_000;

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot configure the wasm engine: {reason}")]
pub struct EngineError {
    /// wasmtime's explanation.
    pub reason: String,
}

/// The configured engine plus the thread that advances its epoch.
pub struct SandboxEngine {
    engine: Engine,
    tick: Duration,
    stack_bytes: u64,
    pooling: bool,
    metering: Metering,
    guests: GuestExecutor,
    ticker_stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for SandboxEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxEngine")
            .field("tick", &self.tick)
            .field("stack_bytes", &self.stack_bytes)
            .field("pooling", &self.pooling)
            .field("metering", &self.metering)
            .field("guests", &self.guests)
            .finish_non_exhaustive()
    }
}

impl SandboxEngine {
    /// Build the engine. With `settings.pooling`, falls back to on-demand allocation (with a
    /// warning) when the pool's virtual memory cannot be reserved on this machine.
    ///
    /// # Errors
    /// [`EngineError`] when wasmtime rejects the configuration.
    pub fn new(settings: &EngineSettings, policy: &PlatformPolicy) -> Result<Self, EngineError> {
        let stack = usize::try_from(policy.stack_bytes).unwrap_or(usize::MAX);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(settings.metering.fuel())
            .epoch_interruption(settings.metering.epochs())
            .max_wasm_stack(stack)
            .async_stack_size(stack + HOST_STACK_HEADROOM_BYTES)
            .cranelift_opt_level(OptLevel::Speed);

        let mut pooling = settings.pooling;
        let engine = if pooling {
            let mut pooled = config.clone();
            pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config(settings, policy)));
            match Engine::new(&pooled) {
                Ok(engine) => engine,
                Err(err) => {
                    tracing::warn!(error = %err, "pooling allocator unavailable; using on-demand allocation");
                    pooling = false;
                    Engine::new(&config).map_err(|e| EngineError { reason: e.to_string() })?
                }
            }
        } else {
            Engine::new(&config).map_err(|e| EngineError { reason: e.to_string() })?
        };

        let guests = GuestExecutor::new(settings.guest_threads)
            .map_err(|e| EngineError { reason: format!("cannot start the guest threads: {e}") })?;
        let tick = Duration::from_millis(settings.epoch_tick_ms);
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(&engine, tick, Arc::clone(&ticker_stop));
        Ok(Self {
            engine,
            tick,
            stack_bytes: policy.stack_bytes,
            pooling,
            metering: settings.metering,
            guests,
            ticker_stop,
        })
    }

    /// The underlying wasmtime engine, for measuring Symphony against raw wasmtime on exactly
    /// the same configuration (the benchmarks' baseline). Nothing in Symphony's own API takes or
    /// returns wasmtime types; this is the one way out, for measurement.
    #[must_use]
    pub fn wasmtime(&self) -> &Engine {
        &self.engine
    }

    /// Epoch tick: the granularity of deadlines.
    #[must_use]
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// Wasm stack per guest, in bytes.
    #[must_use]
    pub fn stack_bytes(&self) -> u64 {
        self.stack_bytes
    }

    /// Whether the pooling allocator is in use.
    #[must_use]
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// The executor every guest call runs on.
    pub(crate) fn guests(&self) -> &GuestExecutor {
        &self.guests
    }

    /// Worker threads guests run on (`engine.guest_threads`).
    #[must_use]
    pub fn guest_threads(&self) -> usize {
        self.guests.workers()
    }

    /// How guest execution is metered.
    #[must_use]
    pub fn metering(&self) -> Metering {
        self.metering
    }
}

impl Drop for SandboxEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn pool_config(settings: &EngineSettings, policy: &PlatformPolicy) -> PoolingAllocationConfig {
    let n = settings.max_concurrent_instances;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(POOL_CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(POOL_MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(POOL_TABLES_PER_COMPONENT))
        .total_stacks(n)
        .max_core_instances_per_component(u32::try_from(policy.ceilings.instances).unwrap_or(u32::MAX))
        .max_memories_per_component(POOL_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(POOL_TABLES_PER_COMPONENT)
        .max_memory_size(usize::try_from(policy.ceilings.memory_bytes).unwrap_or(usize::MAX))
        .table_elements(usize::try_from(policy.ceilings.table_elements).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(POOL_KEEP_RESIDENT_BYTES)
        .table_keep_resident(POOL_TABLE_KEEP_RESIDENT_BYTES)
        .pagemap_scan(Enabled::Auto);
    pool
}

/// Advance the engine's epoch every `tick` until `stop` is set or the engine is gone.
fn spawn_epoch_ticker(engine: &Engine, tick: Duration, stop: Arc<AtomicBool>) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name("symphony-epoch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    });
    if let Err(err) = spawned {
        // Without a ticker deadlines fall back to the tokio timeout around every call.
        tracing::error!(error = %err, "cannot start the epoch ticker thread");
    }
}
