//! The data each call's `Store` owns, and the host services (`log`, `progress`, `cancelled`)
//! the guest imports. One `CallState` lives exactly as long as one call.

use std::sync::PoisonError;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::v1_1_0::symphony::extension as wit;
use crate::call_log::LogLevel;
use crate::capability::denials::DenialRecorder;
use crate::capability::http::HttpPolicy;
use crate::capability::output_capture::SharedLog;
use crate::limits::limiter::StoreLimiter;
use crate::payload::CancelToken;

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
    /// Last progress the guest reported, 0.0..=1.0.
    pub(crate) progress: Option<f32>,
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
        let level = match level {
            wit::host::LogLevel::Trace => LogLevel::Trace,
            wit::host::LogLevel::Debug => LogLevel::Debug,
            wit::host::LogLevel::Info => LogLevel::Info,
            wit::host::LogLevel::Warn => LogLevel::Warn,
            wit::host::LogLevel::Error => LogLevel::Error,
        };
        let fields = fields.into_iter().map(|f| (f.key, f.value)).collect();
        self.log.lock().unwrap_or_else(PoisonError::into_inner).push(level, message, fields);
    }

    fn progress(&mut self, fraction: f32, _message: String) {
        if fraction.is_finite() {
            self.progress = Some(fraction.clamp(0.0, 1.0));
        }
    }

    fn cancelled(&mut self) -> bool {
        self.cancel.is_cancelled()
    }
}
