//! [`Retry`]: retrying an extension's *own* failing steps inside one call.
//!
//! This is for failures the guest can handle itself (a flaky computation, a dependency reached
//! through a granted capability). Retrying the whole call is the host's job and is driven by the
//! [`ExtensionError`](crate::ExtensionError) the guest returns.
//!
//! Waiting between attempts is opt-in. A guest has no clock unless the host grants one, and a
//! busy-wait would only burn fuel, so the default [`Backoff::None`] retries at once. The other
//! backoffs sleep with `std::thread::sleep`, which needs the host to grant the WASI monotonic
//! clock; sleeping spends no fuel but does spend the call's wall-clock deadline
//! ([`RequestContext::deadline_remaining_ms`](crate::RequestContext::deadline_remaining_ms)).
//! Cancellation ([`host::cancelled`](crate::host::cancelled)) is checked before every wait and
//! every further attempt.

use core::time::Duration;

/// Default for [`Retry::new`]'s `max_attempts`, counting the first attempt.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// How long to wait before each retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backoff {
    /// Retry at once: no clock needed, no fuel spent waiting.
    #[default]
    None,
    /// Wait the same duration before every retry.
    Fixed(Duration),
    /// Wait `initial` before the first retry, doubling each time, never more than `max`.
    Exponential {
        /// Wait before the first retry.
        initial: Duration,
        /// Upper bound on any single wait.
        max: Duration,
    },
}

impl Backoff {
    /// An exponential backoff from `initial` doubling up to `max`.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Self::Exponential { initial, max }
    }

    /// The wait before attempt `attempt` (1-based; the first attempt never waits).
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        match *self {
            Self::None => Duration::ZERO,
            Self::Fixed(delay) => delay,
            Self::Exponential { initial, max } => {
                let doublings = attempt.saturating_sub(2).min(31);
                initial.checked_mul(1u32 << doublings).map_or(max, |delay| delay.min(max))
            }
        }
    }
}

/// A retry policy: how many attempts, and how long to wait between them.
///
/// ```
/// use symphony_guest_sdk::{ExtensionError, Retry};
///
/// let mut failures_left = 2;
/// let value = Retry::new(3).run(ExtensionError::is_transient, |_attempt| {
///     if failures_left > 0 {
///         failures_left -= 1;
///         Err(ExtensionError::unavailable("not yet", None))
///     } else {
///         Ok(42)
///     }
/// });
/// assert_eq!(value, Ok(42));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    max_attempts: u32,
    backoff: Backoff,
}

impl Default for Retry {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ATTEMPTS)
    }
}

impl Retry {
    /// At most `max_attempts` attempts in all (at least 1), retrying at once.
    pub fn new(max_attempts: u32) -> Self {
        Self { max_attempts: max_attempts.max(1), backoff: Backoff::None }
    }

    /// Waits according to `backoff` between attempts. Any backoff other than [`Backoff::None`]
    /// needs the host to grant a clock.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The most attempts [`run`](Self::run) makes, counting the first.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The configured backoff.
    pub fn backoff_policy(&self) -> Backoff {
        self.backoff
    }

    /// Runs `operation` (given the 1-based attempt number) until it succeeds, fails with an error
    /// `is_retryable` rejects, attempts run out, or the host cancels the call.
    ///
    /// # Errors
    /// The last error `operation` returned.
    pub fn run<T, E>(
        &self,
        is_retryable: impl FnMut(&E) -> bool,
        operation: impl FnMut(u32) -> Result<T, E>,
    ) -> Result<T, E> {
        self.run_in(&mut HostEnvironment, is_retryable, operation)
    }

    fn run_in<T, E>(
        &self,
        environment: &mut impl RetryEnvironment,
        mut is_retryable: impl FnMut(&E) -> bool,
        mut operation: impl FnMut(u32) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut attempt = 1;
        loop {
            let error = match operation(attempt) {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if attempt >= self.max_attempts || !is_retryable(&error) || environment.cancelled() {
                return Err(error);
            }
            attempt += 1;
            let delay = self.backoff.delay_before(attempt);
            if !delay.is_zero() {
                environment.wait(delay);
                if environment.cancelled() {
                    return Err(error);
                }
            }
        }
    }
}

/// What [`Retry`] needs from the outside world; faked in tests so they never sleep.
trait RetryEnvironment {
    fn cancelled(&mut self) -> bool;
    fn wait(&mut self, delay: Duration);
}

/// The real environment: the host's cancellation flag and the (granted) WASI clock.
struct HostEnvironment;

impl RetryEnvironment for HostEnvironment {
    fn cancelled(&mut self) -> bool {
        crate::host::cancelled()
    }

    fn wait(&mut self, delay: Duration) {
        std::thread::sleep(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records waits; reports cancellation once `cancel_after_checks` checks have happened.
    #[derive(Default)]
    struct FakeEnvironment {
        waits: Vec<Duration>,
        checks: u32,
        cancel_after_checks: Option<u32>,
    }

    impl RetryEnvironment for FakeEnvironment {
        fn cancelled(&mut self) -> bool {
            self.checks += 1;
            self.cancel_after_checks.is_some_and(|limit| self.checks > limit)
        }

        fn wait(&mut self, delay: Duration) {
            self.waits.push(delay);
        }
    }

    #[derive(Debug, PartialEq)]
    enum Failure {
        Transient(u32),
        Permanent(u32),
    }

    fn transient(failure: &Failure) -> bool {
        matches!(failure, Failure::Transient(_))
    }

    /// Fails transiently on attempts up to `failures`, then succeeds with the attempt number.
    fn fails_until(failures: u32) -> impl FnMut(u32) -> Result<u32, Failure> {
        move |attempt| {
            if attempt <= failures { Err(Failure::Transient(attempt)) } else { Ok(attempt) }
        }
    }

    #[test]
    fn success_first_time_makes_one_attempt() {
        let mut env = FakeEnvironment::default();
        let mut calls = 0;
        let result = Retry::new(5).run_in(&mut env, transient, |attempt| {
            calls += 1;
            fails_until(0)(attempt)
        });
        assert_eq!(result, Ok(1));
        assert_eq!(calls, 1);
        assert_eq!(env.checks, 0);
    }

    #[test]
    fn retries_transient_failures_until_success() {
        let mut env = FakeEnvironment::default();
        let result = Retry::new(3).run_in(&mut env, transient, fails_until(2));
        assert_eq!(result, Ok(3));
        assert!(env.waits.is_empty(), "Backoff::None never waits");
    }

    #[test]
    fn gives_up_after_max_attempts_with_the_last_error() {
        let mut env = FakeEnvironment::default();
        let result = Retry::new(3).run_in(&mut env, transient, fails_until(10));
        assert_eq!(result, Err(Failure::Transient(3)));
    }

    #[test]
    fn does_not_retry_what_the_predicate_rejects() {
        let mut env = FakeEnvironment::default();
        let mut calls = 0;
        let result: Result<(), _> = Retry::new(5).run_in(&mut env, transient, |attempt| {
            calls += 1;
            Err(Failure::Permanent(attempt))
        });
        assert_eq!(result, Err(Failure::Permanent(1)));
        assert_eq!(calls, 1);
    }

    #[test]
    fn zero_max_attempts_still_tries_once() {
        let mut env = FakeEnvironment::default();
        assert_eq!(Retry::new(0).max_attempts(), 1);
        let result = Retry::new(0).run_in(&mut env, transient, fails_until(1));
        assert_eq!(result, Err(Failure::Transient(1)));
    }

    #[test]
    fn cancellation_stops_before_the_next_attempt() {
        let mut env = FakeEnvironment { cancel_after_checks: Some(1), ..FakeEnvironment::default() };
        let result = Retry::new(10).run_in(&mut env, transient, fails_until(10));
        assert_eq!(result, Err(Failure::Transient(2)));
    }

    #[test]
    fn cancellation_during_a_wait_stops_before_the_next_attempt() {
        let mut env = FakeEnvironment { cancel_after_checks: Some(1), ..FakeEnvironment::default() };
        let policy = Retry::new(10).backoff(Backoff::Fixed(Duration::from_millis(5)));
        let result = policy.run_in(&mut env, transient, fails_until(10));
        assert_eq!(result, Err(Failure::Transient(1)));
        assert_eq!(env.waits, [Duration::from_millis(5)]);
    }

    #[test]
    fn waits_follow_the_backoff() {
        let mut env = FakeEnvironment::default();
        let policy =
            Retry::new(5).backoff(Backoff::exponential(Duration::from_millis(10), Duration::from_millis(25)));
        let result = policy.run_in(&mut env, transient, fails_until(4));
        assert_eq!(result, Ok(5));
        let millis: Vec<u128> = env.waits.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [10, 20, 25, 25]);
    }

    #[test]
    fn exponential_backoff_saturates_at_max() {
        let backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff.delay_before(1), Duration::ZERO);
        assert_eq!(backoff.delay_before(2), Duration::from_secs(1));
        assert_eq!(backoff.delay_before(4), Duration::from_secs(4));
        assert_eq!(backoff.delay_before(u32::MAX), Duration::from_secs(60));
        assert_eq!(Backoff::None.delay_before(7), Duration::ZERO);
    }

    #[test]
    fn default_policy_is_three_attempts_without_waiting() {
        let policy = Retry::default();
        assert_eq!(policy.max_attempts(), DEFAULT_MAX_ATTEMPTS);
        assert_eq!(policy.backoff_policy(), Backoff::None);
    }
}
