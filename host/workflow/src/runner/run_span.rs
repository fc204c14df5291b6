//! The `tracing` spans of a workflow run and of each of its steps: the run's workflow, version
//! and run id, then its status; a step's id and extension, then its status, attempts, who
//! served it and whether a fallback did. The conductor's attempt spans open inside the step's.
//! Plain `tracing`: the host's telemetry exports them when configured; otherwise they are
//! disabled and cost a branch.

use tracing::Span;
use tracing::field::Empty;

use crate::run_result::{RunStatus, StepStatus};

/// The span of one run of `workflow` `version` (`run_id` when journaled).
pub(super) fn run_span(workflow: &str, version: &str, run_id: Option<&str>) -> Span {
    tracing::info_span!(
        "workflow.run",
        workflow = workflow,
        version = version,
        run_id = run_id.unwrap_or(""),
        status = Empty,
        otel.status_code = Empty,
    )
}

/// Record how the run ended.
pub(super) fn record_run(span: &Span, status: RunStatus) {
    if span.is_disabled() {
        return;
    }
    span.record("status", status.as_str());
    if status != RunStatus::Succeeded {
        span.record("otel.status_code", "error");
    }
}

/// The span of step `step` on `extension` (`name@version`).
pub(super) fn step_span(step: &str, extension: &str) -> Span {
    tracing::info_span!(
        "workflow.step",
        step = step,
        extension = extension,
        status = Empty,
        // Signed: OpenTelemetry's integers are, and a `u64` field would be exported as text.
        attempts = Empty,
        served_by = Empty,
        fallback = Empty,
        otel.status_code = Empty,
    )
}

/// Record how the step's call ended (`ok` when it produced an output).
pub(super) fn record_step(span: &Span, ok: bool, attempts: usize, served_by: &str, fallback: bool) {
    if span.is_disabled() {
        return;
    }
    span.record("status", if ok { StepStatus::Ok.as_str() } else { "error" });
    span.record("attempts", i64::try_from(attempts).unwrap_or(i64::MAX));
    span.record("served_by", served_by);
    span.record("fallback", fallback);
    if !ok {
        span.record("otel.status_code", "error");
    }
}
