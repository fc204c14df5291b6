//! Live progress of a run: each step's phase, the fraction its guest reported through
//! `progress()`, an estimate of its duration from the extension's latency baseline (or its
//! declared `[expected] latency_ms`), and what it is waiting on. The run's ETA is the critical
//! path of what remains. Writers are the runner and the sandbox (through [`LiveProgress`]);
//! readers take a [`ProgressSnapshot`] whenever they like — nothing here blocks a call.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;

use symphony_types::progress_log::LiveProgress;

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    /// Not started.
    Pending,
    /// In flight.
    Running,
    /// Waiting for an open breaker or a quarantine to end.
    Waiting,
    /// Produced its output.
    Ok,
    /// Failed.
    Failed,
    /// Skipped with its default output.
    Skipped,
    /// Cancelled in flight.
    Cancelled,
    /// Never started.
    NotRun,
}

impl StepPhase {
    const ALL: [Self; 8] = [
        Self::Pending,
        Self::Running,
        Self::Waiting,
        Self::Ok,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
        Self::NotRun,
    ];

    /// Whether the step is over.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, Self::Ok | Self::Failed | Self::Skipped | Self::Cancelled | Self::NotRun)
    }

    /// As shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::NotRun => "not run",
        }
    }
}

/// What a waiting step waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    /// `circuit_open` or `quarantined`.
    pub reason: &'static str,
    /// `name@version` it waits on.
    pub extension: String,
    /// When the wait ends, in milliseconds since the run started.
    pub until_ms: u64,
    /// Mean time this extension's earlier breaker trips took to recover, in milliseconds.
    pub mean_recovery_ms: Option<u64>,
}

/// One step's live state.
#[derive(Debug)]
pub struct StepProgress {
    id: Arc<str>,
    phase: AtomicU8,
    live: LiveProgress,
    /// Estimated duration, in milliseconds; `u64::MAX` when unknown.
    estimate_ms: AtomicU64,
    /// Start and end, in milliseconds since the run started; `u64::MAX` when not yet.
    started_ms: AtomicU64,
    finished_ms: AtomicU64,
    waiting: Mutex<Option<Waiting>>,
}

const UNKNOWN: u64 = u64::MAX;

/// A run's live progress.
#[derive(Debug)]
pub struct RunProgress {
    started: Instant,
    steps: Vec<StepProgress>,
    needs: Arc<[Vec<usize>]>,
}

/// One step as seen at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSnapshot {
    /// Step id.
    pub id: String,
    /// Where it is.
    pub phase: StepPhase,
    /// The fraction its guest last reported (0.0..=1.0).
    pub fraction: Option<f32>,
    /// The guest's last progress message.
    pub message: String,
    /// Estimated duration, in milliseconds.
    pub estimate_ms: Option<u64>,
    /// Estimated time left, in milliseconds (0 once over).
    pub remaining_ms: Option<u64>,
    /// What it waits for.
    pub waiting: Option<Waiting>,
}

/// The run as seen at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressSnapshot {
    /// Since the run started, in milliseconds.
    pub elapsed_ms: u64,
    /// Time left along the critical path of the remaining steps, in milliseconds; `None` while
    /// a step on it has no estimate.
    pub eta_ms: Option<u64>,
    /// Steps, in definition order.
    pub steps: Vec<StepSnapshot>,
}

impl RunProgress {
    /// Progress for steps `ids` whose dependencies are `needs` (indices).
    #[must_use]
    pub fn new(ids: Arc<[Arc<str>]>, needs: Arc<[Vec<usize>]>) -> Self {
        let steps = ids
            .iter()
            .map(|id| StepProgress {
                id: Arc::clone(id),
                phase: AtomicU8::new(StepPhase::Pending as u8),
                live: LiveProgress::new(),
                estimate_ms: AtomicU64::new(UNKNOWN),
                started_ms: AtomicU64::new(UNKNOWN),
                finished_ms: AtomicU64::new(UNKNOWN),
                waiting: Mutex::new(None),
            })
            .collect();
        Self { started: Instant::now(), steps, needs }
    }

    /// Milliseconds since the run started.
    #[must_use]
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Where step `index`'s guest reports its progress.
    #[must_use]
    pub fn live(&self, index: usize) -> Option<&LiveProgress> {
        self.steps.get(index).map(|s| &s.live)
    }

    /// Set step `index`'s estimated duration, in milliseconds.
    pub fn set_estimate(&self, index: usize, estimate_ms: Option<u64>) {
        if let Some(step) = self.steps.get(index) {
            step.estimate_ms.store(estimate_ms.unwrap_or(UNKNOWN), Ordering::Relaxed);
        }
    }

    /// Move step `index` to `phase`, noting start and end times.
    pub fn set_phase(&self, index: usize, phase: StepPhase) {
        let Some(step) = self.steps.get(index) else { return };
        let now = self.elapsed_ms();
        if phase == StepPhase::Running {
            let _ = step.started_ms.compare_exchange(UNKNOWN, now, Ordering::Relaxed, Ordering::Relaxed);
        }
        if phase.is_final() {
            step.finished_ms.store(now, Ordering::Relaxed);
            *step.waiting.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        step.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// Step `index` waits for `waiting` (or no longer, with `None`).
    pub fn set_waiting(&self, index: usize, waiting: Option<Waiting>) {
        let Some(step) = self.steps.get(index) else { return };
        let phase = if waiting.is_some() { StepPhase::Waiting } else { StepPhase::Running };
        *step.waiting.lock().unwrap_or_else(PoisonError::into_inner) = waiting;
        step.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// The run now.
    #[must_use]
    pub fn snapshot(&self) -> ProgressSnapshot {
        let now = self.elapsed_ms();
        let steps: Vec<StepSnapshot> = self.steps.iter().map(|step| step.snapshot(now)).collect();
        let remaining: Vec<Option<u64>> = steps.iter().map(|s| s.remaining_ms).collect();
        ProgressSnapshot { elapsed_ms: now, eta_ms: critical_path(&remaining, &self.needs), steps }
    }
}

impl StepProgress {
    fn snapshot(&self, now: u64) -> StepSnapshot {
        let phase = StepPhase::ALL
            .get(usize::from(self.phase.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or(StepPhase::Pending);
        let estimate = Some(self.estimate_ms.load(Ordering::Relaxed)).filter(|&e| e != UNKNOWN);
        let started = Some(self.started_ms.load(Ordering::Relaxed)).filter(|&s| s != UNKNOWN);
        let fraction = self.live.fraction();
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let remaining = if phase.is_final() {
            Some(0)
        } else {
            let wait_left = waiting.as_ref().map_or(0, |w| w.until_ms.saturating_sub(now));
            estimate.map(|estimate| {
                let running_for = started.map_or(0, |s| now.saturating_sub(s));
                let left = match fraction {
                    // The guest says how far it is: scale the estimate by what is left.
                    Some(done) if phase == StepPhase::Running => {
                        (estimate as f64 * f64::from(1.0 - done)).round() as u64
                    }
                    _ if phase == StepPhase::Running => estimate.saturating_sub(running_for),
                    _ => estimate,
                };
                left.saturating_add(wait_left)
            })
        };
        StepSnapshot {
            id: self.id.to_string(),
            phase,
            fraction,
            message: self.live.message(),
            estimate_ms: estimate,
            remaining_ms: remaining,
            waiting,
        }
    }
}

/// The longest path through the remaining times (`None` when a step on the path has none).
fn critical_path(remaining: &[Option<u64>], needs: &[Vec<usize>]) -> Option<u64> {
    fn finish(
        node: usize,
        remaining: &[Option<u64>],
        needs: &[Vec<usize>],
        memo: &mut [Option<Option<u64>>],
    ) -> Option<u64> {
        if let Some(known) = memo[node] {
            return known;
        }
        // Mark first: a cycle (refused by the checker) cannot recurse forever.
        memo[node] = Some(None);
        let mut before = Some(0u64);
        for &need in needs.get(node).map(Vec::as_slice).unwrap_or_default() {
            before = match (before, finish(need, remaining, needs, memo)) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
        let total = before.zip(remaining[node]).map(|(a, b)| a.saturating_add(b));
        memo[node] = Some(total);
        total
    }
    let mut memo = vec![None; remaining.len()];
    let mut eta = Some(0u64);
    for node in 0..remaining.len() {
        eta = match (eta, finish(node, remaining, needs, &mut memo)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    eta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_is_the_critical_path_of_what_remains() {
        // a -> (b, c) -> d, with b the long branch.
        let needs = vec![vec![], vec![0], vec![0], vec![1, 2]];
        let remaining = [Some(0), Some(300), Some(100), Some(50)];
        assert_eq!(critical_path(&remaining, &needs), Some(350));
        let unknown = [Some(0), None, Some(100), Some(50)];
        assert_eq!(critical_path(&unknown, &needs), None);
    }

    #[test]
    fn a_guest_fraction_scales_the_estimate_and_final_steps_count_zero() {
        let progress = RunProgress::new(vec!["a".into(), "b".into()].into(), vec![vec![], vec![0]].into());
        progress.set_estimate(0, Some(1_000));
        progress.set_estimate(1, Some(400));
        progress.set_phase(0, StepPhase::Running);
        if let Some(live) = progress.live(0) {
            live.report(0.75, "three quarters");
        }
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.steps[0].remaining_ms, Some(250));
        assert_eq!(snapshot.steps[0].message, "three quarters");
        assert_eq!(snapshot.eta_ms, Some(650));
        progress.set_phase(0, StepPhase::Ok);
        assert_eq!(progress.snapshot().eta_ms, Some(400));
    }
}
