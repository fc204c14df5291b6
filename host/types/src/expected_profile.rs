//! What an extension says its ordinary call looks like: the manifest's optional `[expected]`
//! table (typical fuel, peak memory, latency and output size per call).
//!
//! Limits say what a call may never exceed; the expected profile says what a call normally
//! uses. The health monitor compares observed calls with it: an extension that declares a light
//! profile and then sits near its ceiling on every call is a `profile_violation`, even though no
//! limit was ever breached.

use serde::{Deserialize, Serialize};

use crate::byte_size;

/// Typical use per call, as the manifest declares it. Every field is optional; absent fields
/// are not judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedProfile {
    /// Typical fuel per call, in fuel units.
    pub fuel: Option<u64>,
    /// Typical peak linear memory per call, in bytes (integer or "2 MiB").
    #[serde(default, with = "byte_size::optional")]
    pub memory_bytes: Option<u64>,
    /// Typical time the guest runs per call, in milliseconds: its own execution, not the time a
    /// busy host kept it queued (judged against the sample's `guest_us`).
    pub latency_ms: Option<u64>,
    /// Typical output size per call, in bytes (integer or "4 KiB").
    #[serde(default, with = "byte_size::optional")]
    pub output_bytes: Option<u64>,
}

impl ExpectedProfile {
    /// Whether the manifest declared anything at all.
    #[must_use]
    pub fn is_declared(&self) -> bool {
        self.fuel.is_some()
            || self.memory_bytes.is_some()
            || self.latency_ms.is_some()
            || self.output_bytes.is_some()
    }

    /// The first field declared as zero, if any (`expected.fuel`, …): a zero profile is a typo,
    /// never a meaningful expectation.
    #[must_use]
    pub fn zero_field(&self) -> Option<&'static str> {
        [
            ("expected.fuel", self.fuel),
            ("expected.memory_bytes", self.memory_bytes),
            ("expected.latency_ms", self.latency_ms),
            ("expected.output_bytes", self.output_bytes),
        ]
        .into_iter()
        .find_map(|(name, value)| (value == Some(0)).then_some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_zero_is_named() {
        let profile: ExpectedProfile =
            toml::from_str("fuel = 1_000_000\nmemory_bytes = \"2 MiB\"\nlatency_ms = 0\n").unwrap();
        assert_eq!(profile.memory_bytes, Some(2 << 20));
        assert!(profile.is_declared());
        assert_eq!(profile.zero_field(), Some("expected.latency_ms"));
        assert!(!ExpectedProfile::default().is_declared());
        assert!(toml::from_str::<ExpectedProfile>("cpu = 1\n").is_err());
    }
}
