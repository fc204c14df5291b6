//! [`ReservationPolicy`]: how much memory and fuel calls may hold at once, how many may wait
//! for it per priority class and for how long — plain data with its defaults and the reasons
//! for them. Admitting, queueing and shedding is the [`ResourcePool`](super::ResourcePool)'s job.

use serde::{Deserialize, Serialize};

use symphony_types::limits::DEFAULT_FUEL;
use symphony_types::manifest::Priority;
use symphony_types::policy::DEFAULT_CEILINGS;

/// Default memory all admitted calls may reserve together, in bytes (2 GiB).
///
/// Twice the platform's per-instance memory ceiling ([`DEFAULT_CEILINGS`], 1 GiB), so the
/// largest call the default policy allows is always admissible (a demand above the whole budget
/// is refused outright) and two of them fit at once. At the default per-call memory
/// ([`symphony_types::limits::DEFAULT_MEMORY_BYTES`], 64 MiB) that is 32 calls, half of the pooling
/// allocator's 64 instance slots, so under load callers meet admission (ordered by priority,
/// queued) before they meet `instance_pool_exhausted`. Linear memory is committed as guests
/// touch it; 2 GiB is a worst case a modest server can actually back.
pub const DEFAULT_MEMORY_BUDGET_BYTES: u64 = 2 * DEFAULT_CEILINGS.memory_bytes;

/// Default fuel all admitted calls may reserve together: the sum of their per-call fuel
/// limits, in fuel units (10 000 000 000, fifty calls at [`DEFAULT_FUEL`]).
///
/// Equal to the platform's per-call fuel ceiling ([`DEFAULT_CEILINGS`]), so the largest call
/// the default policy allows is admissible rather than refused forever. Fuel is about one unit
/// per wasm instruction, so this is a bound on committed CPU work: 10^10 instructions are some
/// five core-seconds, which an 8-core host drains in well under [`DEFAULT_QUEUE_TIMEOUT_MS`].
/// For default-sized calls memory binds first (32 calls against 50); fuel binds for extensions
/// that declare large fuel limits, which is what it is for.
pub const DEFAULT_FUEL_BUDGET: u64 = DEFAULT_CEILINGS.fuel;

/// Default number of essential calls that may wait for resources, in calls.
///
/// As many as the instance pool runs at once (64): a full second wave of essential work can
/// wait its turn instead of being refused.
pub const DEFAULT_ESSENTIAL_QUEUE_CAPACITY: usize = 64;
/// Default number of recommended calls that may wait, in calls: half the essential queue.
///
/// Recommended calls are admitted only when no essential call waits, so a long recommended
/// queue would mostly hold callers until their queue timeout.
pub const DEFAULT_RECOMMENDED_QUEUE_CAPACITY: usize = 32;
/// Default number of optional calls that may wait, in calls: a quarter of the essential queue.
///
/// Optional calls are admitted last and are shed on arrival whenever a higher-priority call is
/// waiting; the short queue only smooths bursts of optional work on an otherwise idle pool.
pub const DEFAULT_OPTIONAL_QUEUE_CAPACITY: usize = 16;

/// Default longest wait in a queue before the call is refused as overloaded, in milliseconds.
///
/// Equal to the breaker's slow-call threshold ([`crate::breaker::DEFAULT_SLOW_CALL_MS`]):
/// a call that could not even start within it is better told "overloaded" (transient, so the
/// retrier backs off, or a fallback serves) than held. It is a fifth of the retrier's request
/// deadline ([`crate::retry::DEFAULT_REQUEST_DEADLINE_MS`], 10 s), leaving room for
/// the attempt itself and a retry.
pub const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 2_000;

/// How many calls of each priority class may wait for resources, in calls. Zero means calls of
/// that class are never queued: admitted at once or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueCapacity {
    /// Essential calls that may wait, in calls.
    pub essential: usize,
    /// Recommended calls that may wait, in calls.
    pub recommended: usize,
    /// Optional calls that may wait, in calls.
    pub optional: usize,
}

impl Default for QueueCapacity {
    fn default() -> Self {
        Self {
            essential: DEFAULT_ESSENTIAL_QUEUE_CAPACITY,
            recommended: DEFAULT_RECOMMENDED_QUEUE_CAPACITY,
            optional: DEFAULT_OPTIONAL_QUEUE_CAPACITY,
        }
    }
}

impl QueueCapacity {
    /// The capacity for `priority`'s queue, in calls.
    #[must_use]
    pub fn get(&self, priority: Priority) -> usize {
        match priority {
            Priority::Essential => self.essential,
            Priority::Recommended => self.recommended,
            Priority::Optional => self.optional,
        }
    }

    /// Set the capacity for `priority`'s queue, in calls.
    #[must_use]
    pub fn set(mut self, priority: Priority, calls: usize) -> Self {
        match priority {
            Priority::Essential => self.essential = calls,
            Priority::Recommended => self.recommended = calls,
            Priority::Optional => self.optional = calls,
        }
        self
    }
}

/// The process-wide resource budget calls reserve from, and how callers wait for it. Every
/// field has a default, so a config file sets only what it changes.
///
/// The budgets must be at least the largest per-call limits the platform policy allows, or
/// calls within policy are refused outright; raise them with the ceilings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReservationPolicy {
    /// Memory all admitted calls may reserve together, in bytes (`"2 GiB"` in config files).
    #[serde(with = "symphony_types::byte_size")]
    pub memory_budget_bytes: u64,
    /// Fuel all admitted calls may reserve together (the sum of their fuel limits), in fuel
    /// units.
    pub fuel_budget: u64,
    /// Calls that may wait per priority class, in calls.
    pub queue_capacity: QueueCapacity,
    /// Longest wait in a queue before the call is refused, in milliseconds.
    pub queue_timeout_ms: u64,
}

impl Default for ReservationPolicy {
    fn default() -> Self {
        Self {
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
            fuel_budget: DEFAULT_FUEL_BUDGET,
            queue_capacity: QueueCapacity::default(),
            queue_timeout_ms: DEFAULT_QUEUE_TIMEOUT_MS,
        }
    }
}

impl ReservationPolicy {
    /// Set the memory budget, in bytes.
    #[must_use]
    pub fn memory_budget_bytes(mut self, bytes: u64) -> Self {
        self.memory_budget_bytes = bytes;
        self
    }
    /// Set the fuel budget, in fuel units.
    #[must_use]
    pub fn fuel_budget(mut self, fuel_units: u64) -> Self {
        self.fuel_budget = fuel_units;
        self
    }
    /// Set how many calls of `priority` may wait, in calls.
    #[must_use]
    pub fn queue_capacity(mut self, priority: Priority, calls: usize) -> Self {
        self.queue_capacity = self.queue_capacity.set(priority, calls);
        self
    }
    /// Set the longest wait in a queue, in milliseconds.
    #[must_use]
    pub fn queue_timeout_ms(mut self, milliseconds: u64) -> Self {
        self.queue_timeout_ms = milliseconds;
        self
    }

    /// Check the values make sense. The pool never panics on bad values (a zero budget refuses
    /// every non-zero demand, a zero timeout refuses every call that would wait), but a config
    /// loader should reject them rather than run a pool that admits nothing.
    ///
    /// # Errors
    /// The first field that is zero, as an [`InvalidReservationPolicy`].
    pub fn validate(&self) -> Result<(), InvalidReservationPolicy> {
        let fields = [
            ("memory_budget_bytes", self.memory_budget_bytes),
            ("fuel_budget", self.fuel_budget),
            ("queue_timeout_ms", self.queue_timeout_ms),
        ];
        match fields.iter().find(|(_, value)| *value == 0) {
            Some((field, _)) => Err(InvalidReservationPolicy::ZeroValue { field }),
            None => Ok(()),
        }
    }
}

/// A [`ReservationPolicy`] value that makes no sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReservationPolicy {
    /// A budget or the queue timeout is zero.
    #[error("reservation policy: {field} must be greater than zero")]
    ZeroValue {
        /// The field's name as written in config.
        field: &'static str,
    },
}

/// Keeps the fuel default's doc honest: fifty calls at the default per-call fuel.
const _: () = assert!(DEFAULT_FUEL_BUDGET == 50 * DEFAULT_FUEL);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_constants_and_valid() {
        let policy = ReservationPolicy::default();
        assert_eq!(policy.memory_budget_bytes, 2 << 30);
        assert_eq!(policy.fuel_budget, 10_000_000_000);
        assert_eq!(policy.queue_capacity, QueueCapacity { essential: 64, recommended: 32, optional: 16 });
        assert_eq!(policy.queue_timeout_ms, 2_000);
        assert_eq!(policy.validate(), Ok(()));
        assert!(policy.memory_budget_bytes >= DEFAULT_CEILINGS.memory_bytes);
        assert!(policy.fuel_budget >= DEFAULT_CEILINGS.fuel);
    }

    #[test]
    fn config_sets_only_what_it_changes_and_rejects_unknown_fields() {
        let policy: ReservationPolicy =
            toml::from_str("memory_budget_bytes = \"1 GiB\"\nqueue_capacity = { optional = 0 }").unwrap();
        let expected =
            ReservationPolicy::default().memory_budget_bytes(1 << 30).queue_capacity(Priority::Optional, 0);
        assert_eq!(policy, expected);
        assert_eq!(policy.queue_capacity.get(Priority::Essential), 64);
        assert!(toml::from_str::<ReservationPolicy>("memory_budget = 5").is_err());
        assert!(toml::from_str::<ReservationPolicy>("queue_capacity = { urgent = 5 }").is_err());
    }

    #[test]
    fn validate_names_the_zero_field() {
        let base = ReservationPolicy::default();
        assert_eq!(
            base.fuel_budget(0).validate(),
            Err(InvalidReservationPolicy::ZeroValue { field: "fuel_budget" })
        );
        assert_eq!(
            base.memory_budget_bytes(0).validate(),
            Err(InvalidReservationPolicy::ZeroValue { field: "memory_budget_bytes" })
        );
        assert_eq!(
            base.queue_timeout_ms(0).validate(),
            Err(InvalidReservationPolicy::ZeroValue { field: "queue_timeout_ms" })
        );
        assert_eq!(base.queue_capacity(Priority::Essential, 0).validate(), Ok(()));
    }
}
