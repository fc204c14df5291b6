//! The conductor: what happens after the guest handled what it could and the sandbox enforced
//! its limits. Small composable layers over one [`Invoke`] trait — retry of transient errors
//! within a budget, a circuit breaker per `extension@version` shared by every caller — each its
//! own type with its own tests driven by a controllable [`Clock`], never by sleeps.
//!
//! Nothing here names a wasmtime type (this crate does not depend on it): the sandbox is reached
//! through [`Invoke`], which the host implements for its loaded extensions and [`scripted`]
//! implements for tests.

pub mod anomaly;
pub mod breaker;
pub mod call_metrics;
pub mod clock;
pub mod fallback;
pub mod fallback_tally;
pub mod health;
pub mod invoke;
pub mod profile;
pub mod reservation;
pub mod retry;
pub mod scripted;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use anomaly::{AnomalyPolicy, HealthEventSink, HealthMonitor, HealthState, HistoryStore, Monitored};
pub use breaker::{BreakerPolicy, BreakerRecovery, BreakerRegistry, CircuitBreaker, Guarded};
pub use clock::{Clock, ManualClock, SystemClock};
pub use fallback::{FallbackStep, FallbackTarget, LastGoodCache, ResolvedStep};
pub use health::{BreakerState, HealthEvent, HealthEvents};
pub use invoke::{Attempt, Invoke, InvokeOutcome, ObservedOutcome};
pub use profile::{ConductorConfig, ResilienceProfile, Route};
pub use reservation::{Demand, ReservationPolicy, Reserved, ResourcePool};
pub use retry::{Retrier, RetryBudgets, RetryOutcome, RetryPolicy};

use fallback::{may_fall_back, provides_all};

use symphony_types::call_log::CallLog;
use symphony_types::error::{CallError, ConductorError};
use symphony_types::payload::{CallRequest, Payload};
use symphony_types::usage::Usage;

/// What a conducted call ended with, and how it got there.
#[derive(Debug)]
pub struct ConductedOutcome {
    /// The output, or the error that ended the call.
    pub result: Result<Payload, CallError>,
    /// The output already parsed as JSON, when the layer that produced it parsed it (a
    /// contract check); `None` says nothing about whether it is JSON.
    pub json: Option<serde_json::Value>,
    /// `name@version` that produced the result (or the last one tried).
    pub served_by: String,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Whether the result came from a fallback rather than the extension asked for.
    pub fallback: bool,
    /// Whether the result is a degraded one (static or cached), clearly not fresh.
    pub degraded: bool,
    /// What all attempts consumed together.
    pub usage: Usage,
    /// The last attempt's own error when `result` holds the conductor's instead (retry budget
    /// spent, cancelled after a failure): the more useful explanation of what went wrong.
    pub last_attempt_error: Option<CallError>,
    /// The guest log of the last attempt that ran, within its budget.
    pub log: Option<CallLog>,
}

/// Retry inside a circuit breaker per `extension@version`, then the route's fallback chain.
/// Breakers and retry budgets are shared by every caller of this conductor (every workflow and
/// tenant in the process); each call runs under the resilience profile its route names.
#[derive(Debug)]
pub struct Conductor {
    config: ConductorConfig,
    retriers: BTreeMap<String, Retrier>,
    breakers: BreakerRegistry,
    last_good: LastGoodCache,
    fallbacks: fallback_tally::FallbackTally,
    pool: Option<ResourcePool>,
    clock: Arc<dyn Clock>,
    monitor: Option<HealthMonitor>,
}

impl Conductor {
    /// A conductor on `clock` with one profile (`balanced`) made of these policies.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>, retry: RetryPolicy, breaker: BreakerPolicy) -> Self {
        let mut config = ConductorConfig::default();
        config.profiles.insert(config.default_profile.clone(), ResilienceProfile { retry, breaker });
        Self::from_config(clock, config)
    }

    /// A conductor on `clock` with the given profiles and routes.
    #[must_use]
    pub fn from_config(clock: Arc<dyn Clock>, config: ConductorConfig) -> Self {
        // Each profile keeps its own budgets, with its own `budget_ratio` and
        // `budget_min_retries_per_sec`, shared by every caller that calls through it.
        let retriers = config
            .profiles
            .iter()
            .map(|(name, profile)| {
                let budgets = RetryBudgets::from_policy(&profile.retry);
                (name.clone(), Retrier::new(profile.retry, Arc::clone(&clock)).with_budgets(budgets))
            })
            .collect();
        Self {
            retriers,
            breakers: BreakerRegistry::new(Arc::clone(&clock), HealthEvents::default()),
            last_good: LastGoodCache::default(),
            fallbacks: fallback_tally::FallbackTally::default(),
            pool: None,
            clock,
            monitor: None,
            config,
        }
    }

    /// Judge every attempt with a health monitor running `policy` on this conductor's clock
    /// and health events, remembering in `store` when given (history survives restarts).
    ///
    /// # Errors
    /// [`anomaly::HealthStoreError`] when the store cannot be read.
    pub fn with_anomaly_detection(
        self,
        policy: AnomalyPolicy,
        store: Option<Box<dyn HistoryStore>>,
    ) -> Result<Self, anomaly::HealthStoreError> {
        let clock = Arc::clone(&self.clock);
        let events = self.health().clone();
        let monitor = match store {
            Some(store) => HealthMonitor::with_store(policy, clock, events, store)?,
            None => HealthMonitor::new(policy, clock, events),
        };
        Ok(self.with_monitor(monitor))
    }

    /// Judge every attempt with `monitor` (which should publish on [`health`](Self::health)
    /// so subscribers and the audit log see its findings).
    #[must_use]
    pub fn with_monitor(mut self, monitor: HealthMonitor) -> Self {
        monitor.attach_breakers(self.breakers.clone());
        self.monitor = Some(monitor);
        self
    }

    /// The health monitor, when anomaly detection is on.
    #[must_use]
    pub fn monitor(&self) -> Option<&HealthMonitor> {
        self.monitor.as_ref()
    }

    /// Reserve each call's demand from `pool` before it runs (admission by priority).
    #[must_use]
    pub fn with_pool(mut self, pool: ResourcePool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The reservation pool calls reserve from, when there is one.
    #[must_use]
    pub fn pool(&self) -> Option<&ResourcePool> {
        self.pool.as_ref()
    }

    /// A conductor on real time with the built-in profiles and no routes.
    #[must_use]
    pub fn with_defaults() -> Self {
        Self::from_config(Arc::new(SystemClock::default()), ConductorConfig::default())
    }

    /// The profiles and routes in force.
    #[must_use]
    pub fn config(&self) -> &ConductorConfig {
        &self.config
    }

    /// Breaker state changes, for any embedder to subscribe to.
    #[must_use]
    pub fn health(&self) -> &HealthEvents {
        self.breakers.events()
    }

    /// The shared breakers.
    #[must_use]
    pub fn breakers(&self) -> &BreakerRegistry {
        &self.breakers
    }

    /// How often each extension's calls were served by a fallback.
    #[must_use]
    pub fn fallbacks(&self) -> &fallback_tally::FallbackTally {
        &self.fallbacks
    }

    /// Call `target` under the default profile, no fallback, no reservation.
    pub async fn call(&self, target: &dyn Invoke, request: CallRequest) -> ConductedOutcome {
        self.call_profile(&self.config.default_profile, target, None, request).await
    }

    /// Call `target` through its breaker, retrying transient failures within budget, under the
    /// named profile (the default profile when the name is unknown). With a pool and a
    /// `demand`, each attempt first reserves its resources (retry → reservation → breaker →
    /// extension: queueing neither counts as a slow call nor holds a half-open probe slot).
    /// With a health monitor, a quarantined extension is refused first and every attempt that
    /// ran the guest is observed.
    pub async fn call_profile(
        &self,
        profile: &str,
        target: &dyn Invoke,
        demand: Option<Demand>,
        request: CallRequest,
    ) -> ConductedOutcome {
        self.conduct(profile, target, demand, request, false).await
    }

    /// [`call_profile`](Self::call_profile), remembering a successful output for a later
    /// `last_good` fallback when `remember` (only routes with that step pay for hashing the
    /// input).
    async fn conduct(
        &self,
        profile: &str,
        target: &dyn Invoke,
        demand: Option<Demand>,
        request: CallRequest,
        remember: bool,
    ) -> ConductedOutcome {
        let started = std::time::Instant::now();
        let outcome = self.conduct_once(profile, target, demand, request, remember).await;
        call_metrics::record(
            &outcome.served_by,
            &outcome.result,
            &outcome.usage,
            outcome.attempts.len(),
            started.elapsed(),
        );
        outcome
    }

    async fn conduct_once(
        &self,
        profile: &str,
        target: &dyn Invoke,
        demand: Option<Demand>,
        request: CallRequest,
        remember: bool,
    ) -> ConductedOutcome {
        let profile_name = if self.config.profiles.contains_key(profile) {
            profile
        } else {
            self.config.default_profile.as_str()
        };
        let breaker_policy = self.config.profiles.get(profile_name).map(|p| p.breaker).unwrap_or_default();
        let id = target.id();
        let breaker = self.breakers.for_extension(&id, &breaker_policy);
        // Health first: a quarantined extension is refused before anything is reserved, and a
        // throttled one waits for a slot that it holds across its retries.
        let _slot = match &self.monitor {
            Some(monitor) => match monitor.admit(&id).await {
                Ok(slot) => slot,
                Err(refused) => {
                    if let ConductorError::Quarantined { retry_after_ms, .. } = &refused
                        && breaker.state() != BreakerState::Open
                    {
                        // Quarantined by an earlier process: the breaker shows it too.
                        breaker.force_open(*retry_after_ms);
                    }
                    return refused_outcome(id, refused);
                }
            },
            None => None,
        };
        let monitored = self.monitor.as_ref().map(|monitor| Monitored::new(target, monitor, id.clone()));
        let observed: &dyn Invoke = match &monitored {
            Some(monitored) => monitored,
            None => target,
        };
        let guarded = Guarded::new(observed, breaker);
        // The caller's class, when it gives one, replaces the manifest's.
        let demand = demand.map(|d| request.priority.map_or(d, |priority| Demand { priority, ..d }));
        let reserved = match (&self.pool, demand) {
            (Some(pool), Some(demand)) => Some(Reserved::new(&guarded, pool.clone(), demand)),
            _ => None,
        };
        let layered: &dyn Invoke = match &reserved {
            Some(reserved) => reserved,
            None => &guarded,
        };
        // The request is kept only when a successful output is to be remembered against it.
        let kept = remember.then(|| request.clone());
        // Profiles always include the built-ins, so a retrier exists; without one, one attempt.
        let outcome = match self.retriers.get(profile_name).or_else(|| self.retriers.values().next()) {
            Some(retrier) => retrier.run(layered, request).await,
            None => {
                let single = layered.invoke(request).await;
                RetryOutcome {
                    result: single.result,
                    json: single.json,
                    last_attempt_error: None,
                    attempts: Vec::new(),
                    usage_total: single.usage,
                    last_log: single.log,
                }
            }
        };
        if let (Some(request), Ok(output)) = (&kept, &outcome.result) {
            self.last_good.remember(&id, request, output);
        }
        ConductedOutcome {
            result: outcome.result,
            json: outcome.json,
            served_by: id,
            attempts: outcome.attempts,
            fallback: false,
            degraded: false,
            usage: outcome.usage_total,
            last_attempt_error: outcome.last_attempt_error,
            log: outcome.last_log,
        }
    }

    /// Call `primary` under `profile`; if it cannot serve, walk `chain`: each target that provides
    /// every `required` feature is conducted in turn, then degraded answers. The primary's
    /// successful outputs are remembered for `last_good` only when `chain` has that step.
    pub async fn call_with_fallback(
        &self,
        profile: &str,
        primary: &dyn Invoke,
        demand: Option<Demand>,
        chain: &[ResolvedStep],
        required: &[String],
        request: CallRequest,
    ) -> ConductedOutcome {
        if chain.is_empty() {
            // Nothing to fall back to: the request is not kept for a second try.
            let outcome = self.conduct(profile, primary, demand, request, false).await;
            self.fallbacks.record(&outcome.served_by, false, false);
            return outcome;
        }
        let remember = chain.iter().any(|step| matches!(step, ResolvedStep::LastGood));
        let mut outcome = self.conduct(profile, primary, demand, request.clone(), remember).await;
        let primary_id = outcome.served_by.clone();
        for step in chain {
            match &outcome.result {
                Ok(_) => break,
                Err(err) if !may_fall_back(err) => break,
                Err(_) => {}
            }
            match step {
                ResolvedStep::Target(target) => {
                    if !provides_all(&target.features, required) {
                        tracing::debug!(target = %target.invoker.id(), "fallback skipped: missing required features");
                        continue;
                    }
                    let next = self
                        .call_profile(
                            profile,
                            target.invoker.as_ref(),
                            target.demand,
                            request.clone().attempt(1),
                        )
                        .await;
                    outcome.attempts.extend(next.attempts);
                    outcome.usage = outcome.usage.combined(next.usage);
                    outcome.served_by = next.served_by;
                    outcome.result = next.result;
                    outcome.json = next.json;
                    outcome.last_attempt_error = next.last_attempt_error;
                    if next.log.is_some() {
                        outcome.log = next.log;
                    }
                    outcome.fallback = true;
                }
                ResolvedStep::Static(payload) => {
                    outcome.result = Ok(payload.clone());
                    outcome.json = None;
                    outcome.fallback = true;
                    outcome.degraded = true;
                    outcome.served_by = primary_id.clone();
                }
                ResolvedStep::LastGood => {
                    if let Some(payload) = self.last_good.recall(&primary_id, &request) {
                        outcome.result = Ok(payload);
                        outcome.json = None;
                        outcome.fallback = true;
                        outcome.degraded = true;
                        outcome.served_by = primary_id.clone();
                    }
                }
            }
        }
        self.fallbacks.record(&primary_id, outcome.fallback, outcome.degraded);
        outcome
    }
}

/// The outcome of a call the conductor refused before any attempt.
fn refused_outcome(id: String, refused: ConductorError) -> ConductedOutcome {
    let error = CallError::Conductor(refused);
    let attempt = Attempt {
        extension: id.clone(),
        attempt: 1,
        error_kind: Some(error.kind()),
        error_source: Some(error.source_layer()),
        backoff_ms: 0,
    };
    ConductedOutcome {
        result: Err(error),
        json: None,
        served_by: id,
        attempts: vec![attempt],
        fallback: false,
        degraded: false,
        usage: Usage::default(),
        last_attempt_error: None,
        log: None,
    }
}
