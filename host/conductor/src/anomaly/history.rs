//! Everything the monitor remembers about one `extension@version`: a bounded ring of recent
//! calls, totals, error kinds, moving averages, the robust baseline computed from the ring, the
//! anomalies raised and any quarantine. Serialisable, so it survives restarts in the
//! [`HistoryStore`](super::history_store::HistoryStore).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::detector::Anomaly;
use super::policy::{Action, Thresholds};
use super::robust::{Ewma, median, median_mad};
use super::sample::{Metric, Sample};

/// Anomalies kept per extension for reports; older ones are forgotten.
pub const RECENT_ANOMALIES_KEPT: usize = 32;
/// Distinct error kinds counted per extension; further kinds are counted as `other`.
const ERROR_KINDS_KEPT: usize = 32;
/// Calls between baseline recomputations: medians over the ring are cheap, but not free on
/// every call.
const BASELINE_REFRESH_CALLS: u64 = 64;

/// The baseline: robust centre and spread per metric over the calls older than the recent
/// window, and their failure ratio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    /// `(median, MAD)` per metric.
    pub metrics: BTreeMap<Metric, (f64, f64)>,
    /// Failed / calls.
    pub failure_ratio: f64,
    /// Calls it was computed from.
    pub calls: usize,
}

/// One anomaly as remembered, with what was done about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRecord {
    /// The finding and its evidence.
    pub anomaly: Anomaly,
    /// What the platform did.
    pub action: Action,
    /// The extension's call count when it was raised.
    pub at_call: u64,
    /// Wall time when it was raised, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Why the action differs from the policy's, when it does (e.g. the quarantine cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An extension taken out of service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    /// The detector that caused it.
    pub reason: String,
    /// When it began, in milliseconds since the Unix epoch.
    pub since_unix_ms: u64,
    /// When it ends, in milliseconds since the Unix epoch.
    pub until_unix_ms: u64,
    /// This extension's quarantine count, this one included (periods escalate with it).
    pub nth: u32,
}

/// A view of the newest calls in the ring, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    samples: &'a VecDeque<Sample>,
    start: usize,
}

impl<'a> Window<'a> {
    /// Calls in view.
    #[must_use]
    pub fn len(&self) -> usize {
        self.samples.len() - self.start
    }

    /// Whether no call is in view.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th call in view (0 is the oldest).
    #[must_use]
    pub fn get(&self, i: usize) -> &'a Sample {
        &self.samples[self.start + i]
    }

    /// The newest call in view.
    #[must_use]
    pub fn last(&self) -> Option<&'a Sample> {
        if self.is_empty() { None } else { self.samples.back() }
    }

    /// The calls in view, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.range(self.start..)
    }

    /// The newest `n` of these calls.
    #[must_use]
    pub fn tail(&self, n: usize) -> Self {
        Self { samples: self.samples, start: self.start.max(self.samples.len().saturating_sub(n)) }
    }
}

/// History of one `extension@version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtensionHistory {
    samples: VecDeque<Sample>,
    /// Calls observed, ever.
    pub calls: u64,
    /// Failed calls observed, ever.
    pub failures: u64,
    /// Failures by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Moving averages in [`Metric::ALL`] order.
    ewma: [Ewma; 4],
    anomalies: VecDeque<AnomalyRecord>,
    /// Call count at which each finding key was last raised.
    last_raised: BTreeMap<String, u64>,
    /// The quarantine in force or last in force.
    pub quarantine: Option<Quarantine>,
    /// Quarantines so far (periods escalate with it).
    pub quarantines: u32,
    /// Time findings judged to be the host's contention rather than the extension's doing.
    #[serde(default)]
    pub host_contention: u64,
    /// When the newest call was observed, on the monitor's clock (not saved: a restarted host
    /// has no recent activity).
    #[serde(skip)]
    pub last_seen: Option<std::time::Duration>,
    #[serde(skip)]
    baseline: Option<Baseline>,
    #[serde(skip)]
    baseline_at_call: u64,
}

impl ExtensionHistory {
    /// Calls in the ring.
    #[must_use]
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no call is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Add one call (and its error kind), keeping at most `history_calls`.
    pub fn push(&mut self, sample: Sample, error_kind: Option<&str>, thresholds: &Thresholds) {
        while self.samples.len() >= thresholds.history_calls.max(1) {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        self.calls = self.calls.saturating_add(1);
        if sample.failed {
            self.failures = self.failures.saturating_add(1);
            if let Some(kind) = error_kind {
                let key = if self.errors.contains_key(kind) || self.errors.len() < ERROR_KINDS_KEPT {
                    kind
                } else {
                    "other"
                };
                *self.errors.entry(key.to_owned()).or_default() += 1;
            }
        }
        for (average, metric) in self.ewma.iter_mut().zip(Metric::ALL) {
            average.update(metric.of(&sample) as f64, thresholds.ewma_alpha);
        }
        if self.baseline.is_none()
            || self.calls.saturating_sub(self.baseline_at_call) >= BASELINE_REFRESH_CALLS
        {
            self.refresh_baseline(thresholds);
        }
    }

    /// The newest `n` calls (fewer when fewer are remembered), oldest first, without copying.
    #[must_use]
    pub fn window(&self, n: usize) -> Window<'_> {
        Window { samples: &self.samples, start: self.samples.len().saturating_sub(n) }
    }

    /// The baseline, once enough calls older than the recent window are remembered.
    #[must_use]
    pub fn baseline(&self) -> Option<&Baseline> {
        self.baseline.as_ref()
    }

    /// Recompute the baseline from the calls older than the recent window.
    pub fn refresh_baseline(&mut self, thresholds: &Thresholds) {
        self.baseline_at_call = self.calls;
        let older = self.samples.len().saturating_sub(thresholds.recent_calls);
        if older < thresholds.min_baseline_calls {
            self.baseline = None;
            return;
        }
        let mut metrics = BTreeMap::new();
        let mut scratch = Vec::with_capacity(older);
        for metric in Metric::ALL {
            scratch.clear();
            scratch.extend(self.samples.iter().take(older).map(|s| metric.of(s) as f64));
            if let Some(center_spread) = median_mad(&mut scratch) {
                metrics.insert(metric, center_spread);
            }
        }
        let failed = self.samples.iter().take(older).filter(|s| s.failed).count();
        self.baseline = Some(Baseline { metrics, failure_ratio: failed as f64 / older as f64, calls: older });
    }

    /// How far `metric` moved: the median of the newest `recent_calls` over the baseline's
    /// median (floored at the metric's resolution). `None` without a baseline or a full window.
    #[must_use]
    pub fn shift_ratio(&self, metric: Metric, recent_calls: usize) -> Option<f64> {
        let &(center, _) = self.baseline.as_ref()?.metrics.get(&metric)?;
        let window = self.window(recent_calls);
        if window.len() < recent_calls {
            return None;
        }
        let mut values: Vec<f64> = window.iter().map(|s| metric.of(s) as f64).collect();
        let recent = median(&mut values)?;
        Some(recent / center.max(metric.resolution()))
    }

    /// Note that a finding with `key` was put down to host contention: counted, and cooled
    /// down like a raised finding so it is not judged again on every call.
    pub fn note_contention(&mut self, key: String) {
        self.host_contention = self.host_contention.saturating_add(1);
        self.last_raised.insert(key, self.calls);
    }

    /// Moving average of `metric`, if any call was seen.
    #[must_use]
    pub fn ewma(&self, metric: Metric) -> Option<f64> {
        Metric::ALL.iter().position(|m| *m == metric).and_then(|i| self.ewma[i].value())
    }

    /// Whether a finding with `key` was raised within the last `cooldown_calls` calls.
    #[must_use]
    pub fn raised_recently(&self, key: &str, cooldown_calls: u64) -> bool {
        self.last_raised.get(key).is_some_and(|at| self.calls.saturating_sub(*at) < cooldown_calls)
    }

    /// Remember an anomaly (bounded) and when its finding was raised.
    pub fn remember(&mut self, key: String, record: AnomalyRecord) {
        self.last_raised.insert(key, self.calls);
        while self.anomalies.len() >= RECENT_ANOMALIES_KEPT {
            self.anomalies.pop_front();
        }
        self.anomalies.push_back(record);
    }

    /// Anomalies remembered, oldest first.
    pub fn anomalies(&self) -> impl Iterator<Item = &AnomalyRecord> {
        self.anomalies.iter()
    }

    /// Whether an anomaly was raised within the last `calls` calls.
    #[must_use]
    pub fn anomaly_within(&self, calls: u64) -> bool {
        self.anomalies.back().is_some_and(|a| self.calls.saturating_sub(a.at_call) < calls)
    }

    /// Forget the recent window and the cooldowns: after an operator lifts a quarantine, the
    /// extension is judged on calls made from then on (its baseline stays).
    pub fn forgive(&mut self, thresholds: &Thresholds) {
        let keep = self.samples.len().saturating_sub(thresholds.recent_calls);
        self.samples.truncate(keep);
        self.last_raised.clear();
        self.refresh_baseline(thresholds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(fuel: u64, failed: bool) -> Sample {
        Sample { fuel, memory_bytes: 1 << 20, guest_us: 100, output_bytes: 10, failed }
    }

    #[test]
    fn ring_is_bounded_and_baseline_excludes_the_recent_window() {
        let thresholds = Thresholds {
            history_calls: 64,
            recent_calls: 8,
            min_baseline_calls: 16,
            ..Thresholds::default()
        };
        let mut history = ExtensionHistory::default();
        for i in 0..100 {
            history.push(sample(1000 + i % 3, i % 10 == 0), Some("internal"), &thresholds);
        }
        assert_eq!(history.len(), 64);
        assert_eq!(history.calls, 100);
        assert_eq!(history.failures, 10);
        assert_eq!(history.errors.get("internal"), Some(&10));
        history.refresh_baseline(&thresholds);
        let baseline = history.baseline().unwrap();
        assert_eq!(baseline.calls, 56);
        assert_eq!(baseline.metrics[&Metric::Fuel].0, 1001.0);
        assert_eq!(history.window(8).len(), 8);
        assert_eq!(history.window(8).tail(3).len(), 3);
    }

    #[test]
    fn persisted_form_round_trips_without_the_cached_baseline() {
        let thresholds = Thresholds::default();
        let mut history = ExtensionHistory::default();
        for _ in 0..60 {
            history.push(sample(5, false), None, &thresholds);
        }
        let json = serde_json::to_vec(&history).unwrap();
        let mut back: ExtensionHistory = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.len(), 60);
        assert!(back.baseline().is_none());
        back.refresh_baseline(&thresholds);
        assert!(back.baseline().is_some());
    }
}
