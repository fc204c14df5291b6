//! Retry budgets: a token bucket per extension (`name@version`), shared by every caller, that
//! caps retries to a fraction of recent first attempts plus a small floor — so retries cannot
//! multiply the load on a dependency that is already down. When to spend a token is the
//! [`Retrier`](super::Retrier)'s decision; time comes in as an argument, from its clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::policy::{BUDGET_BURST_SECONDS, RetryPolicy};

/// Slack when comparing the balance to one token: ratio deposits (0.2 five times) add up to
/// 0.999… in floating point, and that fifth call should still earn its retry.
const TOKEN_EPSILON: f64 = 1e-9;

/// One extension's retry allowance: a token bucket. Each first attempt deposits `ratio` tokens,
/// time refills `min_retries_per_sec` tokens a second, each retry withdraws one; the balance
/// never exceeds [`max_balance`](Self::max_balance). A new bucket starts with one second of
/// floor, not full: a host restarted in the middle of an outage should not open with a burst.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_retries_per_sec: f64,
    max_balance: f64,
    // Only ever locked for a few arithmetic operations, never across an await.
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens, each worth one retry.
    balance: f64,
    /// Clock time the floor refill was last applied.
    refilled_at: Duration,
}

impl RetryBudget {
    /// A bucket depositing `ratio` tokens per first attempt and `min_retries_per_sec` tokens a
    /// second, created at clock time `now`. Negative or NaN rates count as zero.
    #[must_use]
    pub fn new(ratio: f64, min_retries_per_sec: f64, now: Duration) -> Self {
        let ratio = ratio.max(0.0);
        let min_retries_per_sec = min_retries_per_sec.max(0.0);
        let max_balance = BUDGET_BURST_SECONDS * min_retries_per_sec.max(1.0);
        Self {
            ratio,
            min_retries_per_sec,
            max_balance,
            bucket: Mutex::new(Bucket { balance: min_retries_per_sec.min(max_balance), refilled_at: now }),
        }
    }

    /// The most tokens the bucket holds, in retries.
    #[must_use]
    pub fn max_balance(&self) -> f64 {
        self.max_balance
    }

    /// Tokens available at clock time `now`, in retries (fractions included).
    #[must_use]
    pub fn balance(&self, now: Duration) -> f64 {
        self.with_bucket(now, |bucket| bucket.balance)
    }

    /// Record a first attempt at `now`: it earns `ratio` of a retry.
    pub fn deposit_first_attempt(&self, now: Duration) {
        let (ratio, max) = (self.ratio, self.max_balance);
        self.with_bucket(now, |bucket| bucket.balance = (bucket.balance + ratio).min(max));
    }

    /// Take one token for a retry at `now`; `false` (and nothing taken) when less than one is left.
    #[must_use]
    pub fn try_withdraw(&self, now: Duration) -> bool {
        self.with_bucket(now, |bucket| {
            if bucket.balance + TOKEN_EPSILON >= 1.0 {
                bucket.balance = (bucket.balance - 1.0).max(0.0);
                true
            } else {
                false
            }
        })
    }

    /// Apply the floor refill up to `now`, then `f`, under the lock.
    fn with_bucket<T>(&self, now: Duration, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_sub(bucket.refilled_at);
        bucket.balance =
            (bucket.balance + elapsed.as_secs_f64() * self.min_retries_per_sec).min(self.max_balance);
        bucket.refilled_at = bucket.refilled_at.max(now);
        f(&mut bucket)
    }
}

/// Every extension's [`RetryBudget`], created on first use with one policy's settings. Clones
/// share the same budgets, so every retrier (and caller) of an extension draws on one bucket.
#[derive(Debug, Clone)]
pub struct RetryBudgets {
    ratio: f64,
    min_retries_per_sec: f64,
    // Held only to look up or insert, never across an await. Grows with the extensions loaded.
    by_extension: Arc<Mutex<HashMap<String, Arc<RetryBudget>>>>,
}

impl RetryBudgets {
    /// Budgets depositing `ratio` tokens per first attempt and refilling `min_retries_per_sec`
    /// tokens a second.
    #[must_use]
    pub fn new(ratio: f64, min_retries_per_sec: f64) -> Self {
        Self { ratio, min_retries_per_sec, by_extension: Arc::default() }
    }

    /// Budgets with `policy`'s `budget_ratio` and `budget_min_retries_per_sec`.
    #[must_use]
    pub fn from_policy(policy: &RetryPolicy) -> Self {
        Self::new(policy.budget_ratio, policy.budget_min_retries_per_sec)
    }

    /// The budget of `extension` (`name@version`), created at clock time `now` if it is new.
    #[must_use]
    pub fn budget(&self, extension: &str, now: Duration) -> Arc<RetryBudget> {
        let mut by_extension = self.by_extension.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(budget) = by_extension.get(extension) {
            return Arc::clone(budget);
        }
        let budget = Arc::new(RetryBudget::new(self.ratio, self.min_retries_per_sec, now));
        by_extension.insert(extension.to_owned(), Arc::clone(&budget));
        budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn withdraw_all(budget: &RetryBudget, now: Duration) -> usize {
        std::iter::from_fn(|| budget.try_withdraw(now).then_some(())).count()
    }

    #[test]
    fn starts_with_one_second_of_floor_and_earns_a_ratio_per_first_attempt() {
        let budget = RetryBudget::new(0.2, 5.0, Duration::ZERO);
        assert_eq!(withdraw_all(&budget, Duration::ZERO), 5);
        for _ in 0..4 {
            budget.deposit_first_attempt(Duration::ZERO);
            assert!(!budget.try_withdraw(Duration::ZERO));
        }
        budget.deposit_first_attempt(Duration::ZERO);
        assert!(budget.try_withdraw(Duration::ZERO), "five first attempts earn one retry");
        assert!(!budget.try_withdraw(Duration::ZERO));
    }

    #[test]
    fn refills_at_the_floor_rate_up_to_the_burst_cap() {
        let budget = RetryBudget::new(0.2, 5.0, Duration::ZERO);
        assert_eq!(withdraw_all(&budget, Duration::ZERO), 5);
        assert_eq!(withdraw_all(&budget, SECOND), 5);
        assert_eq!(budget.max_balance(), 50.0);
        assert_eq!(budget.balance(SECOND * 3600), 50.0);
        for _ in 0..1_000 {
            budget.deposit_first_attempt(SECOND * 3600);
        }
        assert_eq!(withdraw_all(&budget, SECOND * 3600), 50);
    }

    #[test]
    fn a_zero_floor_is_a_pure_ratio_budget_that_still_saves_up() {
        let budget = RetryBudget::new(0.5, 0.0, Duration::ZERO);
        assert!(!budget.try_withdraw(SECOND * 60), "no floor, no first attempts: no retries");
        for _ in 0..100 {
            budget.deposit_first_attempt(SECOND * 60);
        }
        assert_eq!(withdraw_all(&budget, SECOND * 60), 10);
    }

    #[test]
    fn clock_going_backwards_neither_refills_nor_panics() {
        let budget = RetryBudget::new(0.2, 5.0, SECOND * 10);
        assert_eq!(withdraw_all(&budget, SECOND * 10), 5);
        assert_eq!(withdraw_all(&budget, SECOND), 0);
        assert_eq!(withdraw_all(&budget, SECOND * 10), 0);
    }

    #[test]
    fn budgets_are_shared_per_extension_and_separate_between_extensions() {
        let budgets = RetryBudgets::new(0.2, 1.0);
        let shared = budgets.clone();
        assert!(budgets.budget("a@1.0.0", Duration::ZERO).try_withdraw(Duration::ZERO));
        assert!(!shared.budget("a@1.0.0", Duration::ZERO).try_withdraw(Duration::ZERO));
        assert!(shared.budget("a@2.0.0", Duration::ZERO).try_withdraw(Duration::ZERO));
    }
}
