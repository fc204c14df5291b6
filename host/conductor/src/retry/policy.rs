//! [`RetryPolicy`]: how often, how far apart and for how long a call is retried, and how large
//! the shared retry budget is — plain data with its defaults and the reasons for them. Acting on
//! it is the [`Retrier`](super::Retrier)'s job; keeping the budget is [`super::RetryBudget`]'s.

use serde::{Deserialize, Serialize};

/// Default total attempts per call, the first included (so two retries).
///
/// Most transient failures that clear at all clear within one or two retries (a full instance
/// pool, a dropped connection, a throttled second); every further attempt mostly adds load to a
/// dependency that is already failing. The budget bounds that amplification across callers;
/// this bounds it, and the caller's worst-case wait, per call.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Default upper bound of the first retry's jittered wait, in milliseconds.
///
/// The commonest transient host error is a full instance pool, which clears as soon as an
/// in-flight call finishes — tens of milliseconds for typical extension calls. 50 ms (25 ms on
/// average under full jitter) gives it that chance without latency a user would notice.
pub const DEFAULT_BASE_BACKOFF_MS: u64 = 50;

/// Default growth of the wait bound per retry (a unitless multiplier, at least 1.0).
///
/// Doubling is the usual exponential step: waits grow fast enough to back off from a struggling
/// dependency and slowly enough that an early retry stays cheap. With the other defaults the two
/// retries wait at most 50 ms and 100 ms; a policy with more attempts reaches the cap after six.
pub const DEFAULT_BACKOFF_FACTOR: f64 = 2.0;

/// Default cap on one jittered wait, in milliseconds.
///
/// Keeps a long series of attempts probing at a useful rate and lets several capped waits fit in
/// the request deadline (five fit in the default 10 s). A guest's `retry_after_ms` hint is not
/// capped by it — a rate limiter that says "500 ms" means it — only by the request deadline.
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 2_000;

/// Default total time for all attempts of one request together (backoff included), in
/// milliseconds.
///
/// Twice the default per-call deadline ([`symphony_types::limits::DEFAULT_DEADLINE_MS`], 5 s): a retry can
/// still start after one slow attempt, while an interactive caller gets an answer within the
/// ~10 s people wait before giving up. No attempt starts at or after it.
pub const DEFAULT_REQUEST_DEADLINE_MS: u64 = 10_000;

/// Default retries allowed per extension, as a fraction of its recent first attempts (unitless,
/// 0.2 = one retry per five calls).
///
/// During a full outage the failing dependency then sees at most 1.2× the load from this host
/// instead of [`DEFAULT_MAX_ATTEMPTS`]× (3×) — retries stop amplifying the outage they react to.
/// Finagle's `RetryBudget` and gRPC's retry throttling use the same 20% order of magnitude.
pub const DEFAULT_BUDGET_RATIO: f64 = 0.2;

/// Default floor of the retry budget, in retries per second per extension.
///
/// The ratio alone starves quiet extensions: at one call a minute it would allow a retry every
/// five minutes. Five retries a second is negligible load for any dependency yet covers the
/// retries of a low-traffic extension. The bucket holds at most
/// [`BUDGET_BURST_SECONDS`] of this floor, so it also sizes the burst after an idle spell.
pub const DEFAULT_BUDGET_MIN_RETRIES_PER_SEC: f64 = 5.0;

/// How many seconds of the floor rate a budget can save up, in seconds (never fewer than that
/// many tokens, so a zero floor still lets ratio deposits save up a few retries).
pub const BUDGET_BURST_SECONDS: f64 = 10.0;

/// How a call is retried. Every field has a default, so a config file sets only what it changes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Total attempts per call, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Upper bound of the first retry's jittered wait, in milliseconds.
    pub base_backoff_ms: u64,
    /// Growth of the wait bound per retry (multiplier, at least 1.0).
    pub backoff_factor: f64,
    /// Cap on one jittered wait, in milliseconds (guest hints may exceed it).
    pub max_backoff_ms: u64,
    /// Total time for all attempts of one request together, in milliseconds.
    pub request_deadline_ms: u64,
    /// Retries allowed as a fraction of recent first attempts, per extension (0.0..).
    pub budget_ratio: f64,
    /// Retries always allowed per extension, in retries per second.
    pub budget_min_retries_per_sec: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_backoff_ms: DEFAULT_BASE_BACKOFF_MS,
            backoff_factor: DEFAULT_BACKOFF_FACTOR,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
            request_deadline_ms: DEFAULT_REQUEST_DEADLINE_MS,
            budget_ratio: DEFAULT_BUDGET_RATIO,
            budget_min_retries_per_sec: DEFAULT_BUDGET_MIN_RETRIES_PER_SEC,
        }
    }
}

impl RetryPolicy {
    /// Set total attempts per call, the first included.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }
    /// Set the first retry's wait bound, in milliseconds.
    #[must_use]
    pub fn base_backoff_ms(mut self, milliseconds: u64) -> Self {
        self.base_backoff_ms = milliseconds;
        self
    }
    /// Set the growth of the wait bound per retry (multiplier).
    #[must_use]
    pub fn backoff_factor(mut self, factor: f64) -> Self {
        self.backoff_factor = factor;
        self
    }
    /// Set the cap on one jittered wait, in milliseconds.
    #[must_use]
    pub fn max_backoff_ms(mut self, milliseconds: u64) -> Self {
        self.max_backoff_ms = milliseconds;
        self
    }
    /// Set the total time for all attempts together, in milliseconds.
    #[must_use]
    pub fn request_deadline_ms(mut self, milliseconds: u64) -> Self {
        self.request_deadline_ms = milliseconds;
        self
    }
    /// Set retries allowed as a fraction of first attempts.
    #[must_use]
    pub fn budget_ratio(mut self, ratio: f64) -> Self {
        self.budget_ratio = ratio;
        self
    }
    /// Set the budget's floor, in retries per second.
    #[must_use]
    pub fn budget_min_retries_per_sec(mut self, retries_per_sec: f64) -> Self {
        self.budget_min_retries_per_sec = retries_per_sec;
        self
    }

    /// Check the values make sense. The retrier never panics on bad values (a factor below 1.0
    /// counts as 1.0, a negative or NaN rate as 0, zero attempts as one), but a config loader
    /// should reject them rather than run with a silently different policy.
    ///
    /// # Errors
    /// The first field that is out of range.
    pub fn validate(&self) -> Result<(), InvalidRetryPolicy> {
        if self.max_attempts == 0 {
            return Err(InvalidRetryPolicy::NoAttempts);
        }
        if self.request_deadline_ms == 0 {
            return Err(InvalidRetryPolicy::NoRequestTime);
        }
        if !(self.backoff_factor.is_finite() && self.backoff_factor >= 1.0) {
            return Err(InvalidRetryPolicy::BackoffFactor { factor: self.backoff_factor });
        }
        if !(self.budget_ratio.is_finite() && self.budget_ratio >= 0.0) {
            return Err(InvalidRetryPolicy::BudgetRatio { ratio: self.budget_ratio });
        }
        if !(self.budget_min_retries_per_sec.is_finite() && self.budget_min_retries_per_sec >= 0.0) {
            return Err(InvalidRetryPolicy::BudgetMinRetriesPerSec {
                retries_per_sec: self.budget_min_retries_per_sec,
            });
        }
        Ok(())
    }

    /// Upper bound of the jittered wait before retry number `retry` (1 = the wait before the
    /// second attempt), in milliseconds: `min(max_backoff_ms, base_backoff_ms × factor^(retry-1))`.
    #[must_use]
    pub fn backoff_bound_ms(&self, retry: u32) -> u64 {
        let cap = self.max_backoff_ms;
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        // `max` maps NaN to 1.0, so a nonsensical factor degrades to a constant bound.
        let bound = self.base_backoff_ms as f64 * self.backoff_factor.max(1.0).powi(exponent);
        if bound >= cap as f64 {
            cap
        } else {
            // Finite and below `cap` here (or NaN from 0 × ∞, which casts to 0).
            bound as u64
        }
    }
}

/// A [`RetryPolicy`] value out of range.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRetryPolicy {
    /// `max_attempts` is 0; the first attempt counts, so at least 1.
    #[error("retry max_attempts must be at least 1 (the first attempt counts)")]
    NoAttempts,
    /// `request_deadline_ms` is 0: no attempt could ever start.
    #[error("retry request_deadline_ms must be above 0")]
    NoRequestTime,
    /// `backoff_factor` is below 1.0 or not finite.
    #[error("retry backoff_factor must be a finite number of at least 1.0, got {factor}")]
    BackoffFactor {
        /// The configured factor.
        factor: f64,
    },
    /// `budget_ratio` is negative or not finite.
    #[error("retry budget_ratio must be a finite number of at least 0.0, got {ratio}")]
    BudgetRatio {
        /// The configured ratio.
        ratio: f64,
    },
    /// `budget_min_retries_per_sec` is negative or not finite.
    #[error(
        "retry budget_min_retries_per_sec must be a finite number of at least 0.0, got {retries_per_sec}"
    )]
    BudgetMinRetriesPerSec {
        /// The configured rate, in retries per second.
        retries_per_sec: f64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_named_constants_and_valid() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts, 3);
        assert_eq!(policy.base_backoff_ms, 50);
        assert_eq!(policy.backoff_factor, 2.0);
        assert_eq!(policy.max_backoff_ms, 2_000);
        assert_eq!(policy.request_deadline_ms, 10_000);
        assert_eq!(policy.budget_ratio, 0.2);
        assert_eq!(policy.budget_min_retries_per_sec, 5.0);
        assert_eq!(policy.validate(), Ok(()));
    }

    #[test]
    fn config_sets_only_what_it_changes_and_rejects_unknown_fields() {
        let policy: RetryPolicy = toml::from_str("max_attempts = 5\nbudget_ratio = 0.1").unwrap();
        assert_eq!(policy, RetryPolicy::default().max_attempts(5).budget_ratio(0.1));
        assert!(toml::from_str::<RetryPolicy>("max_attempt = 5").is_err());
    }

    #[test]
    fn validate_names_the_field_out_of_range() {
        let base = RetryPolicy::default();
        assert_eq!(base.max_attempts(0).validate(), Err(InvalidRetryPolicy::NoAttempts));
        assert_eq!(base.request_deadline_ms(0).validate(), Err(InvalidRetryPolicy::NoRequestTime));
        assert!(matches!(base.backoff_factor(0.5).validate(), Err(InvalidRetryPolicy::BackoffFactor { .. })));
        assert!(matches!(
            base.backoff_factor(f64::NAN).validate(),
            Err(InvalidRetryPolicy::BackoffFactor { .. })
        ));
        assert!(matches!(base.budget_ratio(-0.1).validate(), Err(InvalidRetryPolicy::BudgetRatio { .. })));
        assert!(matches!(
            base.budget_min_retries_per_sec(f64::INFINITY).validate(),
            Err(InvalidRetryPolicy::BudgetMinRetriesPerSec { .. })
        ));
    }

    #[test]
    fn backoff_bound_grows_exponentially_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let bounds: Vec<u64> = (1..=8).map(|retry| policy.backoff_bound_ms(retry)).collect();
        assert_eq!(bounds, [50, 100, 200, 400, 800, 1_600, 2_000, 2_000]);
        assert_eq!(policy.backoff_bound_ms(u32::MAX), 2_000);
    }

    #[test]
    fn backoff_bound_survives_nonsensical_factors() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff_factor(f64::NAN).backoff_bound_ms(4), 50);
        assert_eq!(policy.backoff_factor(0.1).backoff_bound_ms(4), 50);
        assert_eq!(policy.backoff_factor(f64::INFINITY).backoff_bound_ms(2), 2_000);
        assert_eq!(policy.backoff_factor(f64::INFINITY).base_backoff_ms(0).backoff_bound_ms(2), 0);
    }
}
