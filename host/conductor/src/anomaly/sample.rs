//! What the health monitor learns from one attempt: the [`Observation`] the conductor hands it,
//! the compact [`Sample`] it keeps, the [`Metric`]s it judges, and the [`Expectations`] an
//! extension brings (its effective limits, declared profile and declared capabilities).

use serde::{Deserialize, Serialize};

use crate::breaker::counts_as_failure;
use symphony_types::capability::denials::{CapabilityDenial, CapabilityKind};
use symphony_types::error::{CallError, ConductorError, ErrorSource};
use symphony_types::expected_profile::ExpectedProfile;
use symphony_types::usage::Usage;

/// One attempt as remembered: what it consumed and whether it failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Fuel consumed, in fuel units.
    pub fuel: u64,
    /// Peak linear memory, in bytes.
    pub memory_bytes: u64,
    /// Time the guest itself ran, in microseconds: its own execution, excluding time queued
    /// for a guest thread or waiting in async host calls (the caller's wall time is not the
    /// extension's doing, so it is not judged).
    pub guest_us: u64,
    /// Output size, in bytes (0 on failure).
    pub output_bytes: u64,
    /// Whether the attempt failed in a way that says something about the extension's health
    /// (the breaker's definition: caller mistakes and the conductor's own refusals are not).
    pub failed: bool,
}

/// A per-call quantity the monitor keeps a baseline for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Fuel units.
    Fuel,
    /// Peak memory, bytes.
    MemoryBytes,
    /// Time the guest ran, microseconds.
    GuestUs,
    /// Output, bytes.
    OutputBytes,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Self; 4] = [Self::Fuel, Self::MemoryBytes, Self::GuestUs, Self::OutputBytes];

    /// This metric's value in `sample`.
    #[must_use]
    pub fn of(self, sample: &Sample) -> u64 {
        match self {
            Self::Fuel => sample.fuel,
            Self::MemoryBytes => sample.memory_bytes,
            Self::GuestUs => sample.guest_us,
            Self::OutputBytes => sample.output_bytes,
        }
    }

    /// Stable snake_case name (with its unit).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fuel => "fuel",
            Self::MemoryBytes => "memory_bytes",
            Self::GuestUs => "guest_us",
            Self::OutputBytes => "output_bytes",
        }
    }

    /// Whether findings on this metric are about time alone: the one quantity the host's own
    /// load can move, so it never justifies a quarantine by itself.
    #[must_use]
    pub fn is_time(self) -> bool {
        matches!(self, Self::GuestUs)
    }

    /// The smallest difference this metric can meaningfully show, in its unit: fuel counts
    /// below a thousand units are a branch or two, memory grows by 64 KiB wasm pages, poll-time
    /// measurement carries tens of microseconds of scheduler jitter, outputs differ by a few
    /// bytes of formatting. The floor under the baseline's spread (see
    /// [`robust::spread_floor`](super::robust::spread_floor)).
    #[must_use]
    pub fn resolution(self) -> f64 {
        match self {
            Self::Fuel => 1_000.0,
            Self::MemoryBytes => 65_536.0,
            Self::GuestUs => 50.0,
            Self::OutputBytes => 16.0,
        }
    }

    /// `value` (in this metric's unit) for people: rounded, with a unit.
    #[must_use]
    pub fn format(self, value: f64) -> String {
        let value = value.max(0.0);
        match self {
            Self::Fuel => match value {
                v if v >= 1e9 => format!("{:.2}G fuel", v / 1e9),
                v if v >= 1e6 => format!("{:.1}M fuel", v / 1e6),
                v if v >= 1e3 => format!("{:.1}k fuel", v / 1e3),
                v => format!("{v:.0} fuel"),
            },
            Self::MemoryBytes | Self::OutputBytes => match value {
                v if v >= 1_073_741_824.0 => format!("{:.2} GiB", v / 1_073_741_824.0),
                v if v >= 1_048_576.0 => format!("{:.1} MiB", v / 1_048_576.0),
                v if v >= 1_024.0 => format!("{:.1} KiB", v / 1_024.0),
                v => format!("{v:.0} B"),
            },
            Self::GuestUs => match value {
                v if v >= 1e6 => format!("{:.2} s", v / 1e6),
                v if v >= 1e3 => format!("{:.1} ms", v / 1e3),
                v => format!("{v:.0} µs"),
            },
        }
    }

    /// The declared typical value for this metric, in this metric's unit.
    #[must_use]
    pub fn expected(self, profile: &ExpectedProfile) -> Option<u64> {
        match self {
            Self::Fuel => profile.fuel,
            Self::MemoryBytes => profile.memory_bytes,
            Self::GuestUs => profile.latency_ms.map(|ms| ms.saturating_mul(1000)),
            Self::OutputBytes => profile.output_bytes,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finished attempt, as the conductor saw it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// What it consumed.
    pub usage: Usage,
    /// Output size in bytes (0 on failure).
    pub output_bytes: u64,
    /// Why it failed, if it did.
    pub error: Option<&'a CallError>,
    /// Capability attempts that were denied during the call.
    pub denials: &'a [CapabilityDenial],
}

impl Observation<'_> {
    /// Whether the attempt says anything about the extension: the conductor's own refusals
    /// (circuit open, overloaded, cancelled) never ran the guest.
    #[must_use]
    pub fn is_evidence(&self) -> bool {
        match self.error {
            // The guest ran; its output broke a workflow's data contract.
            Some(CallError::Conductor(ConductorError::ContractViolation { .. })) => true,
            Some(error) => error.source_layer() != ErrorSource::Conductor,
            None => true,
        }
    }

    /// The compact sample kept in history.
    #[must_use]
    pub fn sample(&self) -> Sample {
        Sample {
            fuel: self.usage.fuel,
            memory_bytes: self.usage.memory_peak_bytes,
            guest_us: self.usage.guest_us,
            output_bytes: self.output_bytes,
            failed: self.error.is_some_and(counts_as_failure),
        }
    }
}

/// A set of capability kinds as bits: copying it never allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapabilitySet(u8);

impl CapabilitySet {
    fn bit(kind: CapabilityKind) -> u8 {
        1 << (kind as u8)
    }

    /// Whether `kind` is in the set.
    #[must_use]
    pub fn contains(self, kind: CapabilityKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }
}

impl FromIterator<CapabilityKind> for CapabilitySet {
    fn from_iter<T: IntoIterator<Item = CapabilityKind>>(kinds: T) -> Self {
        Self(kinds.into_iter().fold(0, |bits, kind| bits | Self::bit(kind)))
    }
}

/// What an extension brings to be judged against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expectations {
    /// Effective fuel limit per call, in fuel units.
    pub fuel_limit: Option<u64>,
    /// Effective memory limit per call, in bytes.
    pub memory_limit: Option<u64>,
    /// The manifest's `[expected]` profile.
    pub expected: ExpectedProfile,
    /// Capability kinds the manifest declares; `None` when unknown (nothing is judged).
    pub declared_capabilities: Option<CapabilitySet>,
}

impl Expectations {
    /// The effective limit for `metric`, where there is one the monitor predicts against.
    #[must_use]
    pub fn limit(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::Fuel => self.fuel_limit,
            Metric::MemoryBytes => self.memory_limit,
            Metric::GuestUs | Metric::OutputBytes => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_with_units() {
        assert_eq!(Metric::GuestUs.format(57_720.0), "57.7 ms");
        assert_eq!(Metric::GuestUs.format(5.0), "5 µs");
        assert_eq!(Metric::GuestUs.format(2_500_000.0), "2.50 s");
        assert_eq!(Metric::Fuel.format(12_345_678.0), "12.3M fuel");
        assert_eq!(Metric::MemoryBytes.format(3.0 * 1_048_576.0), "3.0 MiB");
        assert_eq!(Metric::OutputBytes.format(512.0), "512 B");
    }

    #[test]
    fn the_sample_judges_guest_time_not_wall_time() {
        let usage = Usage { fuel: 1, memory_peak_bytes: 2, wall_ms: 57, wall_us: 57_720, guest_us: 5 };
        let observation = Observation { usage, output_bytes: 3, error: None, denials: &[] };
        assert_eq!(Metric::GuestUs.of(&observation.sample()), 5);
    }
}
