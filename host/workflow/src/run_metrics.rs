//! What workflows add to the metrics (recorded once the conductor's metrics are
//! [enabled](symphony_conductor::call_metrics::enable)): runs by status, and how long each
//! durable checkpoint commit took.

use std::time::Duration;

use symphony_conductor::call_metrics::enabled;

use crate::run_result::RunStatus;

/// Finished runs per workflow and status.
pub const WORKFLOW_RUNS_TOTAL: &str = "symphony_workflow_runs_total";
/// fsync'd journal commits (a step's completion, a run's status), in seconds.
pub const CHECKPOINT_DURATION_SECONDS: &str = "symphony_workflow_checkpoint_duration_seconds";

/// Record a run of `workflow` that ended `status`.
pub(crate) fn run_finished(workflow: &str, status: RunStatus) {
    if !enabled() {
        return;
    }
    metrics::counter!(WORKFLOW_RUNS_TOTAL, "workflow" => workflow.to_owned(), "status" => status.as_str())
        .increment(1);
}

/// Record one durable checkpoint commit.
pub(crate) fn checkpoint_committed(took: Duration) {
    if enabled() {
        metrics::histogram!(CHECKPOINT_DURATION_SECONDS).record(took.as_secs_f64());
    }
}
