//! Recording attempts to use a capability that was not granted, during one call.
//!
//! The denial itself happens where the capability is implemented (a frozen clock, a fixed random
//! stream, a refused socket address, a discarding stdout); this recorder only counts the
//! attempts so the host can report and audit them as `capability_denied` events. Shared by
//! several WASI hooks of one store, hence the lock; it is never contended across calls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::limits::{DEFAULT_DENIAL_RECORDS, DENIAL_TARGET_BYTES};
use crate::progress_log::floor_char_boundary;

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
    /// Sockets (TCP, UDP) and outbound HTTP.
    Network,
    /// Host name lookups (`wasi:sockets/ip-name-lookup`).
    NameLookup,
    /// A workflow run's staging directory (`/output`).
    WorkflowOutput,
}

impl std::fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Filesystem => "filesystem",
            Self::Env => "env",
            Self::Clocks => "clocks",
            Self::Random => "random",
            Self::Stdio => "stdio",
            Self::Network => "network",
            Self::NameLookup => "name_lookup",
            Self::WorkflowOutput => "workflow_output",
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

/// Collects denials for one call, bounded in records (`denial_records`) and in bytes per
/// target ([`DENIAL_TARGET_BYTES`]). Cloning shares the same record.
#[derive(Debug, Clone)]
pub struct DenialRecorder(Arc<Mutex<Denials>>);

#[derive(Debug)]
struct Denials {
    max_records: usize,
    by_target: BTreeMap<(CapabilityKind, String), u64>,
}

impl Default for DenialRecorder {
    fn default() -> Self {
        Self::new(DEFAULT_DENIAL_RECORDS)
    }
}

impl DenialRecorder {
    /// A recorder keeping at most `max_records` distinct (capability, target) records; attempts
    /// past that are counted under one `(other targets)` record per capability.
    #[must_use]
    pub fn new(max_records: u64) -> Self {
        Self(Arc::new(Mutex::new(Denials {
            max_records: usize::try_from(max_records).unwrap_or(usize::MAX),
            by_target: BTreeMap::new(),
        })))
    }

    /// Count one denied attempt.
    pub fn record(&self, capability: CapabilityKind, target: &str) {
        let mut denials = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let target = &target[..floor_char_boundary(target, DENIAL_TARGET_BYTES)];
        let max_records = denials.max_records;
        let map = &mut denials.by_target;
        match map.get_mut(&(capability, target.to_owned())) {
            Some(count) => *count = count.saturating_add(1),
            None => {
                // Bound the distinct targets one call can make us remember.
                if map.len() < max_records {
                    map.insert((capability, target.to_owned()), 1);
                } else {
                    let overflow = map.entry((capability, OVERFLOW_TARGET.to_owned())).or_insert(0);
                    *overflow = overflow.saturating_add(1);
                }
            }
        }
    }

    /// Every denial so far, in a stable order.
    #[must_use]
    pub fn snapshot(&self) -> Vec<CapabilityDenial> {
        let denials = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let map = &denials.by_target;
        map.iter()
            .map(|((capability, target), attempts)| CapabilityDenial {
                capability: *capability,
                target: target.clone(),
                attempts: *attempts,
            })
            .collect()
    }
}

const OVERFLOW_TARGET: &str = "(other targets)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_attempts_per_target_and_bounds_memory() {
        let recorder = DenialRecorder::new(64);
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
        assert_eq!(denials.len(), 64 + 1);
        let total: u64 =
            denials.iter().filter(|d| d.capability == CapabilityKind::Network).map(|d| d.attempts).sum();
        assert_eq!(total, 200);
    }

    #[test]
    fn kinds_display_as_they_serialise() {
        let kind = CapabilityKind::WorkflowOutput;
        assert_eq!(kind.to_string(), "workflow_output");
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!("workflow_output"));
    }

    #[test]
    fn the_record_limit_and_target_length_hold() {
        let recorder = DenialRecorder::new(2);
        for i in 0..10 {
            recorder.record(CapabilityKind::Network, &format!("{i}:{}", "h".repeat(1_000)));
        }
        let denials = recorder.snapshot();
        assert_eq!(denials.len(), 3, "two records and the overflow");
        assert!(denials.iter().all(|d| d.target.len() <= DENIAL_TARGET_BYTES));
        assert_eq!(denials.iter().map(|d| d.attempts).sum::<u64>(), 10);
    }
}
