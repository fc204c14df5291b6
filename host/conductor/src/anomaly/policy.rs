//! What the health monitor judges and what it does about it: thresholds for every detector and
//! one [`Action`] per detector, from `[anomaly]` in `symphony.toml`. Every default is a named
//! constant with its unit and the reason for its value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::detector::AnomalyKind;

/// Calls kept per `extension@version` (the baseline window); older calls are forgotten, so
/// history is bounded whatever the call volume.
pub const DEFAULT_HISTORY_CALLS: usize = 256;
/// The most recent calls a sustained anomaly must show in: long enough that one odd call is
/// never "sustained", short enough to catch a change within a few seconds of traffic.
pub const DEFAULT_RECENT_CALLS: usize = 16;
/// Calls older than the recent window needed before a baseline is trusted (shift, burst).
pub const DEFAULT_MIN_BASELINE_CALLS: usize = 32;
/// Calls needed before the declared profile is judged: "sustained" needs a few calls at least.
pub const DEFAULT_MIN_PROFILE_CALLS: usize = 10;
/// Share of the recent window that must be anomalous for the anomaly to count as sustained.
pub const DEFAULT_SUSTAINED_SHARE: f64 = 0.8;
/// Observed use above this multiple of the declared typical value is a profile violation:
/// typical values are estimates, so twice is ordinary variation, three times is not.
pub const DEFAULT_PROFILE_TOLERANCE: f64 = 3.0;
/// Robust z-score (median/MAD, scaled to σ) above which a recent call is shifted.
pub const DEFAULT_SHIFT_Z: f64 = 6.0;
/// A shifted call is also at least this multiple of the baseline median: with tight baselines
/// (MAD near zero) a tiny absolute change has a huge z-score and means nothing.
pub const DEFAULT_SHIFT_MIN_RATIO: f64 = 2.0;
/// Recent failure ratio at or above which failures are a burst...
pub const DEFAULT_ERROR_BURST_RATIO: f64 = 0.5;
/// ...when it is also this far above the baseline failure ratio (a flaky extension that always
/// fails 40 % of its calls is not bursting).
pub const DEFAULT_ERROR_BURST_MARGIN: f64 = 0.3;
/// Share of an effective limit at which a call is "near" it.
pub const DEFAULT_APPROACHING_SHARE: f64 = 0.9;
/// Calls the approaching-limit detector looks at (majority near the limit, or the trend).
pub const DEFAULT_APPROACHING_CALLS: usize = 8;
/// A trend that crosses the limit within this many calls is reported before it does.
pub const DEFAULT_TREND_HORIZON_CALLS: u64 = 5;
/// Weight of the newest call in the moving averages reported as baselines.
pub const DEFAULT_EWMA_ALPHA: f64 = 0.1;
/// First quarantine period, in milliseconds: long enough for an operator to look.
pub const DEFAULT_QUARANTINE_MS: u64 = 600_000;
/// Each further quarantine of the same extension lasts this many times the previous one.
pub const DEFAULT_QUARANTINE_BACKOFF: f64 = 2.0;
/// Longest quarantine, in milliseconds (one day).
pub const DEFAULT_MAX_QUARANTINE_MS: u64 = 86_400_000;
/// Most extensions quarantined at once, as a share of the extensions the monitor knows; at
/// least one may always be quarantined. Detection can never take the platform down.
pub const DEFAULT_MAX_QUARANTINED_SHARE: f64 = 0.25;
/// Concurrent calls a throttled extension keeps.
pub const DEFAULT_THROTTLE_CONCURRENCY: u32 = 1;
/// How long a throttle lasts, in milliseconds.
pub const DEFAULT_THROTTLE_MS: u64 = 60_000;
/// How long a call waits for a throttled slot before it is refused as overloaded, in ms.
pub const DEFAULT_THROTTLE_WAIT_MS: u64 = 2_000;

/// What the platform does when a detector fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Audit and publish the anomaly; nothing else.
    Record,
    /// Also log a warning and report the extension degraded.
    Warn,
    /// Also lower its concurrency for a while.
    Throttle,
    /// Also force its breaker open for an escalating period.
    Quarantine,
}

impl Action {
    /// Stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::Warn => "warn",
            Self::Throttle => "throttle",
            Self::Quarantine => "quarantine",
        }
    }
}

/// Detector thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Calls kept per extension.
    pub history_calls: usize,
    /// Recent window, in calls.
    pub recent_calls: usize,
    /// Older calls needed before baselines are judged.
    pub min_baseline_calls: usize,
    /// Calls needed before the declared profile is judged.
    pub min_profile_calls: usize,
    /// Share of the recent window that makes an anomaly sustained (0..=1).
    pub sustained_share: f64,
    /// Multiple of the declared typical value that violates the profile (> 1).
    pub profile_tolerance: f64,
    /// Robust z-score of a shifted call.
    pub shift_z: f64,
    /// Minimum multiple of the baseline median for a shifted call (> 1).
    pub shift_min_ratio: f64,
    /// Recent failure ratio of a burst (0..=1).
    pub error_burst_ratio: f64,
    /// Margin over the baseline failure ratio (0..=1).
    pub error_burst_margin: f64,
    /// Share of a limit that is "near" it (0..=1).
    pub approaching_share: f64,
    /// Calls the approaching-limit detector looks at.
    pub approaching_calls: usize,
    /// Calls ahead a trend is projected.
    pub trend_horizon_calls: u64,
    /// Weight of the newest call in moving averages (0..=1).
    pub ewma_alpha: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            history_calls: DEFAULT_HISTORY_CALLS,
            recent_calls: DEFAULT_RECENT_CALLS,
            min_baseline_calls: DEFAULT_MIN_BASELINE_CALLS,
            min_profile_calls: DEFAULT_MIN_PROFILE_CALLS,
            sustained_share: DEFAULT_SUSTAINED_SHARE,
            profile_tolerance: DEFAULT_PROFILE_TOLERANCE,
            shift_z: DEFAULT_SHIFT_Z,
            shift_min_ratio: DEFAULT_SHIFT_MIN_RATIO,
            error_burst_ratio: DEFAULT_ERROR_BURST_RATIO,
            error_burst_margin: DEFAULT_ERROR_BURST_MARGIN,
            approaching_share: DEFAULT_APPROACHING_SHARE,
            approaching_calls: DEFAULT_APPROACHING_CALLS,
            trend_horizon_calls: DEFAULT_TREND_HORIZON_CALLS,
            ewma_alpha: DEFAULT_EWMA_ALPHA,
        }
    }
}

/// Quarantine periods and the platform-wide cap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuarantinePolicy {
    /// First period, in milliseconds.
    pub period_ms: u64,
    /// Growth per further quarantine (≥ 1).
    pub backoff_factor: f64,
    /// Longest period, in milliseconds.
    pub max_period_ms: u64,
    /// Most extensions quarantined at once, as a share of known extensions (0..=1; at least
    /// one is always allowed).
    pub max_share: f64,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        Self {
            period_ms: DEFAULT_QUARANTINE_MS,
            backoff_factor: DEFAULT_QUARANTINE_BACKOFF,
            max_period_ms: DEFAULT_MAX_QUARANTINE_MS,
            max_share: DEFAULT_MAX_QUARANTINED_SHARE,
        }
    }
}

impl QuarantinePolicy {
    /// The period of the `nth` quarantine (1-based), in milliseconds.
    #[must_use]
    pub fn period_for(&self, nth: u32) -> u64 {
        let factor =
            self.backoff_factor.max(1.0).powi(i32::try_from(nth.saturating_sub(1)).unwrap_or(i32::MAX));
        let period = (self.period_ms as f64 * factor).min(self.max_period_ms as f64);
        period as u64
    }

    /// How many of `known` extensions may be quarantined at once.
    #[must_use]
    pub fn cap(&self, known: usize) -> usize {
        ((known as f64 * self.max_share.clamp(0.0, 1.0)).floor() as usize).max(1)
    }
}

/// How a throttled extension is slowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottlePolicy {
    /// Concurrent calls it keeps (≥ 1).
    pub concurrency: u32,
    /// How long, in milliseconds.
    pub period_ms: u64,
    /// Wait for a slot before refusing, in milliseconds.
    pub wait_ms: u64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_THROTTLE_CONCURRENCY,
            period_ms: DEFAULT_THROTTLE_MS,
            wait_ms: DEFAULT_THROTTLE_WAIT_MS,
        }
    }
}

/// The whole `[anomaly]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyPolicy {
    /// Whether the monitor runs at all.
    pub enabled: bool,
    /// Detector thresholds (`[anomaly.thresholds]`).
    pub thresholds: Thresholds,
    /// Action per detector; detectors left out take their default.
    pub actions: BTreeMap<AnomalyKind, Action>,
    /// Quarantine periods and cap.
    pub quarantine: QuarantinePolicy,
    /// Throttle settings.
    pub throttle: ThrottlePolicy,
}

impl Default for AnomalyPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            thresholds: Thresholds::default(),
            actions: BTreeMap::new(),
            quarantine: QuarantinePolicy::default(),
            throttle: ThrottlePolicy::default(),
        }
    }
}

impl AnomalyPolicy {
    /// The action for `kind`: configured, else the default.
    ///
    /// Defaults: a declared profile violated for a sustained stretch is quarantined (the
    /// extension misrepresents itself); an error burst is throttled (it sheds load while the
    /// breaker decides); undeclared capability attempts, baseline shifts and approaching limits
    /// warn (each has innocent causes, and the limits still hold).
    #[must_use]
    pub fn action(&self, kind: AnomalyKind) -> Action {
        self.actions.get(&kind).copied().unwrap_or(match kind {
            AnomalyKind::ProfileViolation => Action::Quarantine,
            AnomalyKind::ErrorBurst => Action::Throttle,
            AnomalyKind::UndeclaredCapability
            | AnomalyKind::BaselineShift
            | AnomalyKind::ApproachingLimit => Action::Warn,
        })
    }

    /// Check every value; the error names the `anomaly.` field and what is wrong.
    ///
    /// # Errors
    /// `(field, message)` for the first invalid value.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let t = &self.thresholds;
        let share = |field, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err((field, format!("{v} must be between 0 and 1")))
            }
        };
        let above_one = |field, v: f64| {
            if v.is_finite() && v > 1.0 {
                Ok(())
            } else {
                Err((field, format!("{v} must be greater than 1")))
            }
        };
        if t.recent_calls < 2 || t.recent_calls > t.history_calls {
            return Err((
                "anomaly.thresholds.recent_calls",
                format!(
                    "{} must be at least 2 and at most history_calls ({})",
                    t.recent_calls, t.history_calls
                ),
            ));
        }
        if t.min_baseline_calls + t.recent_calls > t.history_calls {
            return Err((
                "anomaly.thresholds.min_baseline_calls",
                format!(
                    "min_baseline_calls + recent_calls ({}) must fit in history_calls ({})",
                    t.min_baseline_calls + t.recent_calls,
                    t.history_calls
                ),
            ));
        }
        if t.approaching_calls < 2 || t.approaching_calls > t.history_calls {
            return Err((
                "anomaly.thresholds.approaching_calls",
                "must be at least 2 and at most history_calls".into(),
            ));
        }
        share("anomaly.thresholds.sustained_share", t.sustained_share)?;
        share("anomaly.thresholds.error_burst_ratio", t.error_burst_ratio)?;
        share("anomaly.thresholds.error_burst_margin", t.error_burst_margin)?;
        share("anomaly.thresholds.approaching_share", t.approaching_share)?;
        share("anomaly.thresholds.ewma_alpha", t.ewma_alpha)?;
        share("anomaly.quarantine.max_share", self.quarantine.max_share)?;
        above_one("anomaly.thresholds.profile_tolerance", t.profile_tolerance)?;
        above_one("anomaly.thresholds.shift_min_ratio", t.shift_min_ratio)?;
        if !(t.shift_z.is_finite() && t.shift_z > 0.0) {
            return Err(("anomaly.thresholds.shift_z", format!("{} must be greater than 0", t.shift_z)));
        }
        if !(self.quarantine.backoff_factor.is_finite() && self.quarantine.backoff_factor >= 1.0) {
            return Err(("anomaly.quarantine.backoff_factor", "must be at least 1".into()));
        }
        if self.quarantine.period_ms == 0 || self.quarantine.max_period_ms < self.quarantine.period_ms {
            return Err(("anomaly.quarantine.period_ms", "must be > 0 and at most max_period_ms".into()));
        }
        if self.throttle.concurrency == 0 {
            return Err(("anomaly.throttle.concurrency", "must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_quarantine_escalates_to_its_cap() {
        let policy = AnomalyPolicy::default();
        assert_eq!(policy.validate(), Ok(()));
        let q = policy.quarantine;
        assert_eq!(q.period_for(1), DEFAULT_QUARANTINE_MS);
        assert_eq!(q.period_for(2), 2 * DEFAULT_QUARANTINE_MS);
        assert_eq!(q.period_for(40), DEFAULT_MAX_QUARANTINE_MS);
        assert_eq!(q.cap(2), 1, "one may always be quarantined");
        assert_eq!(q.cap(20), 5);
    }

    #[test]
    fn actions_parse_and_bad_values_name_their_field() {
        let policy: AnomalyPolicy =
            toml::from_str("[thresholds]\nrecent_calls = 8\n[actions]\nbaseline_shift = \"quarantine\"\n")
                .unwrap();
        assert_eq!(policy.thresholds.recent_calls, 8);
        assert_eq!(policy.action(AnomalyKind::BaselineShift), Action::Quarantine);
        assert_eq!(policy.action(AnomalyKind::ProfileViolation), Action::Quarantine);
        assert_eq!(policy.action(AnomalyKind::ErrorBurst), Action::Throttle);
        let bad: AnomalyPolicy = toml::from_str("[thresholds]\nsustained_share = 1.5\n").unwrap();
        assert_eq!(bad.validate().map_err(|(field, _)| field), Err("anomaly.thresholds.sustained_share"));
        assert!(toml::from_str::<AnomalyPolicy>("[actions]\nnope = \"warn\"\n").is_err());
    }
}
