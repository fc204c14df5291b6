//! Retry of transient errors: the [`Retrier`] runs one request against an [`Invoke`] target
//! until it succeeds, fails for good, or a limit says stop. It owns *whether and when* to try
//! again; the policy values live in [`RetryPolicy`], the shared per-extension allowance in
//! [`RetryBudget`], the jitter source in [`Jitter`]. Whether an error is worth retrying is the
//! error taxonomy's call ([`ErrorClass`]), and refusing calls to a failing extension outright is
//! the breaker's.
//!
//! The rules, in the order they are applied:
//!
//! - Only [`ErrorClass::Transient`] errors are retried. Fatal and recoverable errors come back
//!   after one attempt: the same input fails the same way, and a recoverable error is for a
//!   fallback, not for a retry. An open breaker's refusal ([`ConductorError::CircuitOpen`]),
//!   transient as it is, is not retried either: the call fails fast, which is the breaker's
//!   point, and its `retry_after_ms` goes back to the caller (a service answers 503 with
//!   `Retry-After`) instead of being slept off inside the call.
//! - Every attempt carries the same `request_id` and its 1-based `attempt` number, so the guest
//!   can tell a retry from a new request. Otherwise an attempt is the caller's request as given
//!   (only its deadline cap changes): the same cancel token and the same live progress view, so
//!   whoever watches progress keeps seeing it across retries.
//! - The wait before retry `n` is the guest's `retry_after_ms` hint (0 without one) **plus** a
//!   full-jitter draw from `0..=min(max_backoff_ms, base_backoff_ms × factor^(n-1))`. Adding
//!   the jitter to the hint, rather than taking the larger of the two, keeps callers that got
//!   the same "retry after 500 ms" from returning in the same millisecond.
//! - No attempt starts at or after the request deadline (`request_deadline_ms` from the start
//!   of [`Retrier::run`]): when the next wait would end there, the retrier stops. It then
//!   returns the **last real error** — what actually failed, with its kind and hint — and only
//!   when no attempt ran at all [`ConductorError::RequestDeadlineExceeded`], because then there
//!   is nothing more useful to say. A running attempt is never cut off: dropping it would lose
//!   its usage and the sandbox's audit of breaches and denials, and its own per-call deadline
//!   already bounds it. The total time is therefore at most the request deadline plus one
//!   attempt's per-call deadline.
//! - A retry spends one token of the extension's [`RetryBudget`], taken before the wait so an
//!   exhausted budget fails the call at once instead of after a pointless sleep, and after the
//!   deadline check so a retry that could not happen costs nothing.
//! - The caller's [`CancelToken`] is checked before every attempt and at least every
//!   [`CANCEL_CHECK_INTERVAL`] while waiting (the token carries no wake-up, so waits are sliced);
//!   during an attempt the guest itself sees the cancellation.
//!
//! When the retrier's own error ends the call (budget exhausted, cancelled) after attempts ran,
//! [`RetryOutcome::last_attempt_error`] keeps the guest's or sandbox's error, and
//! [`RetryOutcome::attempts`] the whole history.

mod attempt_span;
mod budget;
mod jitter;
#[cfg(test)]
mod live_progress_tests;
mod policy;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

pub use budget::{RetryBudget, RetryBudgets};
pub use jitter::Jitter;
pub use policy::{
    BUDGET_BURST_SECONDS, DEFAULT_BACKOFF_FACTOR, DEFAULT_BASE_BACKOFF_MS,
    DEFAULT_BUDGET_MIN_RETRIES_PER_SEC, DEFAULT_BUDGET_RATIO, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_BACKOFF_MS,
    DEFAULT_REQUEST_DEADLINE_MS, InvalidRetryPolicy, RetryPolicy,
};

use super::clock::Clock;
use super::invoke::{Attempt, Invoke, InvokeOutcome};
use symphony_types::call_log::CallLog;
use symphony_types::error::{CallError, ConductorError, ErrorClass};
use symphony_types::payload::{CallRequest, CancelToken, Payload};
use symphony_types::usage::Usage;

/// Longest stretch a backoff wait goes without looking at the cancel token. 20 ms is below what
/// a person notices and costs a waiting call 50 timer wake-ups a second.
pub const CANCEL_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// What [`Retrier::run`] ended with.
#[derive(Debug)]
pub struct RetryOutcome {
    /// The output, or the error that ended the call: the last attempt's own error, or the
    /// retrier's ([`ConductorError::Cancelled`], [`ConductorError::RetryBudgetExhausted`], or
    /// [`ConductorError::RequestDeadlineExceeded`] when no attempt could run).
    pub result: Result<Payload, CallError>,
    /// The successful output parsed as JSON, when the target handed it over parsed
    /// ([`InvokeOutcome::json`]).
    pub json: Option<serde_json::Value>,
    /// The last attempt's error when `result` holds the retrier's error instead (budget
    /// exhausted or cancelled after an attempt failed); `None` otherwise.
    pub last_attempt_error: Option<CallError>,
    /// Every attempt made, in order (empty when none could start).
    pub attempts: Vec<Attempt>,
    /// What all attempts consumed together: fuel and wall time summed, memory the peak of any.
    pub usage_total: Usage,
    /// The last attempt's guest log, when the target keeps one.
    pub last_log: Option<CallLog>,
}

/// Runs requests with retries under one [`RetryPolicy`], drawing on shared [`RetryBudgets`].
/// One retrier serves any number of concurrent callers and targets.
#[derive(Debug)]
pub struct Retrier {
    policy: RetryPolicy,
    budgets: RetryBudgets,
    clock: Arc<dyn Clock>,
    rng: Jitter,
}

impl Retrier {
    /// A retrier with its own budgets (from `policy`) and an entropy-seeded jitter source.
    #[must_use]
    pub fn new(policy: RetryPolicy, clock: Arc<dyn Clock>) -> Self {
        Self { budgets: RetryBudgets::from_policy(&policy), policy, clock, rng: Jitter::from_entropy() }
    }

    /// Draw on `budgets` instead, to share them with other retriers of the same extensions.
    #[must_use]
    pub fn with_budgets(mut self, budgets: RetryBudgets) -> Self {
        self.budgets = budgets;
        self
    }

    /// Seed the jitter source, for reproducible waits.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = Jitter::from_seed(seed);
        self
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The budgets drawn on (clone to share).
    #[must_use]
    pub fn budgets(&self) -> &RetryBudgets {
        &self.budgets
    }

    /// The wait before retry number `retry` (1 = before the second attempt), in milliseconds:
    /// `retry_after_ms` plus a uniform draw from `0..=`[`RetryPolicy::backoff_bound_ms`].
    pub fn backoff_ms(&self, retry: u32, retry_after_ms: Option<u64>) -> u64 {
        let jitter = self.rng.uniform_inclusive(self.policy.backoff_bound_ms(retry));
        retry_after_ms.unwrap_or(0).saturating_add(jitter)
    }

    /// Run `request` against `target`, retrying transient errors under the policy (see the
    /// module documentation for the rules). Never panics; every way it ends is in the outcome.
    pub async fn run(&self, target: &dyn Invoke, request: CallRequest) -> RetryOutcome {
        let extension = target.id();
        let started = self.clock.now();
        let limit_ms = self.policy.request_deadline_ms;
        let deadline = started.checked_add(Duration::from_millis(limit_ms)).unwrap_or(Duration::MAX);
        let max_attempts = self.policy.max_attempts.max(1);
        let budget = self.budgets.budget(&extension, started);
        let mut history = History::new(extension.clone());
        let mut last_error: Option<CallError> = None;
        let mut waited = Duration::ZERO;
        let mut attempt: u32 = 1;
        // One clock reading per attempt serves the deadline check, the budget and the cap.
        let mut now = started;
        loop {
            if request.cancel.is_cancelled() {
                return history.give_up(ConductorError::Cancelled, last_error);
            }
            if now >= deadline {
                // Reached only when a wait overshot the deadline, or the deadline is zero.
                return match last_error {
                    Some(error) => history.end(Err(error)),
                    None => {
                        let attempts = u32::try_from(history.attempts.len()).unwrap_or(u32::MAX);
                        history.give_up(ConductorError::RequestDeadlineExceeded { limit_ms, attempts }, None)
                    }
                };
            }
            if attempt == 1 {
                budget.deposit_first_attempt(now);
            }
            // The attempt may not outlive the request: its sandbox deadline is capped at what is left.
            let left_ms = u64::try_from(deadline.saturating_sub(now).as_millis()).unwrap_or(u64::MAX);
            // A clone keeps the cancel token and live progress view the caller shares.
            let span = attempt_span::attempt_span(&extension, attempt);
            let mut outcome = target
                .invoke(request.clone().attempt(attempt).deadline_cap_ms(left_ms))
                .instrument(span.clone())
                .await;
            attempt_span::record(&span, &outcome.result);
            history.record(attempt, waited, &mut outcome);
            let error = match outcome.result {
                Ok(output) => {
                    let mut ended = history.end(Ok(output));
                    ended.json = outcome.json;
                    return ended;
                }
                Err(error) => error,
            };
            // The breaker's refusal is final for this call: failing fast is what the breaker is
            // for. The fallback chain, or a caller that chooses to wait (the workflow runner,
            // within a step's `timeout_ms`), decides what comes next.
            let breaker_refused = matches!(error, CallError::Conductor(ConductorError::CircuitOpen { .. }));
            if error.class() != ErrorClass::Transient || breaker_refused || attempt >= max_attempts {
                return history.end(Err(error));
            }
            if request.cancel.is_cancelled() {
                return history.give_up(ConductorError::Cancelled, Some(error));
            }
            let delay = Duration::from_millis(self.backoff_ms(attempt, error.retry_after_ms()));
            now = self.clock.now();
            if now.checked_add(delay).is_none_or(|end| end >= deadline) {
                let delay_ms = delay.as_millis();
                tracing::debug!(%extension, attempt, delay_ms, "retry would pass the request deadline");
                return history.end(Err(error));
            }
            if !budget.try_withdraw(now) {
                tracing::debug!(%extension, attempt, kind = error.kind(), "retry budget exhausted");
                let exhausted = ConductorError::RetryBudgetExhausted { extension: extension.clone() };
                return history.give_up(exhausted, Some(error));
            }
            let (delay_ms, kind) = (delay.as_millis(), error.kind());
            tracing::debug!(%extension, attempt, delay_ms, kind, "retrying");
            if !self.wait(delay, &request.cancel).await {
                return history.give_up(ConductorError::Cancelled, Some(error));
            }
            let waited_from = now;
            now = self.clock.now();
            waited = now.saturating_sub(waited_from);
            last_error = Some(error);
            attempt += 1;
        }
    }

    /// Sleep `delay` on the clock; `false` as soon as `cancel` is seen.
    async fn wait(&self, delay: Duration, cancel: &CancelToken) -> bool {
        let end = self.clock.now().saturating_add(delay);
        loop {
            if cancel.is_cancelled() {
                return false;
            }
            let now = self.clock.now();
            if now >= end {
                return true;
            }
            self.clock.sleep((end - now).min(CANCEL_CHECK_INTERVAL)).await;
        }
    }
}

/// The attempts of one run and what they consumed, turned into a [`RetryOutcome`] at the end.
struct History {
    extension: String,
    attempts: Vec<Attempt>,
    usage: Usage,
    last_log: Option<CallLog>,
}

impl History {
    fn new(extension: String) -> Self {
        Self { extension, attempts: Vec::new(), usage: Usage::default(), last_log: None }
    }

    fn record(&mut self, attempt: u32, waited: Duration, outcome: &mut InvokeOutcome) {
        self.last_log = outcome.log.take();
        let error = outcome.result.as_ref().err();
        self.attempts.push(Attempt {
            extension: self.extension.clone(),
            attempt,
            error_kind: error.map(CallError::kind),
            error_source: error.map(CallError::source_layer),
            backoff_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        });
        let used = &outcome.usage;
        self.usage.fuel = self.usage.fuel.saturating_add(used.fuel);
        self.usage.memory_peak_bytes = self.usage.memory_peak_bytes.max(used.memory_peak_bytes);
        self.usage.wall_ms = self.usage.wall_ms.saturating_add(used.wall_ms);
        self.usage.wall_us = self.usage.wall_us.saturating_add(used.wall_us);
        self.usage.guest_us = self.usage.guest_us.saturating_add(used.guest_us);
    }

    /// End with an attempt's own result.
    fn end(self, result: Result<Payload, CallError>) -> RetryOutcome {
        RetryOutcome {
            result,
            json: None,
            last_attempt_error: None,
            attempts: self.attempts,
            usage_total: self.usage,
            last_log: self.last_log,
        }
    }

    /// End with the retrier's error, keeping the last attempt's error beside it.
    fn give_up(self, error: ConductorError, last_attempt_error: Option<CallError>) -> RetryOutcome {
        RetryOutcome {
            result: Err(CallError::Conductor(error)),
            json: None,
            last_attempt_error,
            attempts: self.attempts,
            usage_total: self.usage,
            last_log: self.last_log,
        }
    }
}
