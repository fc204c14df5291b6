//! The `tracing` span of one sandbox call: which extension and version, the attempt number,
//! and once the store is gone what the call consumed (fuel units, peak linear memory in bytes,
//! guest time in microseconds) and its error kind. It is made on the caller's task, so its
//! parent is the conductor's attempt, and handed to the guest executor with the call: spans the
//! guest's host calls make open inside it.

use tracing::Span;
use tracing::field::Empty;

use crate::sandbox::CallOutcome;

/// The span of a call of `extension` (`name@version`) at `attempt`, its results left to
/// [`record`].
pub(super) fn call_span(extension: &str, attempt: u32) -> Span {
    let (name, version) = extension.split_once('@').unwrap_or((extension, ""));
    tracing::info_span!(
        "sandbox.call",
        extension = name,
        version = version,
        attempt = i64::from(attempt),
        fuel = Empty,
        memory_peak_bytes = Empty,
        guest_us = Empty,
        outcome = Empty,
        error_kind = Empty,
        otel.status_code = Empty,
    )
}

/// Record what the call consumed and how it ended.
pub(super) fn record(span: &Span, outcome: &CallOutcome) {
    if span.is_disabled() {
        return;
    }
    span.record("fuel", int(outcome.usage.fuel));
    span.record("memory_peak_bytes", int(outcome.usage.memory_peak_bytes));
    span.record("guest_us", int(outcome.usage.guest_us));
    match &outcome.result {
        Ok(_) => {
            span.record("outcome", "ok");
        }
        Err(error) => {
            span.record("outcome", "error");
            span.record("error_kind", error.kind());
            span.record("otel.status_code", "error");
        }
    }
}

/// As `i64`, saturating: OpenTelemetry's integers are signed, and the bridge exports a `u64`
/// field as text.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
