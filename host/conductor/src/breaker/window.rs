//! The sliding window a closed breaker counts calls and failures in: a fixed ring of
//! time buckets, so a breaker's memory stays the same however many calls it sees.
//!
//! Time comes from the caller (the breaker's [`Clock`](crate::Clock)); deciding what
//! is a failure and when to trip is the breaker's job.

/// Buckets the window is split into. The window slides one bucket at a time, so it covers
/// between `window_ms * (WINDOW_BUCKETS - 1) / WINDOW_BUCKETS` and `window_ms` of history.
pub(super) const WINDOW_BUCKETS: usize = 10;

/// Call and failure counts over the last `window_ms`, in `WINDOW_BUCKETS` buckets.
#[derive(Debug, Clone)]
pub(super) struct SlidingWindow {
    /// Width of one bucket, in milliseconds (at least 1).
    bucket_ms: u64,
    buckets: [Bucket; WINDOW_BUCKETS],
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which bucket-width slice of time (`now_ms / bucket_ms`) the counts belong to.
    epoch: u64,
    calls: u64,
    failures: u64,
}

/// What the window holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WindowTotals {
    /// Calls counted, in calls.
    pub calls: u64,
    /// Of which failures, in calls.
    pub failures: u64,
}

impl WindowTotals {
    /// Failures / calls, 0.0 for an empty window.
    pub fn failure_ratio(self) -> f64 {
        if self.calls == 0 { 0.0 } else { self.failures as f64 / self.calls as f64 }
    }
}

impl SlidingWindow {
    /// An empty window of `window_ms` milliseconds.
    pub fn new(window_ms: u64) -> Self {
        Self { bucket_ms: (window_ms / WINDOW_BUCKETS as u64).max(1), buckets: Default::default() }
    }

    /// Count one call at `now_ms` (milliseconds on the breaker's clock).
    pub fn record(&mut self, now_ms: u64, failure: bool) {
        let epoch = now_ms / self.bucket_ms;
        let bucket = &mut self.buckets[slot(epoch)];
        if bucket.epoch != epoch {
            // The slot last held a slice that has since left the window: reuse it.
            *bucket = Bucket { epoch, calls: 0, failures: 0 };
        }
        bucket.calls = bucket.calls.saturating_add(1);
        if failure {
            bucket.failures = bucket.failures.saturating_add(1);
        }
    }

    /// Calls and failures within the window ending at `now_ms`.
    pub fn totals(&self, now_ms: u64) -> WindowTotals {
        let current = now_ms / self.bucket_ms;
        let live =
            |bucket: &&Bucket| bucket.epoch <= current && current - bucket.epoch < WINDOW_BUCKETS as u64;
        self.buckets.iter().filter(live).fold(WindowTotals { calls: 0, failures: 0 }, |sum, bucket| {
            WindowTotals { calls: sum.calls + bucket.calls, failures: sum.failures + bucket.failures }
        })
    }

    /// Forget everything (a breaker that closes starts from a clean slate).
    pub fn clear(&mut self) {
        self.buckets = Default::default();
    }
}

fn slot(epoch: u64) -> usize {
    // The remainder is below WINDOW_BUCKETS, so it always fits.
    (epoch % WINDOW_BUCKETS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_the_window_and_forgets_what_slid_out() {
        let mut window = SlidingWindow::new(1_000);
        window.record(0, true);
        window.record(50, false);
        window.record(950, true);
        assert_eq!(window.totals(999), WindowTotals { calls: 3, failures: 2 });
        // The first bucket (0..100 ms) leaves the window once time reaches 1 000 ms.
        assert_eq!(window.totals(1_000), WindowTotals { calls: 1, failures: 1 });
        assert_eq!(window.totals(2_000), WindowTotals { calls: 0, failures: 0 });
    }

    #[test]
    fn a_reused_slot_drops_its_old_counts() {
        let mut window = SlidingWindow::new(1_000);
        window.record(10, true);
        window.record(1_010, false);
        assert_eq!(window.totals(1_010), WindowTotals { calls: 1, failures: 0 });
        assert!((window.totals(1_010).failure_ratio()).abs() < f64::EPSILON);
    }

    #[test]
    fn clear_empties_it() {
        let mut window = SlidingWindow::new(1_000);
        window.record(10, true);
        window.clear();
        assert_eq!(window.totals(10), WindowTotals { calls: 0, failures: 0 });
    }
}
