//! [`ConductorError`]: the orchestration layer's own refusals (breaker, budgets, deadline,
//! admission, quarantine), with their retry class.

use super::ErrorClass;

/// Orchestration refused or gave up on a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConductorError {
    /// The circuit breaker for this `extension@version` is open; the guest was not run.
    #[error("circuit open for {extension}: retry after {retry_after_ms} ms")]
    CircuitOpen {
        /// `name@version`.
        extension: String,
        /// When the breaker will let a probe through, in milliseconds.
        retry_after_ms: u64,
    },
    /// The extension's retry budget is spent: retrying now would amplify an outage.
    #[error("retry budget exhausted for {extension}")]
    RetryBudgetExhausted {
        /// `name@version`.
        extension: String,
    },
    /// The request's total deadline (all attempts together) passed.
    #[error("request deadline of {limit_ms} ms passed after {attempts} attempts")]
    RequestDeadlineExceeded {
        /// The total deadline, in milliseconds.
        limit_ms: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// Not enough resources to admit the call (shed or queue timeout).
    #[error("overloaded: {reason}")]
    Overloaded {
        /// Why it was not admitted.
        reason: String,
    },
    /// The call's demand is larger than the whole reservation budget: no amount of waiting
    /// would admit it, so it is not retried (raise `[reservation]` with the ceilings).
    #[error(
        "call needs {memory_bytes} bytes and {fuel} fuel units, more than the whole reservation budget \
         of {memory_budget_bytes} bytes and {fuel_budget} fuel units"
    )]
    ExceedsBudget {
        /// Memory the call reserves, in bytes.
        memory_bytes: u64,
        /// Fuel the call reserves, in fuel units.
        fuel: u64,
        /// The pool's memory budget, in bytes.
        memory_budget_bytes: u64,
        /// The pool's fuel budget, in fuel units.
        fuel_budget: u64,
    },
    /// The caller cancelled the call.
    #[error("cancelled by the caller")]
    Cancelled,
    /// The extension is quarantined by the health monitor; the guest was not run.
    #[error("{extension} is quarantined: retry after {retry_after_ms} ms or use a fallback")]
    Quarantined {
        /// `name@version`.
        extension: String,
        /// Time left in the quarantine, in milliseconds.
        retry_after_ms: u64,
    },
    /// A workflow step's output broke a data contract: its producer's output schema, or the input
    /// schema of a step it feeds. The consumer was not run; the producer's fallback chain may
    /// serve instead, and the violation counts against the producer's health.
    #[error("contract violation from step `{from}` to `{to}` at `{pointer}`: {reason}")]
    ContractViolation {
        /// The producing step's id.
        from: String,
        /// The consuming step's id, or the producing step's own id when its output schema failed.
        to: String,
        /// JSON pointer, in the value handed on, where validation failed (`""` is the whole value).
        pointer: String,
        /// What the schema expected, bounded in bytes.
        reason: String,
    },
}

impl ConductorError {
    /// Stable snake_case name of the variant.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CircuitOpen { .. } => "circuit_open",
            Self::RetryBudgetExhausted { .. } => "retry_budget_exhausted",
            Self::RequestDeadlineExceeded { .. } => "request_deadline_exceeded",
            Self::Overloaded { .. } => "overloaded",
            Self::ExceedsBudget { .. } => "exceeds_budget",
            Self::Cancelled => "cancelled",
            Self::Quarantined { .. } => "quarantined",
            Self::ContractViolation { .. } => "contract_violation",
        }
    }

    /// Whether retrying (later) can help.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::CircuitOpen { .. }
            | Self::RetryBudgetExhausted { .. }
            | Self::Overloaded { .. }
            | Self::Quarantined { .. } => ErrorClass::Transient,
            Self::RequestDeadlineExceeded { .. } | Self::ExceedsBudget { .. } | Self::Cancelled => {
                ErrorClass::Fatal
            }
            // The same producer will break the same contract again: another route may not.
            Self::ContractViolation { .. } => ErrorClass::Recoverable,
        }
    }

    /// When to try again, if the conductor knows.
    #[must_use]
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::CircuitOpen { retry_after_ms, .. } | Self::Quarantined { retry_after_ms, .. } => {
                Some(*retry_after_ms)
            }
            _ => None,
        }
    }
}
