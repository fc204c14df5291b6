//! Sample statistics for the benchmarks: the median and the 99th percentile of a set of timed
//! samples. Ratios between variants are always ratios of medians measured in the same run.

use std::time::Duration;

/// Timed samples of one variant, in nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    nanos: Vec<u64>,
}

impl Samples {
    /// Room for `n` samples.
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Self { nanos: Vec::with_capacity(n) }
    }

    /// Add one sample.
    pub fn push(&mut self, elapsed: Duration) {
        self.nanos.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// How many samples were taken.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// Whether no sample was taken.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// Median and 99th percentile (nearest rank), in nanoseconds; zeros when empty.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let mut sorted = self.nanos.clone();
        sorted.sort_unstable();
        Summary {
            median_ns: percentile(&sorted, 0.50),
            p99_ns: percentile(&sorted, 0.99),
            count: sorted.len(),
        }
    }
}

/// Median and tail of one variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Median, in nanoseconds.
    pub median_ns: f64,
    /// 99th percentile, in nanoseconds.
    pub p99_ns: f64,
    /// Samples it was computed from.
    pub count: usize,
}

/// Nearest-rank percentile of sorted samples, `p` in 0..=1.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    let index = rank.saturating_sub(1).min(sorted.len() - 1);
    sorted[index] as f64
}

/// Median of plain values (throughputs, per-call bytes); 0 when empty.
#[must_use]
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99_use_nearest_rank() {
        let mut samples = Samples::default();
        for n in 1..=100 {
            samples.push(Duration::from_nanos(n));
        }
        let summary = samples.summary();
        assert_eq!((summary.median_ns, summary.p99_ns, summary.count), (50.0, 99.0, 100));
        assert_eq!(Samples::default().summary().median_ns, 0.0);
    }

    #[test]
    fn median_of_values_averages_the_middle_pair() {
        assert_eq!(median(&[3.0, 1.0, 2.0, 4.0]), 2.5);
        assert_eq!(median(&[5.0]), 5.0);
        assert_eq!(median(&[]), 0.0);
    }
}
