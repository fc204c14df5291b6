//! The health-event → audit bridge: every breaker state change, anomaly, quarantine, lifting,
//! throttle and host-contention finding a conductor produces becomes an audit record.
//!
//! The health monitor hands its findings over synchronously through [`HealthEventSink`], so
//! they are in the chain before the call that caused them returns; breaker changes arrive on
//! the conductor's health event channel and are written by a task.

use std::sync::Arc;

use symphony_conductor::{BreakerState, Conductor, HealthEvent, HealthEventSink};

use super::{AuditEvent, AuditLog};

impl HealthEventSink for AuditLog {
    fn record(&self, event: &HealthEvent) {
        if let Some((extension, record)) = audit_record(event) {
            AuditLog::record(self, Some(extension), record);
        }
    }
}

/// Append every breaker state change of `conductor` to `audit`, and have its health monitor
/// (when there is one) append its anomalies, quarantines and throttles. Needs a tokio runtime;
/// the task ends when the conductor's event channel closes.
pub fn audit_health_events(conductor: &Conductor, audit: &AuditLog) {
    if let Some(monitor) = conductor.monitor() {
        monitor.attach_sink(Arc::new(audit.clone()));
    }
    let audit = audit.clone();
    let mut events = conductor.health().subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(HealthEvent::BreakerStateChanged {
                    extension, to, failure_ratio, open_for_ms, ..
                }) => {
                    let event = match to {
                        BreakerState::Open => AuditEvent::circuit_opened(
                            (failure_ratio.clamp(0.0, 1.0) * 100.0).round() as u64,
                            open_for_ms.unwrap_or(0),
                        ),
                        BreakerState::Closed => AuditEvent::circuit_closed(0),
                        BreakerState::HalfOpen => continue,
                    };
                    audit.record(Some(&extension), event);
                }
                // The health monitor hands its own findings over synchronously, through the sink.
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "audit fell behind breaker events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// The audit record for a monitor event (breaker changes are written by the task above).
fn audit_record(event: &HealthEvent) -> Option<(&str, AuditEvent)> {
    match event {
        HealthEvent::AnomalyDetected { extension, anomaly, action } => Some((
            extension,
            AuditEvent::anomaly_detected(
                anomaly.kind().as_str(),
                action.as_str(),
                serde_json::to_value(anomaly).unwrap_or_default(),
            ),
        )),
        HealthEvent::Quarantined { extension, reason, evidence, period_ms, nth } => Some((
            extension,
            AuditEvent::quarantined(format!("{reason} (quarantine #{nth}, {period_ms} ms): {evidence}")),
        )),
        HealthEvent::QuarantineLifted { extension, reason } => {
            Some((extension, AuditEvent::quarantine_lifted(reason.clone())))
        }
        HealthEvent::Throttled { extension, concurrency, period_ms } => {
            Some((extension, AuditEvent::throttled(*concurrency, *period_ms)))
        }
        HealthEvent::HostContention { extension, anomaly, host_shift, peers, .. } => Some((
            extension,
            AuditEvent::host_contention(
                anomaly.kind().as_str(),
                format!(
                    "{} — the {peers} other active extension(s) shifted {host_shift:.1}× too",
                    anomaly.summary()
                ),
            ),
        )),
        HealthEvent::BreakerStateChanged { .. } => None,
    }
}
