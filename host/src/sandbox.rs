//! One call = one fresh `Store` instantiated from the extension's pre-instantiated template.
//!
//! Before the guest runs: input size is checked, fuel and the epoch deadline are set, the limiter
//! is installed. While it runs: the epoch callback yields to the executor every tick and
//! interrupts at the deadline; a tokio timeout backs that up for host calls epochs cannot
//! interrupt. After: traps become typed [`HostError`]s, output size is checked, usage is
//! reported. The store is dropped on every path, so a poisoned instance is never reused.
//!
//! Which generated bindings a call goes through depends on the API version the guest exports;
//! that dispatch is `sandbox/template.rs`'s.

mod template;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::component::{Component, Linker};
use wasmtime::{Store, Trap, UpdateDeadline};

use self::template::{Operation, Returned, Template};
use crate::audit::AuditEvent;
use crate::bindings::v1_1_0::symphony::extension::types;
use crate::call_log::CallLog;
use crate::call_state::CallState;
use crate::capability::CapabilityGrant;
use crate::capability::denials::{CapabilityDenial, DenialRecorder};
use crate::capability::http::HttpPolicy;
use crate::capability::wasi::build_wasi_ctx;
use crate::component_info::{ApiVersion, ComponentInfo, detect_api_version};
use crate::config::PlatformConfig;
use crate::engine::SandboxEngine;
use crate::error::{CallError, ExtensionError, HostError, TrapCode};
use crate::health_status::HealthStatus;
use crate::limits::limiter::{Breach, StoreLimiter};
use crate::manifest::ExtensionManifest;
use crate::payload::{CallRequest, CancelToken, Payload};
use crate::policy::EffectiveLimits;
use crate::state::StateDir;

/// Extra wall time granted past the deadline before the tokio timeout drops the call, so the
/// epoch interrupt (which reports precisely) normally wins.
const TIMEOUT_GRACE: Duration = Duration::from_millis(50);

/// What one call consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Fuel consumed, in fuel units (instantiation included).
    pub fuel: u64,
    /// Peak total linear memory, in bytes.
    pub memory_peak_bytes: u64,
    /// Wall time, in milliseconds.
    pub wall_ms: u64,
    /// Wall time, in microseconds.
    pub wall_us: u64,
}

/// The result of one call with what it consumed and logged.
#[derive(Debug)]
pub struct CallOutcome {
    /// The guest's output or why there is none.
    pub result: Result<Payload, CallError>,
    /// Resources consumed.
    pub usage: Usage,
    /// The guest's log (host `log` calls and, when granted, stdout/stderr), within its budget.
    pub log: CallLog,
    /// Attempts to use capabilities that were not granted (the guest got a WASI error or a
    /// locked-down answer; nothing trapped).
    pub denials: Vec<CapabilityDenial>,
    /// Last progress fraction the guest reported.
    pub progress: Option<f32>,
}

/// What an extension says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtensionMetadata {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Provided features.
    pub features: Vec<String>,
}

/// An extension compiled, linked and ready to call.
pub struct LoadedExtension {
    /// `name@version`, formatted once: every conducted call keys breakers and health by it.
    id: String,
    manifest: ExtensionManifest,
    limits: EffectiveLimits,
    grant: CapabilityGrant,
    info: ComponentInfo,
    template: Template,
    engine: Arc<SandboxEngine>,
    state: Option<Arc<StateDir>>,
}

impl std::fmt::Debug for LoadedExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedExtension")
            .field("id", &self.id)
            .field("api_version", &self.api_version())
            .field("limits", &self.limits.limits)
            .finish_non_exhaustive()
    }
}

/// What a run left behind besides its result.
struct RunReport {
    usage: Usage,
    log: CallLog,
    denials: Vec<CapabilityDenial>,
    progress: Option<f32>,
}

impl LoadedExtension {
    /// Compile and link the component a manifest names, with limits decided by `policy`.
    pub(crate) fn load(
        engine: Arc<SandboxEngine>,
        linker: &Linker<CallState>,
        manifest: ExtensionManifest,
        config: &PlatformConfig,
        state: Option<Arc<StateDir>>,
    ) -> Result<Self, HostError> {
        let path = manifest.component_path.clone();
        let bytes = std::fs::read(&path).map_err(|e| HostError::InvalidComponent {
            path: path.clone(),
            reason: format!("cannot read: {e} (run `symphony build` first?)"),
        })?;
        let info = ComponentInfo::inspect(&path, &bytes)?;
        if let Some(state) = &state {
            state.verify_pin(&manifest.id(), &path, &info.sha256)?;
        }
        let limits = config.policy.effective_limits(&manifest.limits);
        let grant = config.capabilities.grant(&manifest.name, &manifest.capabilities);
        if info.core_instances > limits.limits.instances {
            return Err(HostError::InstanceLimit {
                needed: info.core_instances,
                limit: limits.limits.instances,
            });
        }
        let component = match &state {
            Some(state) => state
                .cache()
                .load_or_compile(engine.wasmtime(), &bytes, &info.sha256)
                .map(|(component, outcome)| {
                    tracing::debug!(extension = %manifest.id(), cache = %outcome, "component ready");
                    component
                })
                .map_err(|e| HostError::InvalidComponent { path: path.clone(), reason: e.to_string() })?,
            None => Component::new(engine.wasmtime(), &bytes).map_err(|e| invalid(&path, &e))?,
        };
        let api_version = detect_api_version(engine.wasmtime(), &component)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| invalid(&path, &e))?;
        let template = Template::new(api_version, instance_pre).map_err(|e| invalid(&path, &e))?;
        if let Some(state) = &state {
            state
                .audit()
                .record(Some(&manifest.id()), AuditEvent::extension_loaded(&info.sha256, api_version));
        }
        Ok(Self { id: manifest.id(), manifest, limits, grant, info, template, engine, state })
    }

    /// `name@version`.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The manifest it was loaded from.
    #[must_use]
    pub fn manifest(&self) -> &ExtensionManifest {
        &self.manifest
    }

    /// The limits every call runs under, with why each has its value.
    #[must_use]
    pub fn limits(&self) -> &EffectiveLimits {
        &self.limits
    }

    /// The capabilities every call gets, with the decision for each one asked for.
    #[must_use]
    pub fn grant(&self) -> &CapabilityGrant {
        &self.grant
    }

    /// Hash, size and instance count of the component.
    #[must_use]
    pub fn component_info(&self) -> &ComponentInfo {
        &self.info
    }

    /// The WIT API version the component was built against (the newest `handler` export it has).
    #[must_use]
    pub fn api_version(&self) -> ApiVersion {
        self.template.api_version()
    }

    /// Run one request in a fresh sandbox.
    pub async fn call(&self, request: CallRequest) -> CallOutcome {
        let limits = self.limits.limits;
        let input_size = request.input.size_bytes();
        if input_size > limits.input_bytes {
            return CallOutcome {
                result: Err(HostError::InputTooLarge {
                    size_bytes: input_size,
                    limit_bytes: limits.input_bytes,
                }
                .into()),
                usage: Usage::default(),
                log: CallLog::new(limits.log_bytes),
                denials: Vec::new(),
                progress: None,
            };
        }
        // A caller with less time left than the call's own deadline (the conductor's request
        // deadline) shortens it; it never lengthens it.
        let deadline_ms =
            request.deadline_cap_ms.map_or(limits.deadline_ms, |cap| cap.min(limits.deadline_ms));
        let wit_request = types::Request {
            context: types::RequestContext {
                request_id: request.request_id,
                attempt: request.attempt,
                deadline_remaining_ms: deadline_ms,
            },
            input: types::Payload { content_type: request.input.content_type, bytes: request.input.bytes },
        };
        let (returned, report) = self.run(Operation::Invoke(wit_request), request.cancel, deadline_ms).await;
        let result = match returned {
            Ok(Returned::Invoke(Ok(response))) => {
                let output = Payload::new(response.output.content_type, response.output.bytes);
                let size = output.size_bytes();
                if size > limits.output_bytes {
                    Err(HostError::OutputTooLarge { size_bytes: size, limit_bytes: limits.output_bytes }
                        .into())
                } else {
                    Ok(output)
                }
            }
            Ok(Returned::Invoke(Err(guest))) => Err(CallError::Guest(guest_error(guest))),
            Ok(_) => Err(CallError::Host(mismatched("invoke"))),
            Err(host) => Err(CallError::Host(host)),
        };
        if let Some(state) = &self.state {
            self.audit_call(state, &result, &report.denials);
        }
        CallOutcome {
            result,
            usage: report.usage,
            log: report.log,
            denials: report.denials,
            progress: report.progress,
        }
    }

    /// Append what a call did that security reviewers care about: breaches and denials.
    fn audit_call(
        &self,
        state: &StateDir,
        result: &Result<Payload, CallError>,
        denials: &[CapabilityDenial],
    ) {
        let id = &self.id;
        if let Err(CallError::Host(err)) = result
            && let Some(event) = AuditEvent::from_host_error(err)
        {
            state.audit().record(Some(id), event);
        }
        for denial in denials {
            let target = format!("{} ({} attempts)", denial.target, denial.attempts);
            state
                .audit()
                .record(Some(id), AuditEvent::capability_denied(&denial.capability.to_string(), &target));
        }
    }

    /// Ask the extension for its name, version and features (in a fresh sandbox).
    ///
    /// # Errors
    /// [`CallError::Host`] when the sandbox stops the call.
    pub async fn describe(&self) -> Result<ExtensionMetadata, CallError> {
        match self.run(Operation::Describe, CancelToken::new(), self.limits.limits.deadline_ms).await.0 {
            Ok(Returned::Describe(m)) => {
                Ok(ExtensionMetadata { name: m.name, version: m.version, features: m.features })
            }
            Ok(_) => Err(CallError::Host(mismatched("describe"))),
            Err(host) => Err(CallError::Host(host)),
        }
    }

    /// Ask the extension how it is doing (`handler.health`, in a fresh sandbox under the same
    /// limits as a call).
    ///
    /// A guest built against API 1.0.0 has no `health` export: it is reported
    /// [`HealthStatus::Ready`] without running anything, as a 1.1.0 guest keeping the SDK's
    /// default would be ([`ApiVersion::exports_health`] tells the two apart).
    ///
    /// # Errors
    /// [`CallError::Host`] when the sandbox stops the call (a trap, a limit).
    pub async fn health(&self) -> Result<HealthStatus, CallError> {
        if !self.api_version().exports_health() {
            return Ok(HealthStatus::Ready);
        }
        match self.run(Operation::Health, CancelToken::new(), self.limits.limits.deadline_ms).await.0 {
            Ok(Returned::Health(status)) => Ok(health_status(status)),
            Ok(_) => Err(CallError::Host(mismatched("health"))),
            Err(host) => Err(CallError::Host(host)),
        }
    }

    /// The data of one call's store: WASI context built from the grant (denials recorded), the
    /// log within its budget, the HTTP policy, the limiter, the deadline the epoch callback checks.
    pub(crate) fn call_state(&self, cancel: CancelToken, deadline: Instant) -> CallState {
        let limits = self.limits.limits;
        let log = Arc::new(Mutex::new(CallLog::new(limits.log_bytes)));
        let denials = DenialRecorder::default();
        CallState {
            wasi: build_wasi_ctx(&self.grant, &denials, &log),
            table: wasmtime::component::ResourceTable::new(),
            limiter: StoreLimiter::new(limits.memory_bytes, limits.table_elements, limits.instances),
            log,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_policy: HttpPolicy {
                allowed: self.grant.network.clone(),
                denials: denials.clone(),
                timeout: Duration::from_millis(limits.http_timeout_ms),
                response_limit_bytes: limits.http_response_bytes,
            },
            denials,
            fs_granted: !self.grant.filesystem.is_empty(),
            env_granted: !self.grant.env.is_empty(),
            progress: None,
            cancel,
            deadline,
            deadline_hit: false,
        }
    }

    /// Instantiate into a fresh store, run one operation under every limit, and tear down.
    async fn run(
        &self,
        operation: Operation,
        cancel: CancelToken,
        deadline_ms: u64,
    ) -> (Result<Returned, HostError>, RunReport) {
        let limits = self.limits.limits;
        let started = Instant::now();
        let deadline_len = Duration::from_millis(deadline_ms);
        let state = self.call_state(cancel, started + deadline_len);
        let metering = self.engine.metering();
        let mut store = Store::new(self.engine.wasmtime(), state);
        store.limiter(|state| &mut state.limiter);
        // Fuel and the epoch deadline both start at zero: set them before instantiation runs wasm.
        let fuel_set = if metering.fuel() { store.set_fuel(limits.fuel) } else { Ok(()) };
        if metering.epochs() {
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(|mut cx| {
                let state = cx.data_mut();
                if Instant::now() >= state.deadline {
                    state.deadline_hit = true;
                    Ok(UpdateDeadline::Interrupt)
                } else {
                    Ok(UpdateDeadline::Yield(1))
                }
            });
        }

        let returned = if let Err(e) = fuel_set {
            Err(HostError::GuestTrap { code: TrapCode::Other, message: format!("cannot set fuel: {e}") })
        } else {
            let run = self.template.run(&mut store, operation);
            match tokio::time::timeout(deadline_len + TIMEOUT_GRACE, run).await {
                Ok(Ok(returned)) => Ok(returned),
                Ok(Err(err)) => Err(self.host_error(&err, store.data(), deadline_ms)),
                Err(_elapsed) => Err(HostError::DeadlineExceeded { limit_ms: deadline_ms }),
            }
        };

        let wall = started.elapsed();
        // Without fuel metering nothing was counted: report 0 fuel units used.
        let fuel_left = if metering.fuel() { store.get_fuel().unwrap_or(0) } else { limits.fuel };
        let state = store.into_data();
        let usage = Usage {
            fuel: limits.fuel.saturating_sub(fuel_left),
            memory_peak_bytes: state.limiter.memory_peak_bytes(),
            wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
            wall_us: u64::try_from(wall.as_micros()).unwrap_or(u64::MAX),
        };
        drop(state.wasi);
        let log = Arc::try_unwrap(state.log)
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or_else(|shared| shared.lock().unwrap_or_else(PoisonError::into_inner).clone());
        (returned, RunReport { usage, log, denials: state.denials.snapshot(), progress: state.progress })
    }

    /// Turn whatever stopped the guest into the typed error that explains it.
    fn host_error(&self, err: &wasmtime::Error, state: &CallState, deadline_ms: u64) -> HostError {
        let limits = &self.limits.limits;
        let trap = err.downcast_ref::<Trap>().copied();
        match trap {
            Some(Trap::OutOfFuel) => return HostError::OutOfFuel { limit_fuel: limits.fuel },
            Some(Trap::Interrupt) => return HostError::DeadlineExceeded { limit_ms: deadline_ms },
            Some(Trap::StackOverflow) => {
                return HostError::StackOverflow { limit_bytes: self.engine.stack_bytes() };
            }
            _ => {}
        }
        if err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
            return HostError::PoolExhausted;
        }
        if state.deadline_hit {
            return HostError::DeadlineExceeded { limit_ms: deadline_ms };
        }
        // The guest's allocation failed because we refused the growth; whatever trap followed
        // (usually `unreachable` from the allocator's abort) is a consequence of that breach.
        match state.limiter.breach() {
            Some(Breach::Memory { requested_bytes, limit_bytes }) => {
                return HostError::MemoryLimit { requested_bytes, limit_bytes };
            }
            Some(Breach::Table { requested_elements, limit_elements }) => {
                return HostError::TableLimit { requested_elements, limit_elements };
            }
            None => {}
        }
        let code = match trap {
            Some(Trap::UnreachableCodeReached) => TrapCode::Unreachable,
            Some(Trap::MemoryOutOfBounds) => TrapCode::MemoryOutOfBounds,
            Some(Trap::TableOutOfBounds) => TrapCode::TableOutOfBounds,
            Some(Trap::IndirectCallToNull) => TrapCode::IndirectCallToNull,
            Some(Trap::BadSignature) => TrapCode::BadSignature,
            Some(Trap::IntegerOverflow) => TrapCode::IntegerOverflow,
            Some(Trap::IntegerDivisionByZero) => TrapCode::IntegerDivisionByZero,
            Some(Trap::BadConversionToInteger) => TrapCode::BadConversionToInteger,
            Some(Trap::HeapMisaligned) => TrapCode::HeapMisaligned,
            Some(Trap::CannotEnterComponent | Trap::CannotLeaveComponent) => TrapCode::ComponentModel,
            _ => TrapCode::Other,
        };
        HostError::GuestTrap { code, message: format!("{err:?}") }
    }
}

fn invalid(path: &Path, err: &wasmtime::Error) -> HostError {
    HostError::InvalidComponent { path: path.to_path_buf(), reason: format!("{err:#}") }
}

/// An answer to another operation than the one asked: a bug in the dispatch, never the guest's.
fn mismatched(operation: &str) -> HostError {
    HostError::GuestTrap {
        code: TrapCode::Other,
        message: format!("{operation} got another operation's answer"),
    }
}

fn health_status(status: types::HealthStatus) -> HealthStatus {
    match status {
        types::HealthStatus::Ready => HealthStatus::Ready,
        types::HealthStatus::Degraded(reason) => HealthStatus::Degraded(reason),
        types::HealthStatus::Unavailable(reason) => HealthStatus::Unavailable(reason),
    }
}

fn guest_error(err: types::ExtensionError) -> ExtensionError {
    use types::ExtensionError as E;
    match err {
        E::InvalidInput(message) => ExtensionError::InvalidInput { message },
        E::Unavailable(u) => {
            ExtensionError::Unavailable { message: u.message, retry_after_ms: u.retry_after_ms }
        }
        E::RateLimited(r) => {
            ExtensionError::RateLimited { message: r.message, retry_after_ms: r.retry_after_ms }
        }
        E::ResourceExhausted(message) => ExtensionError::ResourceExhausted { message },
        E::UnableToComplete(message) => ExtensionError::UnableToComplete { message },
        E::Internal(message) => ExtensionError::Internal { message },
    }
}
