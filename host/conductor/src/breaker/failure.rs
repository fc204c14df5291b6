//! What a breaker counts: which errors say the *extension* is unhealthy, and how one finished
//! call (its result and how long it took) becomes a success, a failure, or no evidence at all.
//!
//! Classifying errors as transient or fatal for retrying is [`symphony_types::error`]'s job; the two
//! questions differ (a guest that keeps trapping is not worth retrying *and* is unhealthy).

use std::time::Duration;

use symphony_types::error::{CallError, ConductorError, ExtensionError, HostError};

/// Whether `error` is evidence that the extension is unhealthy, so it counts against its
/// breaker.
///
/// Counts:
/// - guest errors of class transient or recoverable (`unavailable`, `rate_limited`,
///   `resource_exhausted`, `unable_to_complete`, `internal`): the guest says it cannot serve;
/// - every limit the guest breaches while running (fuel, deadline, memory, tables, core
///   instances, stack, output size) and every trap, although they are fatal for retrying: a
///   guest that keeps breaching or trapping is unhealthy, and shedding its calls saves the
///   resources each breach burns.
///
/// Does not count (the outcome says nothing about the extension's health):
/// - errors caused by the caller's input: the guest's `invalid_input`, and the host's
///   `input_too_large` (the guest never ran);
/// - `instance_pool_exhausted`: the process as a whole is busy, not this extension, and
///   shedding belongs to admission control rather than to one extension's breaker;
/// - load-time refusals (invalid component or manifest, incompatible API, hash mismatch,
///   unpinned): no guest code ran, they fail fast anyway, and an open breaker would hide the
///   real cause behind `circuit_open`;
/// - conductor errors (circuit open, budgets, deadlines, cancellation): the conductor's own
///   decisions, not the guest's.
///
/// Calls whose error does not count are left out of the window entirely rather than counted
/// as successes, so a caller sending bad input can neither trip a breaker nor hold one closed.
#[must_use]
pub fn counts_as_failure(error: &CallError) -> bool {
    // Exhaustive on purpose (the taxonomy's enums are closed): a new variant does not compile
    // until someone decides whether it counts.
    match error {
        CallError::Guest(guest) => match guest {
            ExtensionError::InvalidInput { .. } => false,
            ExtensionError::Unavailable { .. }
            | ExtensionError::RateLimited { .. }
            | ExtensionError::ResourceExhausted { .. }
            | ExtensionError::UnableToComplete { .. }
            | ExtensionError::Internal { .. } => true,
        },
        CallError::Host(host) => match host {
            HostError::OutOfFuel { .. }
            | HostError::DeadlineExceeded { .. }
            | HostError::MemoryLimit { .. }
            | HostError::TableLimit { .. }
            | HostError::InstanceLimit { .. }
            | HostError::StackOverflow { .. }
            | HostError::OutputTooLarge { .. }
            | HostError::GuestTrap { .. }
            | HostError::MetadataTooLarge { .. } => true,
            HostError::InputTooLarge { .. }
            | HostError::SandboxTaskFailed { .. }
            | HostError::IdentityMismatch { .. }
            | HostError::PoolExhausted
            | HostError::InvalidComponent { .. }
            | HostError::ExtensionNotFound { .. }
            | HostError::ManifestInvalid(_)
            | HostError::IncompatibleApi { .. }
            | HostError::HashMismatch { .. }
            | HostError::Unpinned { .. } => false,
        },
        CallError::Conductor(conductor) => match conductor {
            // The guest ran and produced output a data contract rejects.
            ConductorError::ContractViolation { .. } => true,
            ConductorError::CircuitOpen { .. }
            | ConductorError::RetryBudgetExhausted { .. }
            | ConductorError::RequestDeadlineExceeded { .. }
            | ConductorError::Overloaded { .. }
            | ConductorError::ExceedsBudget { .. }
            | ConductorError::Cancelled
            | ConductorError::Quarantined { .. } => false,
        },
    }
}

/// How one finished call counts in the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A success no slower than `slow_call_ms`.
    Success,
    /// An error that [`counts_as_failure`], or a slow success.
    Failure,
    /// No evidence either way: left out of the window, and a half-open probe slot is freed.
    Ignored,
}

impl Verdict {
    /// Judge a call that returned `outcome` after `elapsed`; `slow_call_ms` in milliseconds.
    pub(super) fn of<T>(outcome: &Result<T, CallError>, elapsed: Duration, slow_call_ms: u64) -> Self {
        match outcome {
            Ok(_) if elapsed > Duration::from_millis(slow_call_ms) => Self::Failure,
            Ok(_) => Self::Success,
            Err(error) if counts_as_failure(error) => Self::Failure,
            Err(_) => Self::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_types::error::TrapCode;

    fn guest(error: ExtensionError) -> CallError {
        CallError::Guest(error)
    }

    #[test]
    fn unhealthy_guest_errors_count_and_invalid_input_does_not() {
        assert!(counts_as_failure(&guest(ExtensionError::Unavailable {
            message: "down".into(),
            retry_after_ms: None
        })));
        assert!(counts_as_failure(&guest(ExtensionError::RateLimited {
            message: "slow down".into(),
            retry_after_ms: 10
        })));
        assert!(counts_as_failure(&guest(ExtensionError::Internal { message: "bug".into() })));
        assert!(!counts_as_failure(&guest(ExtensionError::InvalidInput { message: "no".into() })));
    }

    #[test]
    fn breaches_and_traps_count_but_caller_and_load_errors_do_not() {
        assert!(counts_as_failure(&HostError::OutOfFuel { limit_fuel: 1 }.into()));
        assert!(counts_as_failure(&HostError::DeadlineExceeded { limit_ms: 1 }.into()));
        assert!(counts_as_failure(&HostError::MemoryLimit { requested_bytes: 2, limit_bytes: 1 }.into()));
        assert!(counts_as_failure(&HostError::OutputTooLarge { size_bytes: 2, limit_bytes: 1 }.into()));
        assert!(counts_as_failure(
            &HostError::GuestTrap { code: TrapCode::Unreachable, message: "panic".into() }.into()
        ));
        assert!(!counts_as_failure(&HostError::InputTooLarge { size_bytes: 2, limit_bytes: 1 }.into()));
        assert!(!counts_as_failure(&HostError::PoolExhausted.into()));
        assert!(!counts_as_failure(
            &HostError::IncompatibleApi { found: "x".into(), supported: "y".into() }.into()
        ));
    }

    #[test]
    fn conductor_errors_do_not_count() {
        assert!(!counts_as_failure(&ConductorError::Cancelled.into()));
        assert!(!counts_as_failure(
            &ConductorError::CircuitOpen { extension: "a@1.0.0".into(), retry_after_ms: 5 }.into()
        ));
    }

    #[test]
    fn a_success_slower_than_the_threshold_is_a_failure() {
        let ok: Result<(), CallError> = Ok(());
        assert_eq!(Verdict::of(&ok, Duration::from_millis(100), 100), Verdict::Success);
        assert_eq!(Verdict::of(&ok, Duration::from_millis(101), 100), Verdict::Failure);
        let invalid: Result<(), CallError> =
            Err(guest(ExtensionError::InvalidInput { message: "no".into() }));
        assert_eq!(Verdict::of(&invalid, Duration::ZERO, 100), Verdict::Ignored);
    }
}
