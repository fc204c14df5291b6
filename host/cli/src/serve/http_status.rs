//! The HTTP status of every typed call error, decided on the variant (never on its text), and
//! the `Retry-After` it carries when waiting helps.
//!
//! | error | status |
//! |---|---|
//! | guest `invalid_input`, conductor `exceeds_budget` | 422 |
//! | guest `rate_limited` | 429 |
//! | guest `unavailable` / `resource_exhausted`, host `instance_pool_exhausted`, conductor `circuit_open`, `quarantined`, `overloaded`, `retry_budget_exhausted`, `cancelled` | 503 |
//! | host `input_too_large` | 413 |
//! | host `extension_not_found` | 404 |
//! | conductor `request_deadline_exceeded` | 504 |
//! | the extension failed or broke a limit (guest `internal` / `unable_to_complete`, host fuel, deadline, memory, table, instance, stack, output, trap; conductor `contract_violation`) | 502 |
//! | the host cannot run it (invalid or unpinned component, bad manifest, identity or hash mismatch, …) | 500 |

use axum::http::StatusCode;

use symphony_conductor::breaker::failure::counts_as_failure;
use symphony_types::error::{CallError, ConductorError, ExtensionError, HostError};

/// The status for `error`.
#[must_use]
pub(crate) fn status_of(error: &CallError) -> StatusCode {
    match error {
        CallError::Guest(guest) => match guest {
            ExtensionError::InvalidInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ExtensionError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ExtensionError::Unavailable { .. } | ExtensionError::ResourceExhausted { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_GATEWAY,
        },
        CallError::Host(host) => match host {
            HostError::InputTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HostError::ExtensionNotFound { .. } => StatusCode::NOT_FOUND,
            HostError::PoolExhausted => StatusCode::SERVICE_UNAVAILABLE,
            // The limits and traps the breaker counts against the extension: it broke them.
            _ if counts_as_failure(error) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        CallError::Conductor(conductor) => match conductor {
            ConductorError::ExceedsBudget { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ConductorError::RequestDeadlineExceeded { .. } => StatusCode::GATEWAY_TIMEOUT,
            ConductorError::ContractViolation { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        },
    }
}

/// `Retry-After` in whole seconds (rounded up, at least 1), when the error says when to retry.
#[must_use]
pub(crate) fn retry_after_secs(error: &CallError) -> Option<u64> {
    error.retry_after_ms().map(|ms| ms.div_ceil(1_000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_that_waiting_fixes_are_503_with_a_retry_after() {
        let open = CallError::Conductor(ConductorError::CircuitOpen {
            extension: "miner@1.0.0".into(),
            retry_after_ms: 1_500,
        });
        assert_eq!(status_of(&open), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after_secs(&open), Some(2));
        let bad = CallError::Guest(ExtensionError::InvalidInput { message: "no".into() });
        assert_eq!((status_of(&bad), retry_after_secs(&bad)), (StatusCode::UNPROCESSABLE_ENTITY, None));
        let fuel = CallError::Host(HostError::OutOfFuel { limit_fuel: 10 });
        assert_eq!(status_of(&fuel), StatusCode::BAD_GATEWAY);
    }
}
