//! What every conducted call adds to the metrics, through the `metrics` facade. Nothing is
//! recorded (not even the labels built) until [`enable`] is called, after the embedder installs
//! a recorder (`symphony serve` installs the Prometheus one). Names follow Prometheus
//! conventions: `_total` counters, base units (seconds).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use symphony_types::error::{CallError, ConductorError};
use symphony_types::payload::Payload;
use symphony_types::usage::Usage;

/// Calls per extension and outcome (`ok` or the error's kind).
pub const CALLS_TOTAL: &str = "symphony_extension_calls_total";
/// Wall time of a conducted call (retries and waits included), in seconds.
pub const CALL_DURATION_SECONDS: &str = "symphony_extension_call_duration_seconds";
/// Fuel a conducted call consumed (every attempt), in fuel units.
pub const CALL_FUEL: &str = "symphony_extension_call_fuel";
/// Attempts the conductor made (retries included).
pub const ATTEMPTS_TOTAL: &str = "symphony_extension_attempts_total";
/// Retries refused because the retry budget was spent.
pub const RETRY_BUDGET_REFUSALS_TOTAL: &str = "symphony_retry_budget_refusals_total";

/// Time a call waited for its reservation (0 when admitted at once), per priority, in seconds.
pub const RESERVATION_WAIT_SECONDS: &str = "symphony_reservation_wait_seconds";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Start recording call metrics (once a `metrics` recorder is installed).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether call metrics are recorded.
#[must_use]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Record a reservation admitted at `priority` after waiting `waited`.
pub(crate) fn reservation_admitted(priority: symphony_types::manifest::Priority, waited: Duration) {
    if !enabled() {
        return;
    }
    metrics::histogram!(RESERVATION_WAIT_SECONDS, "priority" => priority.as_str())
        .record(waited.as_secs_f64());
}

/// Record one conducted call of `extension`.
pub(crate) fn record(
    extension: &str,
    result: &Result<Payload, CallError>,
    usage: &Usage,
    attempts: usize,
    took: Duration,
) {
    if !enabled() {
        return;
    }
    let outcome = match result {
        Ok(_) => "ok",
        Err(error) => error.kind(),
    };
    let extension = extension.to_owned();
    metrics::counter!(CALLS_TOTAL, "extension" => extension.clone(), "outcome" => outcome).increment(1);
    metrics::counter!(ATTEMPTS_TOTAL, "extension" => extension.clone())
        .increment(u64::try_from(attempts).unwrap_or(u64::MAX));
    metrics::histogram!(CALL_DURATION_SECONDS, "extension" => extension.clone()).record(took.as_secs_f64());
    #[allow(clippy::cast_precision_loss)] // a histogram of fuel: f64 is what it takes
    metrics::histogram!(CALL_FUEL, "extension" => extension.clone()).record(usage.fuel as f64);
    if matches!(result, Err(CallError::Conductor(ConductorError::RetryBudgetExhausted { .. }))) {
        metrics::counter!(RETRY_BUDGET_REFUSALS_TOTAL, "extension" => extension).increment(1);
    }
}
