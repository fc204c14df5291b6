//! The process's peak resident set while something is held in memory: a baseline `VmRSS` read
//! just before, then the larger of `VmHWM` (reset through `/proc/self/clear_refs` first, where
//! the kernel allows it) and `VmRSS` sampled every [`SAMPLE_INTERVAL`] on a thread of its own.
//! What is held, and how many, is the caller's ([`in_flight`](super::in_flight) holds calls,
//! [`workflow_in_flight`](super::workflow_in_flight) workflow runs). Linux only: elsewhere
//! `/proc` is missing and the measurement fails with [`BenchError::Io`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::BenchError;

/// How often `VmRSS` is sampled while the load is held.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// A measurement under way: started with [`PeakRss::start`], ended with [`PeakRss::finish`].
#[derive(Debug)]
pub struct PeakRss {
    baseline_kib: u64,
    hwm_reset: bool,
    done: Arc<AtomicBool>,
    sampled_peak: Arc<AtomicU64>,
    sampler: JoinHandle<()>,
}

/// Baseline and peak resident set, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resident {
    /// `VmRSS` when the measurement started, in KiB.
    pub baseline_kib: u64,
    /// Highest resident set seen until it finished, in KiB.
    pub peak_kib: u64,
}

impl Resident {
    /// `(peak - baseline) / count`, in KiB.
    #[must_use]
    pub fn per_item_kib(&self, count: usize) -> f64 {
        self.peak_kib.saturating_sub(self.baseline_kib) as f64 / count.max(1) as f64
    }
}

impl PeakRss {
    /// Read the baseline, reset the high-water mark and start sampling.
    ///
    /// # Errors
    /// [`BenchError::Io`] when `/proc/self/status` cannot be read or the thread cannot start.
    pub fn start() -> Result<Self, BenchError> {
        let baseline_kib = read_status_kib("VmRSS:")?;
        let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let done = Arc::new(AtomicBool::new(false));
        let sampled_peak = Arc::new(AtomicU64::new(baseline_kib));
        let sampler = {
            let (done, peak) = (Arc::clone(&done), Arc::clone(&sampled_peak));
            std::thread::Builder::new()
                .name("rss-sampler".into())
                .spawn(move || {
                    while !done.load(Ordering::Relaxed) {
                        if let Ok(rss) = read_status_kib("VmRSS:") {
                            peak.fetch_max(rss, Ordering::Relaxed);
                        }
                        std::thread::sleep(SAMPLE_INTERVAL);
                    }
                })
                .map_err(|source| BenchError::Io { what: "sampler thread".into(), source })?
        };
        Ok(Self { baseline_kib, hwm_reset, done, sampled_peak, sampler })
    }

    /// Stop sampling; the baseline and the peak.
    #[must_use]
    pub fn finish(self) -> Resident {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.sampler.join();
        let hwm = if self.hwm_reset { read_status_kib("VmHWM:").unwrap_or(0) } else { 0 };
        Resident {
            baseline_kib: self.baseline_kib,
            peak_kib: hwm.max(self.sampled_peak.load(Ordering::Relaxed)),
        }
    }
}

/// Whether every `(start, end)` span overlapped all the others: the last start precedes the
/// first end (`false` when there are none).
#[must_use]
pub fn all_overlapped(spans: &[(Instant, Instant)]) -> bool {
    let last_start = spans.iter().map(|s| s.0).max();
    let first_end = spans.iter().map(|s| s.1).min();
    matches!((last_start, first_end), (Some(s), Some(e)) if s < e)
}

/// A `kB` field of `/proc/self/status` (`VmRSS:`, `VmHWM:`), in KiB.
///
/// # Errors
/// [`BenchError::Io`] where `/proc` is not available or the field is missing.
pub fn read_status_kib(field: &str) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|source| BenchError::Io { what: "/proc/self/status".into(), source })?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| BenchError::Io {
            what: format!("/proc/self/status {field}"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_needs_the_last_start_before_the_first_end() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(all_overlapped(&[(at(0), at(10)), (at(5), at(12))]));
        assert!(!all_overlapped(&[(at(0), at(4)), (at(5), at(12))]));
        assert!(!all_overlapped(&[]));
    }

    #[test]
    fn per_item_divides_the_growth() {
        let resident = Resident { baseline_kib: 1_000, peak_kib: 3_000 };
        assert_eq!(resident.per_item_kib(1_000), 2.0);
        assert_eq!(Resident { baseline_kib: 5, peak_kib: 1 }.per_item_kib(0), 0.0);
    }
}
