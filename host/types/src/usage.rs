//! What one call consumed: fuel, memory, wall time and the guest's own running time.

use serde::{Deserialize, Serialize};

/// What one call consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Fuel consumed, in fuel units (instantiation included).
    pub fuel: u64,
    /// Peak total linear memory, in bytes.
    pub memory_peak_bytes: u64,
    /// Wall time, in milliseconds.
    pub wall_ms: u64,
    /// Wall time, in microseconds.
    pub wall_us: u64,
    /// Time the guest itself ran, in microseconds: the wall time spent executing it (and the
    /// synchronous host calls it made), without time queued for a thread or parked on async
    /// host calls. What the health monitor judges latency by.
    pub guest_us: u64,
}

impl Usage {
    /// What two runs consumed together: counts and times add up (saturating), the memory peak is
    /// the larger of the two.
    #[must_use]
    pub fn combined(self, other: Self) -> Self {
        Self {
            fuel: self.fuel.saturating_add(other.fuel),
            memory_peak_bytes: self.memory_peak_bytes.max(other.memory_peak_bytes),
            wall_ms: self.wall_ms.saturating_add(other.wall_ms),
            wall_us: self.wall_us.saturating_add(other.wall_us),
            guest_us: self.guest_us.saturating_add(other.guest_us),
        }
    }
}
