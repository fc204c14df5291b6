//! Progress a guest reports during one call, kept within the call's progress budget.
//!
//! The latest fraction is always known (it is one number); the updates themselves, with their
//! messages, are kept up to `progress_updates` records and `progress_bytes` of message text.
//! Past either, updates are counted and dropped, so a guest reporting progress in a tight loop
//! costs the host a counter, not memory.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

/// Longest message a [`LiveProgress`] keeps, in bytes (longer ones are cut at a char boundary).
pub const LIVE_PROGRESS_MESSAGE_BYTES: usize = 160;

/// One kept progress update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressUpdate {
    /// 0.0..=1.0.
    pub fraction: f32,
    /// What the guest said it is doing (possibly cut to the byte budget).
    pub message: String,
}

/// The bounded progress of one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressLog {
    /// Budget, in updates.
    pub limit_updates: u64,
    /// Budget for message text, in bytes.
    pub limit_bytes: u64,
    /// Message bytes kept.
    pub kept_bytes: u64,
    /// Updates kept, in order.
    pub updates: Vec<ProgressUpdate>,
    /// Updates not kept once the budget was spent.
    pub dropped_updates: u64,
    /// The latest fraction reported, kept or not.
    pub latest: Option<f32>,
}

impl ProgressLog {
    /// An empty progress log with budgets in updates and bytes.
    #[must_use]
    pub fn new(limit_updates: u64, limit_bytes: u64) -> Self {
        Self {
            limit_updates,
            limit_bytes,
            kept_bytes: 0,
            updates: Vec::new(),
            dropped_updates: 0,
            latest: None,
        }
    }

    /// Record one update. A fraction that is not a finite number is ignored; others are
    /// clamped to 0.0..=1.0.
    pub fn push(&mut self, fraction: f32, message: &str) {
        if !fraction.is_finite() {
            return;
        }
        let fraction = fraction.clamp(0.0, 1.0);
        self.latest = Some(fraction);
        if self.updates.len() as u64 >= self.limit_updates {
            self.dropped_updates = self.dropped_updates.saturating_add(1);
            return;
        }
        let room = usize::try_from(self.limit_bytes.saturating_sub(self.kept_bytes)).unwrap_or(usize::MAX);
        let keep = floor_char_boundary(message, room);
        self.kept_bytes += keep as u64;
        self.updates.push(ProgressUpdate { fraction, message: message[..keep].to_owned() });
    }
}

/// The latest progress of an in-flight call, shared with whoever watches it (a workflow's
/// progress bars, a service's event stream). The sandbox writes it on every accepted
/// `progress()` call; a watcher reads it whenever it likes. It holds one fraction and one
/// bounded message, so a guest reporting in a tight loop costs a store, never memory.
#[derive(Debug, Clone)]
pub struct LiveProgress(Arc<LiveProgressCell>);

impl Default for LiveProgress {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Default)]
struct LiveProgressCell {
    /// `f32::to_bits` of the latest fraction; `u32::MAX` (a NaN) when none was reported yet.
    fraction_bits: AtomicU32,
    /// Updates seen, kept or not.
    updates: AtomicU64,
    message: Mutex<String>,
}

impl LiveProgress {
    /// Nothing reported yet.
    #[must_use]
    pub fn new() -> Self {
        let cell =
            LiveProgressCell { fraction_bits: AtomicU32::new(u32::MAX), ..LiveProgressCell::default() };
        Self(Arc::new(cell))
    }

    /// Record an update: a fraction that is not a finite number is ignored, others are clamped
    /// to 0.0..=1.0; the message is cut to [`LIVE_PROGRESS_MESSAGE_BYTES`].
    pub fn report(&self, fraction: f32, message: &str) {
        if !fraction.is_finite() {
            return;
        }
        self.0.fraction_bits.store(fraction.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        self.0.updates.fetch_add(1, Ordering::Relaxed);
        let cut = &message[..floor_char_boundary(message, LIVE_PROGRESS_MESSAGE_BYTES)];
        let mut kept = self.0.message.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.as_str() != cut {
            kept.clear();
            kept.push_str(cut);
        }
    }

    /// The latest fraction (0.0..=1.0), `None` before the first update.
    #[must_use]
    pub fn fraction(&self) -> Option<f32> {
        let fraction = f32::from_bits(self.0.fraction_bits.load(Ordering::Relaxed));
        fraction.is_finite().then_some(fraction)
    }

    /// The latest message (empty before the first update).
    #[must_use]
    pub fn message(&self) -> String {
        self.0.message.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Updates reported so far.
    #[must_use]
    pub fn updates(&self) -> u64 {
        self.0.updates.load(Ordering::Relaxed)
    }
}

/// The largest char boundary of `text` at or below `at`.
pub fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_progress_keeps_the_latest_clamped_fraction_and_a_bounded_message() {
        let live = LiveProgress::new();
        assert_eq!((live.fraction(), live.updates()), (None, 0));
        live.report(f32::NAN, "ignored");
        assert_eq!((live.fraction(), live.updates()), (None, 0));
        live.report(0.25, "a quarter");
        live.report(7.0, &"é".repeat(LIVE_PROGRESS_MESSAGE_BYTES));
        assert_eq!((live.fraction(), live.updates()), (Some(1.0), 2));
        assert_eq!(live.message().len(), LIVE_PROGRESS_MESSAGE_BYTES);
        assert!(live.message().chars().all(|c| c == 'é'));
    }

    #[test]
    fn keeps_updates_within_count_and_bytes() {
        let mut log = ProgressLog::new(3, 8);
        log.push(0.1, "abcde");
        log.push(0.2, "fghij");
        log.push(f32::NAN, "ignored");
        log.push(0.3, "x");
        log.push(2.0, "past the count");
        assert_eq!(log.updates.len(), 3);
        assert_eq!(log.updates[1].message, "fgh");
        assert_eq!(log.updates[2].message, "");
        assert_eq!(log.kept_bytes, 8);
        assert_eq!(log.dropped_updates, 1);
        assert_eq!(log.latest, Some(1.0));
    }
}
