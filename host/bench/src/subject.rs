//! One extension reachable by the three paths the benchmarks compare: the raw wasmtime
//! baseline ([`RawExtension`]), a Symphony sandbox call, and a call through the conductor with
//! retry, reservation, the circuit breaker and the health monitor in the path (nothing failing).

use std::sync::Arc;

use super::BenchError;
use super::raw::RawExtension;
use symphony_conductor::{
    AnomalyPolicy, Clock, Conductor, ConductorConfig, Demand, HealthMonitor, ReservationPolicy, ResourcePool,
    SystemClock,
};
use symphony_host::runtime::Runtime;
use symphony_host::sandbox::LoadedExtension;
use symphony_types::payload::{CallRequest, Payload};

/// `conductor` judging every attempt with an in-memory health monitor on the default anomaly
/// policy, as `symphony run` does (minus the store, which is only written in batches).
#[must_use]
pub fn with_health_monitor(conductor: Conductor, clock: Arc<dyn Clock>) -> Conductor {
    let monitor = HealthMonitor::new(AnomalyPolicy::default(), clock, conductor.health().clone());
    conductor.with_monitor(monitor)
}

/// Which way a call reaches the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Hand-written wasmtime host.
    Raw,
    /// [`LoadedExtension::call`].
    Sandbox,
    /// [`Conductor::call_profile`] with a reservation pool and anomaly detection.
    Conductor,
}

impl Path {
    /// Every path, baseline first.
    pub const ALL: [Path; 3] = [Path::Raw, Path::Sandbox, Path::Conductor];

    /// Name in reports.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Path::Raw => "raw wasmtime",
            Path::Sandbox => "sandbox",
            Path::Conductor => "conductor",
        }
    }
}

/// An extension loaded once, callable by every [`Path`].
pub struct Subject {
    extension: Arc<LoadedExtension>,
    raw: RawExtension,
    conductor: Conductor,
    profile: String,
    demand: Demand,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject").field("extension", &self.extension).finish_non_exhaustive()
    }
}

impl Subject {
    /// Load `name` into `runtime` and link the same component for the raw path on the same
    /// engine, under the extension's effective limits.
    ///
    /// # Errors
    /// [`BenchError::Load`] or [`BenchError::Raw`].
    pub fn load(runtime: &Runtime, name: &str) -> Result<Self, BenchError> {
        let extension = runtime.load(name).map_err(|source| BenchError::load(name, source))?;
        let path = &extension.manifest().component_path;
        let wasm = std::fs::read(path)
            .map_err(|source| BenchError::Io { what: path.display().to_string(), source })?;
        let metering = runtime.engine().metering();
        let raw = RawExtension::new(
            runtime.engine().wasmtime(),
            &wasm,
            extension.limits(),
            metering.fuel(),
            metering.epochs(),
        )?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
        let pool = ResourcePool::new(ReservationPolicy::default(), Arc::clone(&clock));
        let conductor = with_health_monitor(
            Conductor::from_config(Arc::clone(&clock), ConductorConfig::default()).with_pool(pool),
            clock,
        );
        let profile = conductor.config().default_profile.clone();
        let demand = extension.demand();
        Ok(Self { extension: Arc::new(extension), raw, conductor, profile, demand })
    }

    /// The loaded extension.
    #[must_use]
    pub fn extension(&self) -> &Arc<LoadedExtension> {
        &self.extension
    }

    /// The raw wasmtime baseline of the same component.
    #[must_use]
    pub fn raw(&self) -> &RawExtension {
        &self.raw
    }

    /// One call by `path`.
    ///
    /// # Errors
    /// [`BenchError::CallFailed`] (or [`BenchError::Raw`]) when the call does not succeed: a
    /// benchmark of failing calls would measure the wrong thing.
    pub async fn call(&self, path: Path, input: &Payload) -> Result<(), BenchError> {
        let failed = |e: symphony_types::error::CallError| BenchError::CallFailed {
            extension: self.extension.manifest().id(),
            path: path.label(),
            message: e.to_string(),
        };
        match path {
            Path::Raw => self.raw.call(&input.content_type, &input.bytes).await.map(drop),
            Path::Sandbox => {
                self.extension.call(CallRequest::new(input.clone())).await.result.map(drop).map_err(failed)
            }
            Path::Conductor => self
                .conductor
                .call_profile(
                    &self.profile,
                    self.extension.as_ref(),
                    Some(self.demand),
                    CallRequest::new(input.clone()),
                )
                .await
                .result
                .map(drop)
                .map_err(failed),
        }
    }
}
