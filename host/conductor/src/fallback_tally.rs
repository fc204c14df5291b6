//! [`FallbackTally`]: per primary extension, how many conducted calls were served by a
//! fallback, and how many of those were degraded answers (static or last good), across every
//! caller of one conductor. The dashboard's fallback rate is `fallbacks / calls`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// One primary extension's tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FallbackCount {
    /// Conducted calls asked of it (through `call_with_fallback`).
    pub calls: u64,
    /// Of those, answered by a fallback step.
    pub fallbacks: u64,
    /// Of those, degraded answers (a static value or the last good output).
    pub degraded: u64,
}

/// Tallies per `name@version`, shared by every caller.
#[derive(Debug, Default)]
pub struct FallbackTally {
    counts: Mutex<HashMap<String, FallbackCount>>,
}

impl FallbackTally {
    /// Count one call asked of `primary`.
    pub(crate) fn record(&self, primary: &str, fallback: bool, degraded: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = match counts.get_mut(primary) {
            Some(count) => count,
            None => counts.entry(primary.to_owned()).or_default(),
        };
        count.calls = count.calls.saturating_add(1);
        count.fallbacks = count.fallbacks.saturating_add(u64::from(fallback));
        count.degraded = count.degraded.saturating_add(u64::from(degraded));
    }

    /// `primary`'s tally (zeros when never called).
    #[must_use]
    pub fn get(&self, primary: &str) -> FallbackCount {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).get(primary).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_fallbacks_and_degraded_answers_per_primary() {
        let tally = FallbackTally::default();
        tally.record("a@1", false, false);
        tally.record("a@1", true, false);
        tally.record("a@1", true, true);
        tally.record("b@1", false, false);
        assert_eq!(tally.get("a@1"), FallbackCount { calls: 3, fallbacks: 2, degraded: 1 });
        assert_eq!(tally.get("b@1").calls, 1);
        assert_eq!(tally.get("c@1"), FallbackCount::default());
    }
}
