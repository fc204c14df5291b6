//! What `symphony health` and embedders see: one [`ExtensionHealth`] per `extension@version`
//! with its status, breaker state, baselines, quarantine or throttle, error kinds and recent
//! anomalies with their evidence.

use std::collections::BTreeMap;

use serde::Serialize;

use super::history::{AnomalyRecord, ExtensionHistory, Quarantine};
use super::sample::Metric;
use crate::BreakerState;

/// Recent anomalies shown per extension.
pub const REPORTED_ANOMALIES: usize = 8;

/// An extension's health at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Nothing acted on recently.
    Healthy,
    /// Serving, but throttled, behind a breaker that is not closed, or with a recent anomaly
    /// that was acted on.
    Degraded,
    /// Taken out of service for a period.
    Quarantined,
}

impl HealthState {
    /// Stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Quarantined => "quarantined",
        }
    }
}

/// One metric's baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MetricBaseline {
    /// Median over the baseline window (`null` until enough calls).
    pub median: Option<f64>,
    /// Median absolute deviation over the baseline window.
    pub mad: Option<f64>,
    /// Moving average over every call.
    pub ewma: Option<f64>,
}

/// A quarantine in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineReport {
    /// The detector that caused it.
    pub reason: String,
    /// Start, milliseconds since the Unix epoch.
    pub since_unix_ms: u64,
    /// End, milliseconds since the Unix epoch.
    pub until_unix_ms: u64,
    /// Milliseconds left.
    pub remaining_ms: u64,
    /// This extension's quarantine count, this one included.
    pub nth: u32,
}

/// A throttle in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ThrottleReport {
    /// Concurrent calls allowed.
    pub concurrency: u32,
    /// Milliseconds left.
    pub remaining_ms: u64,
}

/// An anomaly as reported, with a readable summary beside its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportedAnomaly {
    /// One line of evidence.
    pub summary: String,
    /// The record: detector, evidence, action, when.
    #[serde(flatten)]
    pub record: AnomalyRecord,
}

/// One extension's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtensionHealth {
    /// `name@version`.
    pub extension: String,
    /// `healthy`, `degraded` or `quarantined`.
    pub status: HealthState,
    /// Its circuit breaker (forced open while quarantined).
    pub breaker: BreakerState,
    /// Calls observed.
    pub calls: u64,
    /// Calls that failed in a way that counts against health.
    pub failures: u64,
    /// Failures by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Baselines per metric.
    pub baselines: BTreeMap<Metric, MetricBaseline>,
    /// Quarantine in force.
    pub quarantine: Option<QuarantineReport>,
    /// Quarantines so far.
    pub quarantines: u32,
    /// Throttle in force.
    pub throttle: Option<ThrottleReport>,
    /// Most recent anomalies, newest last.
    pub recent_anomalies: Vec<ReportedAnomaly>,
    /// Time findings put down to the host's own load instead of this extension.
    pub host_contention: u64,
}

impl ExtensionHealth {
    /// Assemble the report for `extension` from its history.
    #[must_use]
    pub fn new(
        extension: &str,
        status: HealthState,
        breaker: BreakerState,
        history: &ExtensionHistory,
        quarantine: Option<(Quarantine, u64)>,
        throttle: Option<(u32, u64)>,
    ) -> Self {
        let baseline = history.baseline();
        let baselines = Metric::ALL
            .into_iter()
            .map(|metric| {
                let center = baseline.and_then(|b| b.metrics.get(&metric)).copied();
                (
                    metric,
                    MetricBaseline {
                        median: center.map(|c| c.0),
                        mad: center.map(|c| c.1),
                        ewma: history.ewma(metric),
                    },
                )
            })
            .collect();
        let anomalies: Vec<&AnomalyRecord> = history.anomalies().collect();
        let recent_anomalies = anomalies[anomalies.len().saturating_sub(REPORTED_ANOMALIES)..]
            .iter()
            .map(|record| ReportedAnomaly { summary: record.anomaly.summary(), record: (*record).clone() })
            .collect();
        Self {
            extension: extension.to_owned(),
            status,
            breaker,
            calls: history.calls,
            failures: history.failures,
            errors: history.errors.clone(),
            baselines,
            quarantine: quarantine.map(|(q, now_unix)| QuarantineReport {
                remaining_ms: q.until_unix_ms.saturating_sub(now_unix),
                reason: q.reason,
                since_unix_ms: q.since_unix_ms,
                until_unix_ms: q.until_unix_ms,
                nth: q.nth,
            }),
            quarantines: history.quarantines,
            throttle: throttle
                .map(|(concurrency, remaining_ms)| ThrottleReport { concurrency, remaining_ms }),
            recent_anomalies,
            host_contention: history.host_contention,
        }
    }
}
