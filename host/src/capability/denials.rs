//! Recording attempts to use a capability that was not granted, during one call.
//!
//! The denial itself happens where the capability is implemented (a frozen clock, a fixed random
//! stream, a refused socket address, a discarding stdout); this recorder only counts the
//! attempts so the host can report and audit them as `capability_denied` events. Shared by
//! several WASI hooks of one store, hence the lock; it is never contended across calls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// Which capability a guest tried to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityKind {
    /// Files outside a preopen.
    Filesystem,
    /// Environment variables.
    Env,
    /// Wall or monotonic clock.
    Clocks,
    /// `wasi:random`.
    Random,
    /// stdout/stderr.
    Stdio,
    /// Outbound connections.
    Network,
}

impl std::fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Filesystem => "filesystem",
            Self::Env => "env",
            Self::Clocks => "clocks",
            Self::Random => "random",
            Self::Stdio => "stdio",
            Self::Network => "network",
        })
    }
}

/// Attempts to use one capability at one target during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityDenial {
    /// The capability.
    pub capability: CapabilityKind,
    /// What the guest aimed at (`wall-clock`, `127.0.0.1:9 (tcp connect)`, `stdout`, …).
    pub target: String,
    /// How many times it tried.
    pub attempts: u64,
}

/// Collects denials for one call. Cloning shares the same record.
#[derive(Debug, Clone, Default)]
pub struct DenialRecorder(Arc<Mutex<BTreeMap<(CapabilityKind, String), u64>>>);

impl DenialRecorder {
    /// Count one denied attempt.
    pub fn record(&self, capability: CapabilityKind, target: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(&(capability, target.to_owned())) {
            Some(count) => *count += 1,
            None => {
                // Bound the distinct targets one call can make us remember.
                if map.len() < MAX_DISTINCT_TARGETS {
                    map.insert((capability, target.to_owned()), 1);
                } else {
                    *map.entry((capability, OVERFLOW_TARGET.to_owned())).or_insert(0) += 1;
                }
            }
        }
    }

    /// Every denial so far, in a stable order.
    #[must_use]
    pub fn snapshot(&self) -> Vec<CapabilityDenial> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .map(|((capability, target), attempts)| CapabilityDenial {
                capability: *capability,
                target: target.clone(),
                attempts: *attempts,
            })
            .collect()
    }
}

/// Distinct (capability, target) pairs remembered per call; further ones are lumped together.
pub const MAX_DISTINCT_TARGETS: usize = 64;
const OVERFLOW_TARGET: &str = "(other targets)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_attempts_per_target_and_bounds_memory() {
        let recorder = DenialRecorder::default();
        recorder.record(CapabilityKind::Clocks, "wall-clock");
        recorder.clone().record(CapabilityKind::Clocks, "wall-clock");
        for port in 0..200 {
            recorder.record(CapabilityKind::Network, &format!("127.0.0.1:{port}"));
        }
        let denials = recorder.snapshot();
        assert_eq!(
            denials[0],
            CapabilityDenial { capability: CapabilityKind::Clocks, target: "wall-clock".into(), attempts: 2 }
        );
        assert_eq!(denials.len(), MAX_DISTINCT_TARGETS + 1);
        let total: u64 =
            denials.iter().filter(|d| d.capability == CapabilityKind::Network).map(|d| d.attempts).sum();
        assert_eq!(total, 200);
    }
}
