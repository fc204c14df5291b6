//! One call = one fresh `Store` instantiated from the extension's pre-instantiated template.
//!
//! Every call runs on the guest executor (`engine/guest_executor.rs`), never on the caller's
//! runtime. Before the guest runs: input size is checked, fuel and the epoch deadline are set,
//! the limiter and the resource-table cap are installed. While it runs: it yields its thread
//! every fuel slice and every epoch tick, the epoch callback interrupts it at the deadline, and
//! a tokio timeout backs that up for host calls epochs cannot interrupt. After: traps become
//! typed [`HostError`]s (`sandbox/trap.rs`), output size is checked, the guest's error message
//! is cut to its limit (`sandbox/guest_error.rs`), usage is reported, including the time the
//! guest itself ran (`sandbox/guest_time.rs`). The store is dropped on every path, so a poisoned
//! instance is never reused. Each call has a `tracing` span, parented on the caller's side and
//! carried onto the guest executor (`sandbox/call_span.rs`).
//!
//! At load the component's `describe()` is checked against its manifest
//! (`sandbox/identity.rs`). Which generated bindings a call goes through depends on the API
//! version the guest exports; that dispatch is `sandbox/template.rs`'s.

mod call_span;
mod guest_error;
mod guest_time;
pub mod identity;
mod invoke;
pub(crate) mod limiter;
mod template;
mod trap;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::Instrument;
use wasmtime::component::Linker;
use wasmtime::{Store, UpdateDeadline};

use self::guest_error::{guest_error, health_status};
use self::guest_time::GuestTimed;
use self::template::{Operation, Returned, Template};
use crate::audit::AuditEvent;
use crate::bindings::v1_1_0::symphony::extension::types;
use crate::call_state::CallState;
use crate::capability::http::HttpPolicy;
use crate::capability::wasi::build_wasi_ctx;
use crate::component_info::{ApiVersion, ComponentInfo, detect_api_version};
use crate::config::PlatformConfig;
use crate::engine::{GUEST_YIELD_INTERVAL_FUEL, SandboxEngine};
use crate::integrity::UnpinnedComponents;
use crate::registry::{self, Trusted};
use crate::state::StateDir;
use limiter::StoreLimiter;
use symphony_types::call_log::CallLog;
use symphony_types::capability::CapabilityGrant;
use symphony_types::capability::denials::{CapabilityDenial, DenialRecorder};
use symphony_types::error::{CallError, HostError, TrapCode};
use symphony_types::health_status::HealthStatus;
use symphony_types::manifest::ExtensionManifest;
use symphony_types::payload::{CallRequest, CancelToken, Payload};
use symphony_types::policy::EffectiveLimits;
use symphony_types::progress_log::{LiveProgress, ProgressLog};
use symphony_types::usage::Usage;

/// Extra wall time granted past the deadline before the tokio timeout drops the call, so the
/// epoch interrupt (which reports precisely) normally wins.
const TIMEOUT_GRACE: Duration = Duration::from_millis(50);

/// The result of one call with what it consumed and logged. `E` is the error's type: the
/// taxonomy's [`CallError`], or another shape of it (the SDK's test harness gives guest errors
/// in the SDK's own type) through [`map_err`](Self::map_err).
#[derive(Debug)]
pub struct CallOutcome<E = CallError> {
    /// The guest's output or why there is none.
    pub result: Result<Payload, E>,
    /// Resources consumed.
    pub usage: Usage,
    /// The guest's log (host `log` calls and, when granted, stdout/stderr), within its budget.
    pub log: CallLog,
    /// Attempts to use capabilities that were not granted (the guest got a WASI error or a
    /// locked-down answer; nothing trapped).
    pub denials: Vec<CapabilityDenial>,
    /// Progress the guest reported (the latest fraction, and updates within the budget).
    pub progress: ProgressLog,
    /// Bytes cut from the guest's error message to fit `error_message_bytes` (0 when it fit).
    pub error_message_cut_bytes: u64,
}

impl<E> CallOutcome<E> {
    /// The same outcome with its error converted by `f`; usage, log, denials and progress as
    /// they are.
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> CallOutcome<F> {
        CallOutcome {
            result: self.result.map_err(f),
            usage: self.usage,
            log: self.log,
            denials: self.denials,
            progress: self.progress,
            error_message_cut_bytes: self.error_message_cut_bytes,
        }
    }
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

/// An extension compiled, linked, its identity verified, ready to call. Cheap to clone: clones
/// share the compiled component.
#[derive(Clone)]
pub struct LoadedExtension {
    shared: Arc<Shared>,
    /// What the component said about itself at load (and matched its manifest).
    metadata: ExtensionMetadata,
}

/// What every call of one extension shares; owned by the calls' tasks on the guest executor.
struct Shared {
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
            .field("id", &self.shared.id)
            .field("api_version", &self.api_version())
            .field("limits", &self.shared.limits.limits)
            .finish_non_exhaustive()
    }
}

/// What a run left behind besides its result.
struct RunReport {
    usage: Usage,
    log: CallLog,
    denials: Vec<CapabilityDenial>,
    progress: ProgressLog,
}

/// The budget one run gets: the extension's own, or less (the identity call, a caller's
/// shorter deadline).
#[derive(Debug, Clone, Copy)]
struct RunBudget {
    fuel: u64,
    deadline_ms: u64,
}

impl LoadedExtension {
    /// Compile and link the component a manifest names, with limits decided by `policy`, then
    /// ask it who it is (`describe()`, under small limits) and refuse it unless that matches
    /// the manifest.
    pub(crate) fn load(
        engine: Arc<SandboxEngine>,
        linker: &Linker<CallState>,
        manifest: ExtensionManifest,
        config: &PlatformConfig,
        state: Option<Arc<StateDir>>,
        unpinned: UnpinnedComponents,
    ) -> Result<Self, HostError> {
        let path = manifest.component_path.clone();
        let Trusted { info, component } = registry::prepare(&engine, &manifest, state.as_deref(), unpinned)?;
        let limits = config.policy.effective_limits(&manifest.limits);
        let grant = config.capabilities.grant(&manifest.name, &manifest.capabilities);
        if info.core_instances > limits.limits.instances {
            return Err(HostError::InstanceLimit {
                needed: info.core_instances,
                limit: limits.limits.instances,
            });
        }
        let api_version = detect_api_version(engine.wasmtime(), &component)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| invalid(&path, &e))?;
        let template = Template::new(api_version, instance_pre).map_err(|e| invalid(&path, &e))?;
        let shared =
            Arc::new(Shared { id: manifest.id(), manifest, limits, grant, info, template, engine, state });
        let verdict = Self::verify_identity(&shared);
        registry::audit_load(
            shared.state.as_deref(),
            &shared.id,
            verdict.as_ref().map(|_| (&shared.info, api_version)),
        );
        let metadata = verdict?;
        Ok(Self { shared, metadata })
    }

    /// Run `describe()` once on the guest executor, under the identity budget, and compare it
    /// with the manifest.
    fn verify_identity(shared: &Arc<Shared>) -> Result<ExtensionMetadata, HostError> {
        let limits = shared.limits.limits;
        let budget = RunBudget {
            fuel: limits.fuel.min(identity::IDENTITY_FUEL),
            deadline_ms: limits.deadline_ms.min(identity::IDENTITY_DEADLINE_MS),
        };
        let task = Arc::clone(shared);
        let described =
            shared.engine.guests().run_blocking(async move { task.describe(budget).await }).ok_or_else(
                || HostError::SandboxTaskFailed {
                    reason: "the identity call ended without an answer".into(),
                },
            )??;
        identity::verify(&shared.manifest, &described)?;
        Ok(described)
    }

    /// `name@version`.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The manifest it was loaded from.
    #[must_use]
    pub fn manifest(&self) -> &ExtensionManifest {
        &self.shared.manifest
    }

    /// What the component said about itself when it was loaded (it matched the manifest).
    #[must_use]
    pub fn metadata(&self) -> &ExtensionMetadata {
        &self.metadata
    }

    /// The limits every call runs under, with why each has its value.
    #[must_use]
    pub fn limits(&self) -> &EffectiveLimits {
        &self.shared.limits
    }

    /// The capabilities every call gets, with the decision for each one asked for.
    #[must_use]
    pub fn grant(&self) -> &CapabilityGrant {
        &self.shared.grant
    }

    /// Hash, size and instance count of the component.
    #[must_use]
    pub fn component_info(&self) -> &ComponentInfo {
        &self.shared.info
    }

    /// The WIT API version the component was built against (the newest `handler` export it has).
    #[must_use]
    pub fn api_version(&self) -> ApiVersion {
        self.shared.template.api_version()
    }

    /// Run one request in a fresh sandbox on the guest executor. Dropping the future stops the
    /// guest at its next yield.
    pub async fn call(&self, request: CallRequest) -> CallOutcome {
        let shared = Arc::clone(&self.shared);
        let limits = shared.limits.limits;
        // Made here, on the caller's task, so the attempt it belongs to is its parent.
        let span = call_span::call_span(&self.shared.id, request.attempt);
        let call = async move { shared.call(request).await }.instrument(span.clone());
        let outcome = match self.shared.engine.guests().spawn(call).await {
            Ok(outcome) => outcome,
            Err(join) => CallOutcome {
                result: Err(HostError::SandboxTaskFailed { reason: join.to_string() }.into()),
                usage: Usage::default(),
                log: CallLog::new(limits.log_bytes, limits.log_records),
                denials: Vec::new(),
                progress: ProgressLog::new(limits.progress_updates, limits.progress_bytes),
                error_message_cut_bytes: 0,
            },
        };
        call_span::record(&span, &outcome);
        outcome
    }

    /// Ask the extension for its name, version and features (in a fresh sandbox).
    ///
    /// # Errors
    /// [`CallError::Host`] when the sandbox stops the call or the metadata is over its limits.
    pub async fn describe(&self) -> Result<ExtensionMetadata, CallError> {
        let shared = Arc::clone(&self.shared);
        let budget = shared.full_budget();
        match self.shared.engine.guests().spawn(async move { shared.describe(budget).await }).await {
            Ok(described) => described.map_err(CallError::Host),
            Err(join) => Err(HostError::SandboxTaskFailed { reason: join.to_string() }.into()),
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
        let shared = Arc::clone(&self.shared);
        match self.shared.engine.guests().spawn(async move { shared.health().await }).await {
            Ok(status) => status,
            Err(join) => Err(HostError::SandboxTaskFailed { reason: join.to_string() }.into()),
        }
    }

    /// How long building one call's store data takes (the WASI context from the capability
    /// grant with denial recording, the bounded log, the HTTP policy, the limiter): the part of
    /// a call's cost the sandbox adds before the guest runs, without running it.
    #[must_use]
    pub fn store_data_cost(&self) -> Duration {
        let started = Instant::now();
        let state = self.shared.call_state(CancelToken::new(), None, None, started + Duration::from_secs(1));
        let built = started.elapsed();
        drop(state);
        built
    }
}

impl Shared {
    fn full_budget(&self) -> RunBudget {
        RunBudget { fuel: self.limits.limits.fuel, deadline_ms: self.limits.limits.deadline_ms }
    }

    /// One `invoke`, on the thread the caller's task runs on (the guest executor's).
    async fn call(&self, request: CallRequest) -> CallOutcome {
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
                log: CallLog::new(limits.log_bytes, limits.log_records),
                denials: Vec::new(),
                progress: ProgressLog::new(limits.progress_updates, limits.progress_bytes),
                error_message_cut_bytes: 0,
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
        let budget = RunBudget { fuel: limits.fuel, deadline_ms };
        let operation = Operation::Invoke(wit_request);
        let output_dir = request.workflow_output.as_deref();
        let (returned, report) =
            self.run(operation, request.cancel, request.live_progress, output_dir, budget).await;
        let mut error_message_cut_bytes = 0;
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
            Ok(Returned::Invoke(Err(guest))) => {
                let (error, cut) = guest_error(guest, limits.error_message_bytes);
                error_message_cut_bytes = cut;
                Err(CallError::Guest(error))
            }
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
            error_message_cut_bytes,
        }
    }

    /// One `describe`, under `budget`, its answer bounded by the metadata limits.
    async fn describe(&self, budget: RunBudget) -> Result<ExtensionMetadata, HostError> {
        match self.run(Operation::Describe, CancelToken::new(), None, None, budget).await.0 {
            Ok(Returned::Describe(m)) => {
                identity::check_size(&m.name, &m.version, &m.features, &self.limits.limits)?;
                Ok(ExtensionMetadata { name: m.name, version: m.version, features: m.features })
            }
            Ok(_) => Err(mismatched("describe")),
            Err(host) => Err(host),
        }
    }

    /// One `health`, under the extension's own budget.
    async fn health(&self) -> Result<HealthStatus, CallError> {
        match self.run(Operation::Health, CancelToken::new(), None, None, self.full_budget()).await.0 {
            Ok(Returned::Health(status)) => Ok(health_status(status, self.limits.limits.error_message_bytes)),
            Ok(_) => Err(CallError::Host(mismatched("health"))),
            Err(host) => Err(CallError::Host(host)),
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

    /// The data of one call's store: WASI context built from the grant (denials recorded), the
    /// log and progress within their budgets, the HTTP policy, the limiter, the resource table
    /// cap, the deadline the epoch callback checks; the caller's cancel token and live progress
    /// view, when it gave one, and its workflow run's staging directory (preopened when granted).
    fn call_state(
        &self,
        cancel: CancelToken,
        live_progress: Option<LiveProgress>,
        workflow_output: Option<&Path>,
        deadline: Instant,
    ) -> CallState {
        let limits = self.limits.limits;
        let log = Arc::new(Mutex::new(CallLog::new(limits.log_bytes, limits.log_records)));
        let denials = DenialRecorder::new(limits.denial_records);
        let mut table = wasmtime::component::ResourceTable::new();
        table.set_max_capacity(usize::try_from(limits.resources).unwrap_or(usize::MAX));
        let wasi = build_wasi_ctx(&self.grant, workflow_output, &denials, &log);
        CallState {
            wasi: wasi.ctx,
            table,
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
            fs_granted: !self.grant.filesystem.is_empty() || wasi.workflow_output,
            env_granted: !self.grant.env.is_empty(),
            progress: ProgressLog::new(limits.progress_updates, limits.progress_bytes),
            live_progress,
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
        live_progress: Option<LiveProgress>,
        workflow_output: Option<&Path>,
        budget: RunBudget,
    ) -> (Result<Returned, HostError>, RunReport) {
        let limits = self.limits.limits;
        let RunBudget { fuel, deadline_ms } = budget;
        let started = Instant::now();
        let deadline_len = Duration::from_millis(deadline_ms);
        let state = self.call_state(cancel, live_progress, workflow_output, started + deadline_len);
        let metering = self.engine.metering();
        let mut store = Store::new(self.engine.wasmtime(), state);
        store.limiter(|state| &mut state.limiter);
        // Fuel and the epoch deadline both start at zero: set them before instantiation runs wasm.
        // Between epoch ticks, a guest yields its thread every fuel slice.
        let fuel_set = if metering.fuel() {
            store
                .set_fuel(fuel)
                .and_then(|()| store.fuel_async_yield_interval(Some(GUEST_YIELD_INTERVAL_FUEL)))
        } else {
            Ok(())
        };
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

        let mut guest_ran = Duration::ZERO;
        let returned = if let Err(e) = fuel_set {
            Err(HostError::GuestTrap { code: TrapCode::Other, message: format!("cannot set fuel: {e}") })
        } else {
            let mut run = GuestTimed::new(self.template.run(&mut store, operation));
            let finished = tokio::time::timeout(deadline_len + TIMEOUT_GRACE, &mut run).await;
            guest_ran = run.ran();
            drop(run);
            match finished {
                Ok(Ok(returned)) => Ok(returned),
                Ok(Err(err)) => Err(trap::host_error(
                    &err,
                    store.data(),
                    &limits,
                    fuel,
                    deadline_ms,
                    self.engine.stack_bytes(),
                )),
                Err(_elapsed) => Err(HostError::DeadlineExceeded { limit_ms: deadline_ms }),
            }
        };

        let wall = started.elapsed();
        // Without fuel metering nothing was counted: report 0 fuel units used.
        let fuel_left = if metering.fuel() { store.get_fuel().unwrap_or(0) } else { fuel };
        let state = store.into_data();
        let usage = Usage {
            fuel: fuel.saturating_sub(fuel_left),
            memory_peak_bytes: state.limiter.memory_peak_bytes(),
            wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
            wall_us: u64::try_from(wall.as_micros()).unwrap_or(u64::MAX),
            guest_us: u64::try_from(guest_ran.as_micros()).unwrap_or(u64::MAX),
        };
        drop(state.wasi);
        let log = Arc::try_unwrap(state.log)
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or_else(|shared| shared.lock().unwrap_or_else(PoisonError::into_inner).clone());
        (returned, RunReport { usage, log, denials: state.denials.snapshot(), progress: state.progress })
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
