//! Turning wall-time samples into the comparison: median and p99 per scenario, the ratio of
//! Symphony's figure to each Extism mode's, printed as a table or as one JSON object.

use serde::Serialize;

use crate::scenario::Mode;

/// What one scenario measured on one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Workload name (`echo`, `text-stats`).
    pub workload: &'static str,
    /// Scenario key (`symphony`, `extism_reused`, …).
    pub scenario: &'static str,
    /// Scenario as the table shows it.
    pub label: &'static str,
    /// Timed calls.
    pub calls: usize,
    /// Median wall time per call, in microseconds.
    pub median_us: f64,
    /// 99th-percentile wall time per call, in microseconds.
    pub p99_us: f64,
    /// Mean wall time per call, in microseconds.
    pub mean_us: f64,
    /// Fuel the last call used, in fuel units, as its host counts it.
    pub fuel_per_call: u64,
    /// Symphony's median divided by this scenario's (above 1: Symphony is slower).
    pub symphony_over_this_median: f64,
    /// Symphony's p99 divided by this scenario's.
    pub symphony_over_this_p99: f64,
}

/// The summary of one scenario's samples, before ratios are known.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Number of samples.
    pub calls: usize,
    /// Median, in microseconds.
    pub median_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
    /// Mean, in microseconds.
    pub mean_us: f64,
}

impl Summary {
    /// Summarise nanosecond samples (sorted in place); `None` when there are none.
    #[must_use]
    pub fn of(samples: &mut [u64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        // Nearest-rank percentile: the smallest sample with at least p of them at or below it.
        let rank = |p: f64| samples[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        let total: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Some(Self {
            calls: n,
            median_us: micros(rank(0.5)),
            p99_us: micros(rank(0.99)),
            mean_us: total as f64 / n as f64 / 1_000.0,
        })
    }
}

fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1_000.0
}

/// Build the rows of one workload, Symphony's first, with ratios against Symphony.
#[must_use]
pub fn rows(workload: &'static str, summaries: &[(Mode, Summary, u64)]) -> Vec<Row> {
    let symphony = summaries.iter().find(|(mode, _, _)| *mode == Mode::Symphony).map(|(_, s, _)| *s);
    summaries
        .iter()
        .map(|&(mode, summary, fuel)| Row {
            workload,
            scenario: mode.key(),
            label: mode.label(),
            calls: summary.calls,
            median_us: summary.median_us,
            p99_us: summary.p99_us,
            mean_us: summary.mean_us,
            fuel_per_call: fuel,
            symphony_over_this_median: symphony.map_or(f64::NAN, |s| s.median_us / summary.median_us),
            symphony_over_this_p99: symphony.map_or(f64::NAN, |s| s.p99_us / summary.p99_us),
        })
        .collect()
}

/// The table, one line per row, a blank line between workloads.
#[must_use]
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<11} {:<37} {:>10} {:>10} {:>11} {:>14} {:>11}\n",
        "workload", "scenario", "median µs", "p99 µs", "fuel/call", "Sym/this med", "Sym/this p99"
    );
    let mut previous = None;
    for row in rows {
        if previous.is_some_and(|w| w != row.workload) {
            out.push('\n');
        }
        previous = Some(row.workload);
        out.push_str(&format!(
            "{:<11} {:<37} {:>10.1} {:>10.1} {:>11} {:>13.2}x {:>11.2}x\n",
            row.workload,
            row.label,
            row.median_us,
            row.p99_us,
            row.fuel_per_call,
            row.symphony_over_this_median,
            row.symphony_over_this_p99
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=100).rev().map(|n| n * 1_000).collect();
        let summary = Summary::of(&mut samples);
        assert!(summary.is_some_and(|s| s.calls == 100 && s.median_us == 50.0 && s.p99_us == 99.0));
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn ratios_are_symphony_over_each_mode() {
        let s = |median_us, p99_us| Summary { calls: 1, median_us, p99_us, mean_us: median_us };
        let rows = rows("echo", &[(Mode::Symphony, s(30.0, 60.0), 1), (Mode::ExtismFresh, s(60.0, 30.0), 1)]);
        assert_eq!(rows[0].symphony_over_this_median, 1.0);
        assert_eq!(rows[1].symphony_over_this_median, 0.5);
        assert_eq!(rows[1].symphony_over_this_p99, 2.0);
    }
}
