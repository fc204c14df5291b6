//! The conductor: what happens after the guest handled what it could and the sandbox enforced
//! its limits. Small composable layers over one [`Invoke`] trait — retry of transient errors
//! within a budget, a circuit breaker per `extension@version` shared by every caller — each its
//! own type with its own tests driven by a controllable [`Clock`], never by sleeps.
//!
//! Nothing here names a wasmtime type: the sandbox is reached through [`Invoke`], implemented for
//! [`LoadedExtension`](crate::LoadedExtension) in [`invoke`] and by fakes in tests.

pub mod breaker;
pub mod clock;
pub mod health;
pub mod invoke;
pub mod retry;

use std::sync::Arc;

use serde::Serialize;

pub use breaker::{BreakerPolicy, BreakerRegistry, CircuitBreaker, Guarded};
pub use clock::{Clock, ManualClock, SystemClock};
pub use health::{BreakerState, HealthEvent, HealthEvents};
pub use invoke::{Attempt, Invoke, InvokeOutcome};
pub use retry::{Retrier, RetryPolicy};

use crate::audit::{AuditEvent, AuditLog};
use crate::error::CallError;
use crate::payload::{CallRequest, Payload};
use crate::sandbox::Usage;

/// What a conducted call ended with, and how it got there.
#[derive(Debug)]
pub struct ConductedOutcome {
    /// The output, or the error that ended the call.
    pub result: Result<Payload, CallError>,
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
}

/// The `--json` fields a conducted call adds.
#[derive(Debug, Serialize)]
pub struct ConductedReport<'a> {
    /// `name@version` that served.
    pub served_by: &'a str,
    /// Every attempt.
    pub attempts: &'a [Attempt],
    /// Served by a fallback.
    pub fallback: bool,
    /// Degraded result.
    pub degraded: bool,
}

impl ConductedOutcome {
    /// The orchestration facts for reports.
    #[must_use]
    pub fn report(&self) -> ConductedReport<'_> {
        ConductedReport {
            served_by: &self.served_by,
            attempts: &self.attempts,
            fallback: self.fallback,
            degraded: self.degraded,
        }
    }
}

/// Retry inside a circuit breaker per `extension@version`, one of each shared by every caller
/// of this conductor (every workflow and tenant in the process).
#[derive(Debug)]
pub struct Conductor {
    retrier: Retrier,
    breakers: BreakerRegistry,
    breaker_policy: BreakerPolicy,
}

impl Conductor {
    /// A conductor on `clock` with the given policies.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>, retry: RetryPolicy, breaker: BreakerPolicy) -> Self {
        Self {
            retrier: Retrier::new(retry, Arc::clone(&clock)),
            breakers: BreakerRegistry::new(clock, HealthEvents::default()),
            breaker_policy: breaker,
        }
    }

    /// A conductor on real time with the default policies.
    #[must_use]
    pub fn with_defaults() -> Self {
        Self::new(Arc::new(SystemClock::default()), RetryPolicy::default(), BreakerPolicy::default())
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

    /// Append every breaker state change to `audit` (needs a tokio runtime; the task ends when
    /// the conductor's event channel closes).
    pub fn audit_health_events(&self, audit: AuditLog) {
        let mut events = self.health().subscribe();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(HealthEvent::BreakerStateChanged {
                        extension,
                        to,
                        failure_ratio,
                        open_for_ms,
                        ..
                    }) => {
                        let event = match to {
                            BreakerState::Open => AuditEvent::circuit_opened(
                                (failure_ratio.clamp(0.0, 1.0) * 100.0).round() as u64,
                                open_for_ms.unwrap_or(0),
                            ),
                            BreakerState::Closed => AuditEvent::circuit_closed(0),
                            BreakerState::HalfOpen => continue,
                        };
                        audit.record(Some(&extension), event);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "audit fell behind breaker events");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    /// Call `target` through its breaker, retrying transient failures within budget.
    pub async fn call(&self, target: &dyn Invoke, request: CallRequest) -> ConductedOutcome {
        let id = target.id();
        let breaker = self.breakers.for_extension(&id, &self.breaker_policy);
        let guarded = Guarded::new(target, breaker);
        let outcome = self.retrier.run(&guarded, request).await;
        ConductedOutcome {
            result: outcome.result,
            served_by: id,
            attempts: outcome.attempts,
            fallback: false,
            degraded: false,
            usage: outcome.usage_total,
        }
    }
}
