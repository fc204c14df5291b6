//! [`FallbackTally`]: per primary extension, how many conducted calls were served by a
//! fallback, and how many of those were degraded answers (static or last good), across every
//! caller of one conductor. The dashboard's fallback rate is `fallbacks / calls`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

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

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    fallbacks: AtomicU64,
    degraded: AtomicU64,
}

/// Tallies per `name@version`, shared by every caller: a read lock and three atomic adds per
/// call (the write lock only for an extension's first call).
#[derive(Debug, Default)]
pub struct FallbackTally {
    counts: RwLock<HashMap<String, Arc<Counters>>>,
}

impl FallbackTally {
    /// Count one call asked of `primary`.
    pub(crate) fn record(&self, primary: &str, fallback: bool, degraded: bool) {
        let known = self.counts.read().unwrap_or_else(PoisonError::into_inner).get(primary).cloned();
        let counters = match known {
            Some(counters) => counters,
            None => Arc::clone(
                self.counts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(primary.to_owned())
                    .or_default(),
            ),
        };
        counters.calls.fetch_add(1, Ordering::Relaxed);
        counters.fallbacks.fetch_add(u64::from(fallback), Ordering::Relaxed);
        counters.degraded.fetch_add(u64::from(degraded), Ordering::Relaxed);
    }

    /// `primary`'s tally (zeros when never called).
    #[must_use]
    pub fn get(&self, primary: &str) -> FallbackCount {
        let counts = self.counts.read().unwrap_or_else(PoisonError::into_inner);
        counts.get(primary).map_or_else(FallbackCount::default, |c| FallbackCount {
            calls: c.calls.load(Ordering::Relaxed),
            fallbacks: c.fallbacks.load(Ordering::Relaxed),
            degraded: c.degraded.load(Ordering::Relaxed),
        })
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
