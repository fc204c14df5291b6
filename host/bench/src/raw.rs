//! The physical limit the benchmarks compare Symphony against: the same component called by a
//! hand-written host, directly against wasmtime, under the same limits.
//!
//! It uses the very engine the sandbox runs on (same pooling allocator, fuel, epochs, stack),
//! its own minimal linker for exactly what the samples import (WASI p2, locked down as
//! `WasiCtxBuilder::new()` leaves it, and Symphony's `host` interface with trivial bodies), and
//! per call: a fresh `Store` from the `InstancePre`, the same fuel limit, wasmtime's own memory
//! limiter at the same memory/table/instance limits, an epoch deadline that yields every tick,
//! then one typed call of `handler.invoke`. No deadline bookkeeping, no usage report, no log
//! budget, no capability recording, no typed errors: those are what Symphony adds.

use std::time::{Duration, Instant};

use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::BenchError;
use bindings::symphony::extension::host::{LogField, LogLevel};
use bindings::symphony::extension::types::{ExtensionError, Payload, Request, RequestContext, Response};
use symphony_types::policy::EffectiveLimits;

/// The raw host's own bindings of the newest WIT minor, generated here as a hand-written host
/// would: the sandbox's bindings stay private to it.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/v1.1.0",
        world: "extension",
        exports: { default: async },
    });
}

/// The `handler` export names, newest first.
const HANDLER_EXPORTS: [&str; 2] = ["symphony:extension/handler@1.1.0", "symphony:extension/handler@1.0.0"];
/// The host interface every sample imports (1.0.0 guests resolve to it semver-compatibly).
const HOST_INTERFACE: &str = "symphony:extension/host@1.1.0";

/// What a raw store holds: WASI, its resource table, wasmtime's limiter, the log lines.
struct RawState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    log_lines: usize,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// One component ready to call the raw way.
pub struct RawExtension {
    engine: Engine,
    pre: InstancePre<RawState>,
    invoke: ComponentExportIndex,
    fuel: u64,
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    fuel_on: bool,
    epochs_on: bool,
}

impl std::fmt::Debug for RawExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawExtension").field("fuel", &self.fuel).finish_non_exhaustive()
    }
}

impl RawExtension {
    /// Compile `wasm` on `engine` and link it with the minimal host, to run under `limits`.
    /// `fuel_on` / `epochs_on` must match how `engine` was configured.
    ///
    /// # Errors
    /// [`BenchError::Raw`] when wasmtime refuses the component or the linking.
    pub(crate) fn new(
        engine: &Engine,
        wasm: &[u8],
        limits: &EffectiveLimits,
        fuel_on: bool,
        epochs_on: bool,
    ) -> Result<Self, BenchError> {
        let component = Component::new(engine, wasm).map_err(raw_error("compile"))?;
        let mut linker: Linker<RawState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(raw_error("link WASI"))?;
        let mut host = linker.instance(HOST_INTERFACE).map_err(raw_error("link host"))?;
        host.func_wrap("log", |mut store, (_level, _message, _fields): (LogLevel, String, Vec<LogField>)| {
            store.data_mut().log_lines += 1;
            Ok(())
        })
        .map_err(raw_error("link log"))?;
        host.func_wrap("progress", |_store, (_fraction, _message): (f32, String)| Ok(()))
            .map_err(raw_error("link progress"))?;
        host.func_wrap("cancelled", |_store, (): ()| Ok((false,))).map_err(raw_error("link cancelled"))?;
        let pre = linker.instantiate_pre(&component).map_err(raw_error("pre-instantiate"))?;
        let invoke = HANDLER_EXPORTS
            .iter()
            .find_map(|name| {
                let handler = component.get_export_index(None, name)?;
                component.get_export_index(Some(&handler), "invoke")
            })
            .ok_or_else(|| BenchError::Raw { step: "find invoke", reason: "no handler export".into() })?;
        let l = &limits.limits;
        Ok(Self {
            engine: engine.clone(),
            pre,
            invoke,
            fuel: l.fuel,
            memory_bytes: usize::try_from(l.memory_bytes).unwrap_or(usize::MAX),
            table_elements: usize::try_from(l.table_elements).unwrap_or(usize::MAX),
            instances: usize::try_from(l.instances).unwrap_or(usize::MAX),
            fuel_on,
            epochs_on,
        })
    }

    /// One call: fresh store, limits, instantiate, `invoke`, drop. Returns the output bytes.
    ///
    /// # Errors
    /// [`BenchError::Raw`] on a trap or a guest error.
    pub async fn call(&self, content_type: &str, input: &[u8]) -> Result<Vec<u8>, BenchError> {
        self.call_timed(content_type, input, None).await
    }

    /// [`call`](Self::call), adding the time of each [`Phase`] to `phases` when given.
    ///
    /// # Errors
    /// [`BenchError::Raw`] on a trap or a guest error.
    pub async fn call_timed(
        &self,
        content_type: &str,
        input: &[u8],
        mut phases: Option<&mut PhaseTimes>,
    ) -> Result<Vec<u8>, BenchError> {
        // Untimed calls read no clock at all.
        let mut clock = phases.is_some().then(Instant::now);
        let mut mark = |phase: Phase, phases: &mut Option<&mut PhaseTimes>| {
            if let (Some(times), Some(started)) = (phases.as_deref_mut(), clock) {
                let now = Instant::now();
                times[phase as usize] += now - started;
                clock = Some(now);
            }
        };
        let state = RawState {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.memory_bytes)
                .table_elements(self.table_elements)
                .instances(self.instances)
                .build(),
            log_lines: 0,
        };
        mark(Phase::Context, &mut phases);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        if self.fuel_on {
            store.set_fuel(self.fuel).map_err(raw_error("set fuel"))?;
        }
        if self.epochs_on {
            store.set_epoch_deadline(1);
            store.epoch_deadline_async_yield_and_update(1);
        }
        mark(Phase::Store, &mut phases);
        let instance = self.pre.instantiate_async(&mut store).await.map_err(raw_error("instantiate"))?;
        mark(Phase::Instantiate, &mut phases);
        let invoke = instance
            .get_typed_func::<(&Request,), (Result<Response, ExtensionError>,)>(&mut store, &self.invoke)
            .map_err(raw_error("type invoke"))?;
        let request = Request {
            context: RequestContext { request_id: "raw".to_owned(), attempt: 1, deadline_remaining_ms: 0 },
            input: Payload { content_type: content_type.to_owned(), bytes: input.to_vec() },
        };
        let returned = invoke.call_async(&mut store, (&request,)).await.map_err(raw_error("invoke"));
        mark(Phase::Invoke, &mut phases);
        drop(store);
        mark(Phase::Teardown, &mut phases);
        match returned? {
            (Ok(response),) => Ok(response.output.bytes),
            (Err(err),) => Err(BenchError::Raw { step: "invoke", reason: format!("guest error: {err:?}") }),
        }
    }
}

/// The phases of one raw call, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Building the store's data: WASI context, resource table, limiter.
    Context,
    /// `Store::new`, limiter, fuel, epoch deadline.
    Store,
    /// `InstancePre::instantiate_async` (a pool slot, the guest's start functions).
    Instantiate,
    /// Typing the export, lowering the request, running the guest, lifting the response.
    Invoke,
    /// Dropping the store (the pool slot is reset for reuse).
    Teardown,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] =
        [Phase::Context, Phase::Store, Phase::Instantiate, Phase::Invoke, Phase::Teardown];

    /// Name in reports.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Phase::Context => "store data (WASI ctx, table, limiter)",
            Phase::Store => "Store::new + fuel + epoch",
            Phase::Instantiate => "instantiate from InstancePre",
            Phase::Invoke => "invoke (lower, run, lift)",
            Phase::Teardown => "drop store (slot reset)",
        }
    }
}

/// Accumulated time per [`Phase`].
pub type PhaseTimes = [Duration; 5];

fn raw_error(step: &'static str) -> impl Fn(wasmtime::Error) -> BenchError {
    move |err| BenchError::Raw { step, reason: format!("{err:#}") }
}
