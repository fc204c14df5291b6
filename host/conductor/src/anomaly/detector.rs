//! The five detectors. Each reads an extension's [`ExtensionHistory`] (the newest call already
//! in it) and returns typed [`Anomaly`] values carrying their evidence: the numbers compared and
//! the window they were compared over. Detectors only judge; what happens next is the monitor's.

use serde::{Deserialize, Serialize};

use super::history::{Baseline, ExtensionHistory, Window};
use super::policy::Thresholds;
use super::robust::{MAD_TO_SIGMA, median, robust_z, slope_by, spread_floor};
use super::sample::{Expectations, Metric};
use symphony_types::capability::denials::{CapabilityDenial, CapabilityKind};

/// Calls the trend predictor needs at least, and the newest of which must not decrease.
const MIN_TREND_CALLS: usize = 4;

/// Which detector fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// Sustained use well above the manifest's `[expected]` profile.
    ProfileViolation,
    /// An attempt to use a capability the manifest does not declare.
    UndeclaredCapability,
    /// A sustained jump against the extension's own history.
    BaselineShift,
    /// A failure ratio far above the extension's own baseline.
    ErrorBurst,
    /// Fuel or memory near the effective limit, or trending to cross it soon.
    ApproachingLimit,
}

impl AnomalyKind {
    /// Every detector.
    pub const ALL: [Self; 5] = [
        Self::ProfileViolation,
        Self::UndeclaredCapability,
        Self::BaselineShift,
        Self::ErrorBurst,
        Self::ApproachingLimit,
    ];

    /// Stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProfileViolation => "profile_violation",
            Self::UndeclaredCapability => "undeclared_capability",
            Self::BaselineShift => "baseline_shift",
            Self::ErrorBurst => "error_burst",
            Self::ApproachingLimit => "approaching_limit",
        }
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One anomaly with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "detector", rename_all = "snake_case")]
pub enum Anomaly {
    /// Most recent calls used more than `tolerance` × the declared typical value.
    ProfileViolation {
        /// What was compared.
        metric: Metric,
        /// The manifest's typical value.
        declared: u64,
        /// Median over the window.
        observed_median: u64,
        /// `observed_median / declared`.
        ratio: f64,
        /// The multiple that counts as a violation.
        tolerance: f64,
        /// Calls above `tolerance × declared`.
        calls_over: usize,
        /// Calls looked at.
        window_calls: usize,
    },
    /// A denied attempt at a capability the manifest never asked for.
    UndeclaredCapability {
        /// The capability.
        capability: CapabilityKind,
        /// What it aimed at.
        target: String,
        /// Attempts in the call.
        attempts: u64,
    },
    /// Most recent calls far above the baseline's median.
    BaselineShift {
        /// What shifted.
        metric: Metric,
        /// Baseline median.
        baseline_median: f64,
        /// Baseline median absolute deviation.
        baseline_mad: f64,
        /// Median of the recent window.
        recent_median: f64,
        /// Robust z-score of the recent median.
        z: f64,
        /// Recent calls that were shifted.
        calls_shifted: usize,
        /// Recent calls looked at.
        window_calls: usize,
        /// Calls in the baseline.
        baseline_calls: usize,
    },
    /// The recent failure ratio is far above the baseline's.
    ErrorBurst {
        /// Failures / calls in the recent window.
        recent_failure_ratio: f64,
        /// Failures / calls in the baseline.
        baseline_failure_ratio: f64,
        /// Failures in the recent window.
        failures: usize,
        /// Recent calls looked at.
        window_calls: usize,
        /// Calls in the baseline.
        baseline_calls: usize,
    },
    /// Near the limit on most recent calls, or trending to cross it within the horizon.
    ApproachingLimit {
        /// Fuel or memory.
        metric: Metric,
        /// The effective limit.
        limit: u64,
        /// The newest call's value.
        latest: u64,
        /// `latest / limit`.
        share_of_limit: f64,
        /// Recent calls at or above the "near" share.
        calls_near: usize,
        /// Calls looked at.
        window_calls: usize,
        /// Least-squares growth per call over the window.
        trend_per_call: f64,
        /// Calls until the trend crosses the limit, when it does within the horizon.
        projected_calls_to_limit: Option<f64>,
    },
}

impl Anomaly {
    /// Which detector produced it.
    #[must_use]
    pub fn kind(&self) -> AnomalyKind {
        match self {
            Self::ProfileViolation { .. } => AnomalyKind::ProfileViolation,
            Self::UndeclaredCapability { .. } => AnomalyKind::UndeclaredCapability,
            Self::BaselineShift { .. } => AnomalyKind::BaselineShift,
            Self::ErrorBurst { .. } => AnomalyKind::ErrorBurst,
            Self::ApproachingLimit { .. } => AnomalyKind::ApproachingLimit,
        }
    }

    /// The metric of a finding about time alone (a profile violation or baseline shift in
    /// guest time): the host's own load can cause those, so they are checked against the
    /// other extensions and never quarantine by themselves.
    #[must_use]
    pub fn time_metric(&self) -> Option<Metric> {
        match self {
            Self::ProfileViolation { metric, .. } | Self::BaselineShift { metric, .. }
                if metric.is_time() =>
            {
                Some(*metric)
            }
            _ => None,
        }
    }

    /// What repeats of the same finding share (detector plus metric or capability), so one
    /// sustained condition is reported once per window rather than on every call.
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Self::ProfileViolation { metric, .. }
            | Self::BaselineShift { metric, .. }
            | Self::ApproachingLimit { metric, .. } => format!("{}:{metric}", self.kind()),
            Self::UndeclaredCapability { capability, .. } => format!("{}:{capability}", self.kind()),
            Self::ErrorBurst { .. } => self.kind().as_str().to_owned(),
        }
    }

    /// One human line of evidence.
    #[must_use]
    pub fn summary(&self) -> String {
        match self {
            Self::ProfileViolation {
                metric,
                declared,
                observed_median,
                ratio,
                calls_over,
                window_calls,
                ..
            } => {
                format!(
                    "{metric}: median {} is {ratio:.1}× the declared {} ({calls_over}/{window_calls} calls over)",
                    metric.format(*observed_median as f64),
                    metric.format(*declared as f64),
                )
            }
            Self::UndeclaredCapability { capability, target, attempts } => {
                format!("{capability} not declared: {attempts} attempt(s) at {target}")
            }
            Self::BaselineShift {
                metric,
                baseline_median,
                recent_median,
                z,
                calls_shifted,
                window_calls,
                ..
            } => {
                format!(
                    "{metric}: recent median {} vs baseline {} ({:.1}×, z {z:.1}, {calls_shifted}/{window_calls} calls)",
                    metric.format(*recent_median),
                    metric.format(*baseline_median),
                    recent_median / baseline_median.max(metric.resolution()),
                )
            }
            Self::ErrorBurst {
                recent_failure_ratio, baseline_failure_ratio, failures, window_calls, ..
            } => {
                format!(
                    "{failures}/{window_calls} recent calls failed ({:.0}% vs baseline {:.0}%)",
                    recent_failure_ratio * 100.0,
                    baseline_failure_ratio * 100.0
                )
            }
            Self::ApproachingLimit {
                metric,
                limit,
                latest,
                share_of_limit,
                projected_calls_to_limit,
                ..
            } => {
                let trend = projected_calls_to_limit
                    .map(|calls| format!(", limit in ~{calls:.1} calls"))
                    .unwrap_or_default();
                format!(
                    "{metric}: {} is {:.0}% of the limit {}{trend}",
                    metric.format(*latest as f64),
                    share_of_limit * 100.0,
                    metric.format(*limit as f64),
                )
            }
        }
    }
}

/// Smallest absolute rise over the baseline median that can count as a shift, per metric:
/// below these, differences are noise (a busy machine, an allocator's rounding), not behaviour.
fn min_shift(metric: Metric) -> f64 {
    match metric {
        Metric::Fuel => 100_000.0,
        Metric::MemoryBytes => 1_048_576.0,
        Metric::GuestUs => 25_000.0,
        Metric::OutputBytes => 4_096.0,
    }
}

/// The newest call as the detectors see it beyond its sample.
#[derive(Debug, Clone, Copy)]
pub struct Latest<'a> {
    /// Capability attempts denied during it.
    pub denials: &'a [CapabilityDenial],
    /// Whether the sandbox stopped it (a trap or a limit): its runtime's failure path ran.
    pub stopped_by_host: bool,
}

/// Run every detector over `history` (newest call included) and the newest call. A windowed
/// finding is raised on a call that itself shows it (over the profile, shifted, failed, near
/// the limit or rising): a window that did not qualify before cannot qualify after a call that
/// adds nothing to it, so the other detectors are skipped, which keeps judging cheap.
#[must_use]
pub fn detect(
    history: &ExtensionHistory,
    latest: Latest<'_>,
    expectations: &Expectations,
    thresholds: &Thresholds,
) -> Vec<Anomaly> {
    let mut found = Vec::new();
    let newest = history.window(thresholds.recent_calls.max(thresholds.approaching_calls));
    let tail = |n: usize| newest.tail(n);
    if history.len() >= thresholds.min_profile_calls {
        profile_violations(tail(thresholds.recent_calls), expectations, thresholds, &mut found);
    }
    undeclared_capabilities(latest, expectations, &mut found);
    if let Some(baseline) = history.baseline() {
        let recent = tail(thresholds.recent_calls);
        if recent.len() >= thresholds.recent_calls {
            baseline_shifts(baseline, recent, thresholds, &mut found);
            error_burst(baseline, recent, thresholds, &mut found);
        }
    }
    approaching_limits(tail(thresholds.approaching_calls), expectations, thresholds, &mut found);
    found
}

fn sustained(count: usize, window: usize, thresholds: &Thresholds) -> bool {
    window > 0 && count as f64 >= thresholds.sustained_share * window as f64
}

fn profile_violations(
    window: Window<'_>,
    expectations: &Expectations,
    thresholds: &Thresholds,
    found: &mut Vec<Anomaly>,
) {
    for metric in Metric::ALL {
        let Some(declared) = metric.expected(&expectations.expected) else { continue };
        let bound = declared as f64 * thresholds.profile_tolerance;
        if window.last().is_none_or(|newest| metric.of(newest) as f64 <= bound) {
            continue;
        }
        let calls_over = window.iter().filter(|s| metric.of(s) as f64 > bound).count();
        if !sustained(calls_over, window.len(), thresholds) {
            continue;
        }
        let mut values: Vec<f64> = window.iter().map(|s| metric.of(s) as f64).collect();
        let observed = median(&mut values).unwrap_or(0.0);
        found.push(Anomaly::ProfileViolation {
            metric,
            declared,
            observed_median: observed as u64,
            ratio: observed / declared.max(1) as f64,
            tolerance: thresholds.profile_tolerance,
            calls_over,
            window_calls: window.len(),
        });
    }
}

/// Whether a denial is the guest runtime's own failure path rather than the guest's intent: a
/// Rust guest that panics or fails to allocate reads `RUST_BACKTRACE` and writes its message to
/// stderr. Those attempts are still denied and audited; they are just not anomalies.
fn failure_path(denial: &CapabilityDenial, stopped_by_host: bool) -> bool {
    stopped_by_host && matches!(denial.capability, CapabilityKind::Env | CapabilityKind::Stdio)
}

fn undeclared_capabilities(latest: Latest<'_>, expectations: &Expectations, found: &mut Vec<Anomaly>) {
    let Some(declared) = expectations.declared_capabilities else { return };
    let denials = latest.denials;
    let mut reported: Vec<CapabilityKind> = Vec::new();
    for denial in denials {
        if declared.contains(denial.capability)
            || reported.contains(&denial.capability)
            || failure_path(denial, latest.stopped_by_host)
        {
            continue;
        }
        reported.push(denial.capability);
        let attempts = denials.iter().filter(|d| d.capability == denial.capability).map(|d| d.attempts).sum();
        found.push(Anomaly::UndeclaredCapability {
            capability: denial.capability,
            target: denial.target.clone(),
            attempts,
        });
    }
}

fn baseline_shifts(
    baseline: &Baseline,
    recent: Window<'_>,
    thresholds: &Thresholds,
    found: &mut Vec<Anomaly>,
) {
    for metric in Metric::ALL {
        let Some(&(center, mad)) = baseline.metrics.get(&metric) else { continue };
        let sigma = MAD_TO_SIGMA * spread_floor(center, mad, metric.resolution());
        let shifted = |v: f64| {
            v > center * thresholds.shift_min_ratio
                && v - center >= min_shift(metric)
                && v - center > thresholds.shift_z * sigma
        };
        if recent.last().is_none_or(|newest| !shifted(metric.of(newest) as f64)) {
            continue;
        }
        let calls_shifted = recent.iter().filter(|s| shifted(metric.of(s) as f64)).count();
        if !sustained(calls_shifted, recent.len(), thresholds) {
            continue;
        }
        let mut values: Vec<f64> = recent.iter().map(|s| metric.of(s) as f64).collect();
        let recent_median = median(&mut values).unwrap_or(0.0);
        let z = robust_z(recent_median, center, mad, metric.resolution());
        found.push(Anomaly::BaselineShift {
            metric,
            baseline_median: center,
            baseline_mad: mad,
            recent_median,
            z,
            calls_shifted,
            window_calls: recent.len(),
            baseline_calls: baseline.calls,
        });
    }
}

fn error_burst(baseline: &Baseline, recent: Window<'_>, thresholds: &Thresholds, found: &mut Vec<Anomaly>) {
    if recent.last().is_none_or(|newest| !newest.failed) {
        return;
    }
    let failures = recent.iter().filter(|s| s.failed).count();
    let ratio = failures as f64 / recent.len() as f64;
    if ratio >= thresholds.error_burst_ratio
        && ratio - baseline.failure_ratio >= thresholds.error_burst_margin
    {
        found.push(Anomaly::ErrorBurst {
            recent_failure_ratio: ratio,
            baseline_failure_ratio: baseline.failure_ratio,
            failures,
            window_calls: recent.len(),
            baseline_calls: baseline.calls,
        });
    }
}

fn approaching_limits(
    window: Window<'_>,
    expectations: &Expectations,
    thresholds: &Thresholds,
    found: &mut Vec<Anomaly>,
) {
    if window.len() < MIN_TREND_CALLS {
        return;
    }
    for metric in [Metric::Fuel, Metric::MemoryBytes] {
        let Some(limit) = expectations.limit(metric).filter(|l| *l > 0) else { continue };
        let value = |i: usize| metric.of(window.get(i)) as f64;
        let n = window.len();
        let latest = value(n - 1);
        let near_bound = thresholds.approaching_share * limit as f64;
        if latest < near_bound && latest < value(n - 2) {
            // Neither near the limit nor rising on this call: nothing new to find.
            continue;
        }
        let calls_near = (0..n).filter(|i| value(*i) >= near_bound).count();
        let trend = slope_by(n, value).unwrap_or(0.0);
        let rising = (n - MIN_TREND_CALLS + 1..n).all(|i| value(i) >= value(i - 1));
        let to_limit = (limit as f64 - latest) / trend;
        let projected = (trend > 0.0 && rising && to_limit <= thresholds.trend_horizon_calls as f64)
            .then_some(to_limit.max(0.0));
        if calls_near * 2 > n || projected.is_some() {
            found.push(Anomaly::ApproachingLimit {
                metric,
                limit,
                latest: latest as u64,
                share_of_limit: latest / limit as f64,
                calls_near,
                window_calls: n,
                trend_per_call: trend,
                projected_calls_to_limit: projected,
            });
        }
    }
}
