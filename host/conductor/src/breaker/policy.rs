//! When a breaker opens and for how long, as plain data with units and defaults.
//!
//! [`BreakerPolicy`] is what a config file or a manifest sets; [`BreakerPolicy::validate`] rejects
//! nonsense for loaders that can report it, and [`BreakerPolicy::effective`] is the one place
//! out-of-range values are clamped, so no policy can make a breaker panic or divide by zero.
//! Running the state machine is the breaker's job, not this file's.

use serde::{Deserialize, Serialize};

use super::window::WINDOW_BUCKETS;

/// Default length of the sliding window failures are counted over, in milliseconds.
///
/// Ten seconds holds enough calls at modest traffic to reach [`DEFAULT_MINIMUM_CALLS`], yet is
/// short enough that the breaker reacts within seconds and that failures from before a
/// recovery stop counting soon after it.
pub const DEFAULT_WINDOW_MS: u64 = 10_000;
/// Default number of calls the window must hold before its failure ratio can open the
/// breaker, in calls.
///
/// Below this the ratio is noise: two failures out of three calls of a rarely used extension
/// say little. Ten calls at [`DEFAULT_FAILURE_RATIO`] means at least five failures.
pub const DEFAULT_MINIMUM_CALLS: u32 = 10;
/// Default failure ratio (failures / counted calls, 0.0..=1.0) at or above which the breaker
/// opens.
///
/// When half the calls fail the extension is broken rather than flaky; below that, retries
/// within their budget serve callers better than refusing everyone.
pub const DEFAULT_FAILURE_RATIO: f64 = 0.5;
/// Default duration above which a *successful* call counts as a failure, in milliseconds.
///
/// Two fifths of the default call deadline ([`symphony_types::limits::DEFAULT_DEADLINE_MS`], 5 000 ms):
/// a call this slow holds an instance slot and is heading for a deadline breach, so counting it
/// early opens the breaker before every caller has waited out the full deadline.
pub const DEFAULT_SLOW_CALL_MS: u64 = 2_000;
/// Default length of the first open period after the breaker trips, in milliseconds.
///
/// Most outages a breaker sees are short (a dependency restarting, a burst of throttling): one
/// second sheds the load without turning a blip into an outage. Repeated trips back off.
pub const DEFAULT_OPEN_MS: u64 = 1_000;
/// Default factor each consecutive trip (a failed half-open probe) multiplies the open period
/// by (dimensionless, at least 1.0).
///
/// Doubling gives 1, 2, 4, 8, 16, 32 then [`DEFAULT_MAX_OPEN_MS`] seconds: an extension that
/// stays broken is probed less and less often, reaching the cap after six failed probes.
pub const DEFAULT_OPEN_BACKOFF_FACTOR: f64 = 2.0;
/// Default cap on the open period, in milliseconds.
///
/// An extension that stays broken is still probed at least once a minute, so its recovery is
/// noticed within a minute without hammering it.
pub const DEFAULT_MAX_OPEN_MS: u64 = 60_000;
/// Default number of probe calls let through in half-open, in calls. All must succeed to close;
/// any failure re-opens with a longer period.
///
/// One success can be luck (a cached path, one healthy replica behind the extension); three in
/// a row is evidence. Few enough that a still-broken extension costs three calls per period.
pub const DEFAULT_HALF_OPEN_PROBES: u32 = 3;

/// How one `extension@version`'s breaker decides. Fields left out of a config file take their
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerPolicy {
    /// Sliding window failures are counted over, in milliseconds.
    pub window_ms: u64,
    /// Calls the window must hold before its failure ratio counts, in calls.
    pub minimum_calls: u32,
    /// Failure ratio (0.0..=1.0) at or above which the breaker opens.
    pub failure_ratio: f64,
    /// A successful call slower than this counts as a failure, in milliseconds.
    pub slow_call_ms: u64,
    /// First open period, in milliseconds.
    pub open_ms: u64,
    /// Each consecutive trip multiplies the open period by this (at least 1.0).
    pub open_backoff_factor: f64,
    /// Longest open period, in milliseconds.
    pub max_open_ms: u64,
    /// Probe calls let through in half-open, in calls.
    pub half_open_probes: u32,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            window_ms: DEFAULT_WINDOW_MS,
            minimum_calls: DEFAULT_MINIMUM_CALLS,
            failure_ratio: DEFAULT_FAILURE_RATIO,
            slow_call_ms: DEFAULT_SLOW_CALL_MS,
            open_ms: DEFAULT_OPEN_MS,
            open_backoff_factor: DEFAULT_OPEN_BACKOFF_FACTOR,
            max_open_ms: DEFAULT_MAX_OPEN_MS,
            half_open_probes: DEFAULT_HALF_OPEN_PROBES,
        }
    }
}

/// A breaker policy value that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerPolicyError {
    /// A count or duration that must be positive is zero.
    #[error("breaker policy: {field} must be greater than zero")]
    ZeroValue {
        /// The field's name as written in config.
        field: &'static str,
    },
    /// The window is shorter than one millisecond per bucket.
    #[error("breaker policy: window_ms is {window_ms}, it must be at least {minimum_ms}")]
    WindowTooShort {
        /// The configured window, in milliseconds.
        window_ms: u64,
        /// The shortest window allowed, in milliseconds.
        minimum_ms: u64,
    },
    /// The failure ratio is not a number between 0.0 and 1.0.
    #[error("breaker policy: failure_ratio is {ratio}, it must be between 0.0 and 1.0")]
    FailureRatioOutOfRange {
        /// The configured ratio.
        ratio: f64,
    },
    /// The backoff factor would shrink the open period (or is not a number).
    #[error("breaker policy: open_backoff_factor is {factor}, it must be a number of at least 1.0")]
    BackoffFactorBelowOne {
        /// The configured factor.
        factor: f64,
    },
    /// The cap on the open period is below the first open period.
    #[error("breaker policy: max_open_ms ({max_open_ms}) is below open_ms ({open_ms})")]
    MaxOpenBelowOpen {
        /// First open period, in milliseconds.
        open_ms: u64,
        /// Longest open period, in milliseconds.
        max_open_ms: u64,
    },
}

/// The shortest window: one millisecond per bucket, in milliseconds.
const MINIMUM_WINDOW_MS: u64 = WINDOW_BUCKETS as u64;

impl BreakerPolicy {
    /// Set the sliding window, in milliseconds.
    #[must_use]
    pub fn window_ms(mut self, milliseconds: u64) -> Self {
        self.window_ms = milliseconds;
        self
    }
    /// Set the calls needed before the failure ratio counts, in calls.
    #[must_use]
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }
    /// Set the failure ratio (0.0..=1.0) that opens the breaker.
    #[must_use]
    pub fn failure_ratio(mut self, ratio: f64) -> Self {
        self.failure_ratio = ratio;
        self
    }
    /// Set the duration above which a success counts as a failure, in milliseconds.
    #[must_use]
    pub fn slow_call_ms(mut self, milliseconds: u64) -> Self {
        self.slow_call_ms = milliseconds;
        self
    }
    /// Set the first open period, in milliseconds.
    #[must_use]
    pub fn open_ms(mut self, milliseconds: u64) -> Self {
        self.open_ms = milliseconds;
        self
    }
    /// Set the factor each consecutive trip multiplies the open period by (at least 1.0).
    #[must_use]
    pub fn open_backoff_factor(mut self, factor: f64) -> Self {
        self.open_backoff_factor = factor;
        self
    }
    /// Set the longest open period, in milliseconds.
    #[must_use]
    pub fn max_open_ms(mut self, milliseconds: u64) -> Self {
        self.max_open_ms = milliseconds;
        self
    }
    /// Set the probe calls let through in half-open, in calls.
    #[must_use]
    pub fn half_open_probes(mut self, calls: u32) -> Self {
        self.half_open_probes = calls;
        self
    }

    /// Check every value is usable as written.
    ///
    /// # Errors
    /// The first value that makes no sense, as a [`BreakerPolicyError`].
    pub fn validate(&self) -> Result<(), BreakerPolicyError> {
        let zero = [
            ("minimum_calls", u64::from(self.minimum_calls)),
            ("slow_call_ms", self.slow_call_ms),
            ("open_ms", self.open_ms),
            ("half_open_probes", u64::from(self.half_open_probes)),
        ];
        if let Some((field, _)) = zero.iter().find(|(_, value)| *value == 0) {
            return Err(BreakerPolicyError::ZeroValue { field });
        }
        if self.window_ms < MINIMUM_WINDOW_MS {
            return Err(BreakerPolicyError::WindowTooShort {
                window_ms: self.window_ms,
                minimum_ms: MINIMUM_WINDOW_MS,
            });
        }
        if !(0.0..=1.0).contains(&self.failure_ratio) {
            return Err(BreakerPolicyError::FailureRatioOutOfRange { ratio: self.failure_ratio });
        }
        // `!(x >= 1.0)` rather than `x < 1.0` so NaN is rejected too.
        if !(self.open_backoff_factor >= 1.0 && self.open_backoff_factor.is_finite()) {
            return Err(BreakerPolicyError::BackoffFactorBelowOne { factor: self.open_backoff_factor });
        }
        if self.max_open_ms < self.open_ms {
            return Err(BreakerPolicyError::MaxOpenBelowOpen {
                open_ms: self.open_ms,
                max_open_ms: self.max_open_ms,
            });
        }
        Ok(())
    }

    /// The policy a breaker actually runs: each value that [`validate`](Self::validate) would
    /// reject is clamped to the nearest usable one (a NaN ratio or factor takes its default).
    /// A valid policy is returned unchanged.
    #[must_use]
    pub fn effective(self) -> Self {
        let open_ms = self.open_ms.max(1);
        Self {
            window_ms: self.window_ms.max(MINIMUM_WINDOW_MS),
            minimum_calls: self.minimum_calls.max(1),
            failure_ratio: if self.failure_ratio.is_nan() {
                DEFAULT_FAILURE_RATIO
            } else {
                self.failure_ratio.clamp(0.0, 1.0)
            },
            slow_call_ms: self.slow_call_ms.max(1),
            open_ms,
            open_backoff_factor: if self.open_backoff_factor.is_nan() {
                DEFAULT_OPEN_BACKOFF_FACTOR
            } else {
                // An infinite factor is harmless: the next period is capped at max_open_ms.
                self.open_backoff_factor.max(1.0)
            },
            max_open_ms: self.max_open_ms.max(open_ms),
            half_open_probes: self.half_open_probes.max(1),
        }
    }

    /// The open period after one that lasted `previous_ms`, in milliseconds: multiplied by
    /// the backoff factor and capped at `max_open_ms`.
    pub(super) fn next_open_ms(&self, previous_ms: u64) -> u64 {
        // Float-to-int `as` saturates, so a huge product lands on u64::MAX before the cap.
        let grown = (previous_ms as f64 * self.open_backoff_factor).ceil() as u64;
        grown.clamp(self.open_ms, self.max_open_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_constants_and_valid() {
        let policy = BreakerPolicy::default();
        assert_eq!(policy.window_ms, 10_000);
        assert_eq!(policy.minimum_calls, 10);
        assert!((policy.failure_ratio - 0.5).abs() < f64::EPSILON);
        assert_eq!(policy.slow_call_ms, 2_000);
        assert_eq!(policy.open_ms, 1_000);
        assert!((policy.open_backoff_factor - 2.0).abs() < f64::EPSILON);
        assert_eq!(policy.max_open_ms, 60_000);
        assert_eq!(policy.half_open_probes, 3);
        assert_eq!(policy.validate(), Ok(()));
        assert_eq!(policy.effective(), policy);
    }

    #[test]
    fn config_fills_missing_fields_with_defaults_and_rejects_unknown_ones() {
        let policy: BreakerPolicy = toml::from_str("failure_ratio = 0.25\nopen_ms = 500").unwrap();
        assert_eq!(policy, BreakerPolicy::default().failure_ratio(0.25).open_ms(500));
        assert!(toml::from_str::<BreakerPolicy>("failure_rate = 0.25").is_err());
    }

    #[test]
    fn validate_names_what_is_wrong() {
        let base = BreakerPolicy::default();
        assert!(matches!(
            base.half_open_probes(0).validate(),
            Err(BreakerPolicyError::ZeroValue { field: "half_open_probes" })
        ));
        assert!(matches!(base.window_ms(5).validate(), Err(BreakerPolicyError::WindowTooShort { .. })));
        assert!(matches!(
            base.failure_ratio(1.5).validate(),
            Err(BreakerPolicyError::FailureRatioOutOfRange { .. })
        ));
        assert!(matches!(
            base.failure_ratio(f64::NAN).validate(),
            Err(BreakerPolicyError::FailureRatioOutOfRange { .. })
        ));
        assert!(matches!(
            base.open_backoff_factor(0.5).validate(),
            Err(BreakerPolicyError::BackoffFactorBelowOne { .. })
        ));
        assert!(matches!(
            base.open_backoff_factor(f64::NAN).validate(),
            Err(BreakerPolicyError::BackoffFactorBelowOne { .. })
        ));
        assert!(matches!(
            base.open_ms(5_000).max_open_ms(1_000).validate(),
            Err(BreakerPolicyError::MaxOpenBelowOpen { open_ms: 5_000, max_open_ms: 1_000 })
        ));
    }

    #[test]
    fn effective_clamps_what_validate_rejects() {
        let clamped = BreakerPolicy::default()
            .window_ms(0)
            .minimum_calls(0)
            .failure_ratio(f64::NAN)
            .slow_call_ms(0)
            .open_ms(0)
            .open_backoff_factor(0.1)
            .max_open_ms(0)
            .half_open_probes(0)
            .effective();
        assert_eq!(clamped.validate(), Ok(()));
        assert_eq!(clamped.window_ms, MINIMUM_WINDOW_MS);
        assert_eq!(clamped.failure_ratio, DEFAULT_FAILURE_RATIO);
        assert_eq!(clamped.max_open_ms, 1);
    }

    #[test]
    fn open_period_grows_by_the_factor_up_to_the_cap() {
        let policy = BreakerPolicy::default().open_ms(1_000).open_backoff_factor(2.0).max_open_ms(3_000);
        assert_eq!(policy.next_open_ms(1_000), 2_000);
        assert_eq!(policy.next_open_ms(2_000), 3_000);
        assert_eq!(policy.next_open_ms(3_000), 3_000);
        let unbounded = policy.open_backoff_factor(f64::INFINITY).effective();
        assert_eq!(unbounded.next_open_ms(1_000), 3_000);
    }
}
