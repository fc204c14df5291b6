//! [`Platform`]: the one assembly every entry point uses — the `symphony` CLI, the service and
//! an embedding application. From a [`PlatformConfig`] and a state directory it builds the
//! sandboxed [`Runtime`] (pins checked, compiled cache used, loads audited), and the
//! [`Conductor`] with the config's resilience profiles and routes, the reservation pool, the
//! health monitor over the state directory's history (`health.redb`), and the health-event →
//! audit bridge. A call through it resolves the extension's route: its profile, its demand on
//! the pool, its fallback chain and required features.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use symphony_host::{CallRequest, Platform, PlatformConfig};
//! let platform = Platform::open(PlatformConfig::load(None)?, ".symphony")?;
//! let echo = platform.load("echo")?;
//! let outcome = platform.call(&echo, CallRequest::json(&serde_json::json!({"a": 1}))?).await;
//! println!("{:?} served by {}", outcome.result, outcome.served_by);
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use symphony_conductor::anomaly::HealthStoreError;
use symphony_conductor::{
    Clock, ConductedOutcome, Conductor, FallbackStep, FallbackTarget, HealthMonitor, ResolvedStep,
    ResourcePool, SystemClock,
};
use symphony_types::error::{ConductorError, HostError};
use symphony_types::payload::{CallRequest, Payload};

use crate::audit::audit_health_events;
use crate::config::PlatformConfig;
use crate::engine::EngineError;
use crate::runtime::Runtime;
use crate::sandbox::LoadedExtension;
use crate::state::{StateDir, StateError};

/// Why a platform could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// The engine could not be built from the config.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The state directory (pins, audit log) could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// The health history could not be opened or read: without it the platform cannot tell
    /// whether an extension is quarantined, so it fails closed.
    #[error(transparent)]
    HealthStore(#[from] HealthStoreError),
}

/// A fallback step of a route that could not be resolved; the primary path runs without it.
#[derive(Debug)]
pub struct SkippedFallback {
    /// The step as configured.
    pub step: FallbackStep,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Why a fallback step was skipped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SkipReason {
    /// The fallback extension could not be loaded.
    #[error("cannot load it: {0}")]
    Load(#[source] HostError),
    /// A static fallback answer could not be encoded as a payload.
    #[error("cannot encode the static answer: {0}")]
    StaticAnswer(#[source] serde_json::Error),
}

/// The resolved fallback chain of a route, and the steps that could not be resolved.
pub struct FallbackChain {
    /// The steps tried in order after the primary fails.
    pub steps: Vec<ResolvedStep>,
    /// Steps left out, with why.
    pub skipped: Vec<SkippedFallback>,
}

/// Runtime plus conductor, assembled from one config exactly as the CLI runs them.
pub struct Platform {
    runtime: Runtime,
    conductor: Conductor,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").field("runtime", &self.runtime).finish_non_exhaustive()
    }
}

impl Platform {
    /// Assemble the platform over the state directory at `state_dir` (created if missing):
    /// pins, compiled cache, audit log and health history all live there. Call it inside a
    /// tokio runtime: breaker changes reach the audit log through a task.
    ///
    /// # Errors
    /// [`PlatformError`] when the engine, the state directory or the health history cannot be
    /// opened.
    pub fn open(config: PlatformConfig, state_dir: impl AsRef<Path>) -> Result<Self, PlatformError> {
        let state = StateDir::open(state_dir.as_ref())?;
        Self::from_runtime(Runtime::new(config)?.with_state(state))
    }

    /// Assemble the conductor around an already built `runtime`. With a state directory, the
    /// health history is read from it and findings are audited to its log; without one the
    /// monitor keeps its history in memory only.
    ///
    /// # Errors
    /// [`PlatformError::HealthStore`] when the state directory's health history cannot be
    /// opened.
    pub fn from_runtime(runtime: Runtime) -> Result<Self, PlatformError> {
        let config = runtime.config();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
        let pool = ResourcePool::new(config.reservation, Arc::clone(&clock));
        let store = match runtime.state() {
            Some(state) => {
                Some(Box::new(state.open_health_store()?) as Box<dyn symphony_conductor::HistoryStore>)
            }
            None => None,
        };
        let conductor = Conductor::from_config(clock, config.conductor.clone())
            .with_pool(pool)
            .with_anomaly_detection(config.anomaly.clone(), store)?;
        if let Some(state) = runtime.state() {
            audit_health_events(&conductor, state.audit());
        }
        Ok(Self { runtime, conductor })
    }

    /// The sandboxed runtime.
    #[must_use]
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The conductor every call goes through.
    #[must_use]
    pub fn conductor(&self) -> &Conductor {
        &self.conductor
    }

    /// The health monitor (baselines, anomalies, quarantines).
    #[must_use]
    pub fn monitor(&self) -> Option<&HealthMonitor> {
        self.conductor.monitor()
    }

    /// The platform config.
    #[must_use]
    pub fn config(&self) -> &PlatformConfig {
        self.runtime.config()
    }

    /// Load an extension by manifest path, directory or name (see [`Runtime::load`]).
    ///
    /// # Errors
    /// [`HostError`] when it cannot be found, is not trusted, or does not load.
    pub fn load(&self, reference: &str) -> Result<LoadedExtension, HostError> {
        self.runtime.load(reference)
    }

    /// Resolve the fallback chain configured for extension `name`.
    #[must_use]
    pub fn fallback_chain(&self, name: &str) -> FallbackChain {
        let route = self.conductor.config().route(name);
        let configured = route.map(|r| r.fallback.as_slice()).unwrap_or_default();
        let mut chain = FallbackChain { steps: Vec::with_capacity(configured.len()), skipped: Vec::new() };
        for step in configured {
            match step {
                FallbackStep::Extension(reference) => match self.runtime.load(reference) {
                    Ok(extension) => {
                        let features = extension.manifest().features.clone();
                        let demand = Some(extension.demand());
                        chain.steps.push(ResolvedStep::Target(FallbackTarget {
                            invoker: Arc::new(extension),
                            features,
                            demand,
                        }));
                    }
                    Err(e) => chain
                        .skipped
                        .push(SkippedFallback { step: step.clone(), reason: SkipReason::Load(e) }),
                },
                FallbackStep::Static(value) => match Payload::json(value) {
                    Ok(payload) => chain.steps.push(ResolvedStep::Static(payload)),
                    Err(e) => chain
                        .skipped
                        .push(SkippedFallback { step: step.clone(), reason: SkipReason::StaticAnswer(e) }),
                },
                FallbackStep::LastGood => chain.steps.push(ResolvedStep::LastGood),
            }
        }
        chain
    }

    /// One call through the conductor on the extension's route: its resilience profile, its
    /// demand on the reservation pool, its fallback chain and the features a fallback must
    /// provide. Fallback steps that cannot be resolved are left out with a warning, so a broken
    /// fallback never breaks the primary path.
    pub async fn call(&self, extension: &LoadedExtension, request: CallRequest) -> ConductedOutcome {
        let name = &extension.manifest().name;
        let config = self.conductor.config();
        let requires = config.route(name).map(|r| r.requires.clone()).unwrap_or_default();
        let profile = config.profile_name(name).to_owned();
        let chain = self.fallback_chain(name);
        for skipped in &chain.skipped {
            tracing::warn!(extension = %name, step = ?skipped.step, reason = %skipped.reason, "fallback skipped");
        }
        self.conductor
            .call_with_fallback(
                &profile,
                extension,
                Some(extension.demand()),
                &chain.steps,
                &requires,
                request,
            )
            .await
    }

    /// The refusal for `extension_id` (`name@version`) while the health history holds it in
    /// quarantine; `None` when it may run.
    #[must_use]
    pub fn quarantine_refusal(&self, extension_id: &str) -> Option<ConductorError> {
        let retry_after_ms = self.monitor()?.quarantine_remaining_ms(extension_id)?;
        Some(ConductorError::Quarantined { extension: extension_id.to_owned(), retry_after_ms })
    }

    /// Write the health history and the audit log through to disk.
    ///
    /// # Errors
    /// [`PlatformError::HealthStore`] when the health history cannot be written.
    pub fn flush(&self) -> Result<(), PlatformError> {
        if let Some(monitor) = self.monitor() {
            monitor.flush()?;
        }
        if let Some(state) = self.runtime.state() {
            state.audit().flush();
        }
        Ok(())
    }
}
