//! The `tracing` span of one attempt the retrier makes: which extension and version, the
//! attempt number, and once it ended its outcome, error kind and layer. The sandbox's span for
//! the call (when the attempt reached the guest) opens inside it. Plain `tracing`: whether the
//! span goes anywhere is the process's subscriber's business (the host's telemetry exports it;
//! without a subscriber it is disabled and costs a branch).

use tracing::Span;
use tracing::field::{Empty, display};

use symphony_types::error::CallError;
use symphony_types::payload::Payload;

/// The span of attempt `attempt` on `extension` (`name@version`), its outcome left to
/// [`record`].
pub(super) fn attempt_span(extension: &str, attempt: u32) -> Span {
    let (name, version) = extension.split_once('@').unwrap_or((extension, ""));
    tracing::info_span!(
        "conductor.attempt",
        extension = name,
        version = version,
        // Signed: OpenTelemetry's integers are, and a `u64` field would be exported as text.
        attempt = i64::from(attempt),
        outcome = Empty,
        error_kind = Empty,
        error_source = Empty,
        otel.status_code = Empty,
    )
}

/// Record how the attempt ended: `outcome` `ok` or `error`, and the error's kind and layer.
pub(super) fn record(span: &Span, result: &Result<Payload, CallError>) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(_) => {
            span.record("outcome", "ok");
        }
        Err(error) => {
            span.record("outcome", "error");
            span.record("error_kind", error.kind());
            span.record("error_source", display(error.source_layer()));
            span.record("otel.status_code", "error");
        }
    }
}
