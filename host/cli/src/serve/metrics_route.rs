//! `GET /metrics`: the Prometheus text of everything recorded since serve started — per
//! extension calls by outcome, attempts, call duration and fuel histograms, retry-budget
//! refusals (the conductor), workflow runs by status and checkpoint commit latency (the
//! runner), reservation waits per priority (the pool) — plus what is read at scrape time: each
//! extension's breaker state and quarantine, the reservation pool's use and queue, the audit
//! log's written and dropped records, and trace export's counts (spans exported and dropped,
//! failed exports) from the telemetry snapshot.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

use super::routes::AppState;
use symphony_conductor::BreakerState;
use symphony_conductor::anomaly::HealthState;
use symphony_types::manifest::Priority;

/// Prometheus' text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Audit records dropped and written (read from the log at scrape time).
const AUDIT_DROPPED_TOTAL: &str = "symphony_audit_records_dropped_total";
const AUDIT_WRITTEN_TOTAL: &str = "symphony_audit_records_written_total";

/// Histogram buckets for durations, in seconds: 100 µs to 30 s.
const SECONDS_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];
/// Spans the collector accepted, from the telemetry snapshot.
const TELEMETRY_EXPORTED: &str = "symphony_telemetry_spans_exported_total";
/// Spans dropped at the full export queue.
const TELEMETRY_DROPPED: &str = "symphony_telemetry_spans_dropped_total";
/// Exports that failed.
const TELEMETRY_FAILURES: &str = "symphony_telemetry_export_failures_total";
/// Histogram buckets for fuel, in fuel units.
const FUEL_BUCKETS: &[f64] = &[1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Install the process's Prometheus recorder and switch the conductor's metrics on.
///
/// # Errors
/// [`BuildError`] when a recorder is already installed or the buckets are refused.
pub(crate) fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
            SECONDS_BUCKETS,
        )?
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(
                symphony_conductor::call_metrics::CALL_FUEL.to_owned(),
            ),
            FUEL_BUCKETS,
        )?
        .install_recorder()?;
    describe();
    symphony_conductor::call_metrics::enable();
    Ok(handle)
}

/// The `# HELP` line and unit of every series.
fn describe() {
    use symphony_conductor::call_metrics as call;
    use symphony_host::workflow::run_metrics as run;
    metrics::describe_counter!(
        call::CALLS_TOTAL,
        "Conducted calls per extension and outcome (ok or the error kind)."
    );
    metrics::describe_counter!(
        call::ATTEMPTS_TOTAL,
        "Attempts the conductor made per extension, retries included."
    );
    metrics::describe_histogram!(
        call::CALL_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Wall time of a conducted call."
    );
    metrics::describe_histogram!(
        call::CALL_FUEL,
        "Fuel a conducted call consumed, every attempt, in fuel units."
    );
    metrics::describe_counter!(
        call::RETRY_BUDGET_REFUSALS_TOTAL,
        "Retries refused because the retry budget was spent."
    );
    metrics::describe_histogram!(
        call::RESERVATION_WAIT_SECONDS,
        metrics::Unit::Seconds,
        "Time a call waited for its reservation (0 when admitted at once), per priority."
    );
    metrics::describe_counter!(
        AUDIT_DROPPED_TOTAL,
        "Audit records dropped (queue full or a failed write) since the log was opened."
    );
    metrics::describe_counter!(AUDIT_WRITTEN_TOTAL, "Audit records written since the log was opened.");
    metrics::describe_counter!(run::WORKFLOW_RUNS_TOTAL, "Finished workflow runs per workflow and status.");
    metrics::describe_histogram!(
        run::CHECKPOINT_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Durable (fsync'd) journal commits: step completions and run statuses."
    );
    metrics::describe_gauge!(
        "symphony_breaker_state",
        "Circuit breaker per extension: 0 closed, 1 half-open, 2 open."
    );
    metrics::describe_gauge!("symphony_extension_quarantined", "1 while the extension is quarantined.");
    metrics::describe_gauge!(
        "symphony_reservation_in_use_bytes",
        metrics::Unit::Bytes,
        "Memory reserved by calls in flight."
    );
    metrics::describe_gauge!("symphony_reservation_in_use_fuel", "Fuel reserved by calls in flight.");
    metrics::describe_gauge!("symphony_reservation_queued", "Calls waiting for a reservation, per priority.");
    metrics::describe_counter!(TELEMETRY_EXPORTED, "Spans the trace collector accepted.");
    metrics::describe_counter!(
        TELEMETRY_DROPPED,
        "Spans dropped because the export queue was full (the call went on)."
    );
    metrics::describe_counter!(
        TELEMETRY_FAILURES,
        "Trace exports that failed: collector unreachable, refusing or slower than the export timeout."
    );
}

pub(crate) async fn scrape(State(state): State<std::sync::Arc<AppState>>) -> Response {
    let platform = state.platform();
    if let Some(monitor) = platform.monitor() {
        for health in monitor.report(&state.extension_ids(), Some(platform.conductor().breakers())) {
            let breaker = match health.breaker {
                BreakerState::Closed => 0.0,
                BreakerState::HalfOpen => 1.0,
                BreakerState::Open => 2.0,
            };
            let extension = health.extension.clone();
            metrics::gauge!("symphony_breaker_state", "extension" => extension.clone()).set(breaker);
            let quarantined = if health.status == HealthState::Quarantined { 1.0 } else { 0.0 };
            metrics::gauge!("symphony_extension_quarantined", "extension" => extension).set(quarantined);
        }
    }
    if let Some(pool) = platform.conductor().pool() {
        let (memory, fuel) = pool.in_use();
        #[allow(clippy::cast_precision_loss)] // gauges are f64
        {
            metrics::gauge!("symphony_reservation_in_use_bytes").set(memory as f64);
            metrics::gauge!("symphony_reservation_in_use_fuel").set(fuel as f64);
            for priority in Priority::ALL {
                let queued = pool.queued_in(priority);
                metrics::gauge!("symphony_reservation_queued", "priority" => priority.as_str())
                    .set(queued as f64);
            }
        }
    }
    let telemetry = state.telemetry().snapshot();
    metrics::counter!(TELEMETRY_EXPORTED).absolute(telemetry.exported);
    metrics::counter!(TELEMETRY_DROPPED).absolute(telemetry.dropped);
    metrics::counter!(TELEMETRY_FAILURES).absolute(telemetry.export_failures);
    if let Some(state_dir) = platform.runtime().state() {
        metrics::counter!(AUDIT_DROPPED_TOTAL).absolute(state_dir.audit().dropped());
        metrics::counter!(AUDIT_WRITTEN_TOTAL).absolute(state_dir.audit().written());
    }
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], state.metrics().render()).into_response()
}
