//! What the runner makes of a step's conducted outcome before it settles: whether a refusal
//! names a recovery worth waiting for (an open breaker or a quarantine ending within the step's
//! deadline), the outcome of a step refused before the conductor ran it, and an outcome after
//! an earlier one (attempts and usage added up).

use std::time::{Duration, Instant};

use symphony_conductor::ConductedOutcome;
use symphony_types::error::{CallError, ConductorError};

/// When `refusal` names a wait that ends before `deadline`: why, on which extension, how long.
pub(super) fn recovery_wait(
    refusal: &ConductorError,
    deadline: Instant,
) -> Option<(&'static str, String, Duration)> {
    let (reason, extension, after_ms) = match refusal {
        ConductorError::CircuitOpen { extension, retry_after_ms } => {
            ("circuit_open", extension, *retry_after_ms)
        }
        ConductorError::Quarantined { extension, retry_after_ms } => {
            ("quarantined", extension, *retry_after_ms)
        }
        _ => return None,
    };
    let after = Duration::from_millis(after_ms.max(1));
    (Instant::now() + after < deadline).then(|| (reason, extension.clone(), after))
}

/// The outcome of a step refused before the conductor ran it.
pub(super) fn refused(served_by: &str, error: ConductorError) -> ConductedOutcome {
    ConductedOutcome {
        result: Err(CallError::Conductor(error)),
        json: None,
        served_by: served_by.to_owned(),
        attempts: Vec::new(),
        fallback: false,
        degraded: false,
        usage: Default::default(),
        last_attempt_error: None,
        log: None,
    }
}

/// `later` after `earlier`: attempts and usage add up, the result is the later one's.
pub(super) fn merge(earlier: Option<ConductedOutcome>, mut later: ConductedOutcome) -> ConductedOutcome {
    if let Some(mut earlier) = earlier {
        earlier.attempts.append(&mut later.attempts);
        later.attempts = earlier.attempts;
        later.usage = earlier.usage.combined(later.usage);
        later.fallback |= earlier.fallback;
    }
    later
}
