//! The data each call's `Store` owns, and the host services (`log`, `progress`, `cancelled`)
//! the guest imports. One `CallState` lives exactly as long as one call.
//!
//! The strings and lists a guest passes to `log` and `progress` arrive lifted by the canonical
//! ABI (bounded by the guest's own memory limit, and charged to its fuel per byte); what the
//! host keeps of them is bounded by the call's log and progress budgets, and once a budget is
//! spent nothing more is built.

use std::sync::PoisonError;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::v1_1_0::symphony::extension as wit;
use crate::capability::http::HttpPolicy;
use crate::capability::output_capture::SharedLog;
use crate::sandbox::limiter::StoreLimiter;
use symphony_types::call_log::LogLevel;
use symphony_types::capability::denials::DenialRecorder;
use symphony_types::limits::{LOG_FIELD_OVERHEAD_BYTES, LOG_RECORD_OVERHEAD_BYTES};
use symphony_types::payload::CancelToken;
use symphony_types::progress_log::{LiveProgress, ProgressLog};

/// Everything one call's store holds.
pub(crate) struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: StoreLimiter,
    /// The call's bounded log, shared with the captured stdio streams.
    pub(crate) log: SharedLog,
    /// Attempts at capabilities that were not granted.
    pub(crate) denials: DenialRecorder,
    /// Whether any directory / any variable was granted (otherwise asking is a denial).
    pub(crate) fs_granted: bool,
    pub(crate) env_granted: bool,
    /// wasi:http state and the network policy its requests go through.
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_policy: HttpPolicy,
    /// Progress the guest reported, within its budget.
    pub(crate) progress: ProgressLog,
    /// Where the caller watches progress as it happens, when it asked to.
    pub(crate) live_progress: Option<LiveProgress>,
    pub(crate) cancel: CancelToken,
    /// Wall-clock instant after which the epoch callback interrupts the guest.
    pub(crate) deadline: Instant,
    /// Set when the epoch callback interrupted the guest for its deadline.
    pub(crate) deadline_hit: bool,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { hooks: &mut self.http_policy, table: &mut self.table, ctx: &mut self.http }
    }
}

impl wit::types::Host for CallState {}

impl wit::host::Host for CallState {
    fn log(&mut self, level: wit::host::LogLevel, message: String, fields: Vec<wit::host::LogField>) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if !log.has_room() {
            // The budget is spent: count the record without building it.
            let text: usize = fields.iter().map(|f| f.key.len() + f.value.len()).sum();
            let weight = LOG_RECORD_OVERHEAD_BYTES
                .saturating_add((message.len() + text) as u64)
                .saturating_add(LOG_FIELD_OVERHEAD_BYTES.saturating_mul(fields.len() as u64));
            log.drop_record(weight);
            return;
        }
        let level = match level {
            wit::host::LogLevel::Trace => LogLevel::Trace,
            wit::host::LogLevel::Debug => LogLevel::Debug,
            wit::host::LogLevel::Info => LogLevel::Info,
            wit::host::LogLevel::Warn => LogLevel::Warn,
            wit::host::LogLevel::Error => LogLevel::Error,
        };
        let fields = fields.into_iter().map(|f| (f.key, f.value)).collect();
        log.push(level, message, fields);
    }

    fn progress(&mut self, fraction: f32, message: String) {
        self.progress.push(fraction, &message);
        // The live view is one fraction and one bounded message, so it needs no budget of its
        // own: it sees every update, also those the log no longer keeps.
        if let Some(live) = &self.live_progress {
            live.report(fraction, &message);
        }
    }

    fn cancelled(&mut self) -> bool {
        self.cancel.is_cancelled()
    }
}
