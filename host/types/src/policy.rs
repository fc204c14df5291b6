//! The platform policy: defaults and ceilings for every limit, and the one place where a
//! manifest's declaration becomes the limits the sandbox enforces.
//!
//! `effective = min(declared or default, ceiling)`, and every value remembers why it is what it is
//! ([`LimitOrigin`]) so reports (`symphony run`, `check`, later `audit`) print it from this same code.

use serde::Serialize;

use crate::limits::{DeclaredLimits, LimitName, Limits};

/// Default wasm stack for every guest, in bytes. Engine-wide: wasmtime sets it per engine.
pub const DEFAULT_STACK_BYTES: u64 = 512 * 1024;

pub use crate::limits::DEFAULT_CEILINGS;

/// Defaults for limits, ceilings for limits, and the engine-wide stack size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlatformPolicy {
    /// Used when a manifest declares nothing for a limit.
    pub defaults: Limits,
    /// No effective limit exceeds these.
    pub ceilings: Limits,
    /// Wasm stack per guest, in bytes (engine-wide, not declarable by manifests).
    pub stack_bytes: u64,
}

impl Default for PlatformPolicy {
    fn default() -> Self {
        Self { defaults: Limits::default(), ceilings: DEFAULT_CEILINGS, stack_bytes: DEFAULT_STACK_BYTES }
    }
}

/// Why an effective limit has its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitOrigin {
    /// The manifest's value, within the ceiling.
    Declared,
    /// The manifest was silent: the policy default.
    PolicyDefault,
    /// The declared (or default) value was above the policy ceiling and was lowered to it.
    PolicyCeiling,
}

/// One limit as decided for one extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EffectiveLimit {
    /// Which limit.
    pub name: LimitName,
    /// What the manifest asked for.
    pub declared: Option<u64>,
    /// What the sandbox enforces.
    pub effective: u64,
    /// Why.
    pub origin: LimitOrigin,
}

/// All limits decided for one extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveLimits {
    /// The values the sandbox enforces.
    pub limits: Limits,
    /// Each value with its declaration and origin, in [`LimitName::ALL`] order.
    pub decisions: Vec<EffectiveLimit>,
}

impl PlatformPolicy {
    /// Decide the limits for a declaration. The only place this is computed.
    #[must_use]
    pub fn effective_limits(&self, declared: &DeclaredLimits) -> EffectiveLimits {
        let mut limits = self.defaults;
        let decisions = LimitName::ALL
            .iter()
            .map(|&name| {
                let asked = declared.get(name);
                let ceiling = self.ceilings.get(name);
                let wanted = asked.unwrap_or_else(|| self.defaults.get(name));
                let (effective, origin) = if wanted > ceiling {
                    (ceiling, LimitOrigin::PolicyCeiling)
                } else if asked.is_some() {
                    (wanted, LimitOrigin::Declared)
                } else {
                    (wanted, LimitOrigin::PolicyDefault)
                };
                limits.set(name, effective);
                EffectiveLimit { name, declared: asked, effective, origin }
            })
            .collect();
        EffectiveLimits { limits, decisions }
    }

    /// Names of the limits a declaration asks above the ceiling (for `symphony check`).
    #[must_use]
    pub fn over_ceiling(&self, declared: &DeclaredLimits) -> Vec<(LimitName, u64, u64)> {
        LimitName::ALL
            .iter()
            .filter_map(|&name| {
                let asked = declared.get(name)?;
                let ceiling = self.ceilings.get(name);
                (asked > ceiling).then_some((name, asked, ceiling))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_values_are_clamped_and_gaps_take_defaults() {
        let policy = PlatformPolicy {
            defaults: Limits::default().fuel(100).memory_bytes(1 << 20),
            ceilings: DEFAULT_CEILINGS.fuel(1_000).memory_bytes(8 << 20),
            stack_bytes: DEFAULT_STACK_BYTES,
        };
        let declared = DeclaredLimits { fuel: Some(5_000), deadline_ms: Some(10), ..Default::default() };
        let decided = policy.effective_limits(&declared);
        assert_eq!(decided.limits.fuel, 1_000);
        assert_eq!(decided.limits.deadline_ms, 10);
        assert_eq!(decided.limits.memory_bytes, 1 << 20);
        let origin = |name| decided.decisions.iter().find(|d| d.name == name).map(|d| d.origin);
        assert_eq!(origin(LimitName::Fuel), Some(LimitOrigin::PolicyCeiling));
        assert_eq!(origin(LimitName::DeadlineMs), Some(LimitOrigin::Declared));
        assert_eq!(origin(LimitName::MemoryBytes), Some(LimitOrigin::PolicyDefault));
        assert_eq!(policy.over_ceiling(&declared), vec![(LimitName::Fuel, 5_000, 1_000)]);
    }

    #[test]
    fn a_default_above_the_ceiling_is_clamped_too() {
        let policy = PlatformPolicy {
            defaults: Limits::default().fuel(10_000),
            ceilings: DEFAULT_CEILINGS.fuel(500),
            stack_bytes: DEFAULT_STACK_BYTES,
        };
        let decided = policy.effective_limits(&DeclaredLimits::default());
        assert_eq!(decided.limits.fuel, 500);
        assert_eq!(decided.decisions[0].origin, LimitOrigin::PolicyCeiling);
    }
}
