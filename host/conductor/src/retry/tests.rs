//! The retrier against a scripted fake target, on a [`ManualClock`] the tests advance while the
//! retrier waits: no real sleeps, no wall-clock assertions.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::*;
use crate::clock::ManualClock;
use crate::scripted::ScriptedInvoke;
use symphony_types::error::{ErrorSource, ExtensionError, HostError};

type Reply = Result<Payload, CallError>;

fn ms(milliseconds: u64) -> Duration {
    Duration::from_millis(milliseconds)
}

fn ok() -> Reply {
    Ok(Payload::new("application/json", b"{}".to_vec()))
}

fn unavailable() -> Reply {
    Err(ExtensionError::Unavailable { message: "down".into(), retry_after_ms: None }.into())
}

fn rate_limited(retry_after_ms: u64) -> Reply {
    Err(ExtensionError::RateLimited { message: "slow down".into(), retry_after_ms }.into())
}

fn request() -> CallRequest {
    CallRequest::new(Payload::new("application/json", b"{}".to_vec()))
}

/// `flaky@1.0.0`: answers what it is scripted to, then `unavailable`, noting each attempt's
/// start on `clock`; attempt n (1-based) reports 100 fuel, n × 1 000 bytes and 1 ms.
fn flaky(clock: &ManualClock) -> ScriptedInvoke {
    ScriptedInvoke::new("flaky@1.0.0").clock(clock).otherwise(unavailable).usage_by_call(|n| Usage {
        fuel: 100,
        memory_peak_bytes: 1_000 * (n + 1),
        wall_ms: 1,
        wall_us: 1_000,
        guest_us: 900,
    })
}

fn retrier(clock: &ManualClock, policy: RetryPolicy) -> Arc<Retrier> {
    Arc::new(Retrier::new(policy, Arc::new(clock.clone())).with_seed(42))
}

/// A policy that never waits (no backoff), so tests need not move the clock.
fn no_waits() -> RetryPolicy {
    RetryPolicy::default().base_backoff_ms(0)
}

fn spawn_run(
    retrier: &Arc<Retrier>,
    target: &Arc<ScriptedInvoke>,
    request: CallRequest,
) -> JoinHandle<RetryOutcome> {
    let (retrier, target) = (Arc::clone(retrier), Arc::clone(target));
    tokio::spawn(async move { retrier.run(&*target, request).await })
}

/// Move the clock 1 ms at a time whenever someone sleeps on it, until `task` ends.
async fn drive<T>(clock: &ManualClock, task: JoinHandle<T>) -> T {
    for _ in 0..1_000_000 {
        if task.is_finished() {
            return task.await.unwrap();
        }
        if clock.sleepers() > 0 {
            clock.advance(ms(1));
        }
        tokio::task::yield_now().await;
    }
    panic!("the retrier never finished");
}

async fn until_sleeping(clock: &ManualClock) {
    while clock.sleepers() == 0 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn transient_errors_are_retried_up_to_max_attempts_then_the_last_error_is_returned() {
    let clock = ManualClock::new();
    let target =
        flaky(&clock).replies([rate_limited(0), unavailable(), Err(HostError::PoolExhausted.into()), ok()]);
    let outcome = retrier(&clock, no_waits()).run(&target, request()).await;

    assert!(matches!(outcome.result, Err(CallError::Host(HostError::PoolExhausted))));
    assert!(outcome.last_attempt_error.is_none());
    assert_eq!(target.calls(), 3, "max_attempts counts the first attempt");
    let kinds: Vec<_> = outcome.attempts.iter().map(|a| a.error_kind).collect();
    assert_eq!(kinds, [Some("rate_limited"), Some("unavailable"), Some("instance_pool_exhausted")]);
}

#[tokio::test]
async fn success_on_the_third_attempt_reports_attempts_one_to_three_as_the_guest_saw_them() {
    let clock = ManualClock::new();
    let target = Arc::new(flaky(&clock).replies([unavailable(), unavailable(), ok()]));
    let request = request();
    let request_id = request.request_id.clone();
    let outcome = drive(&clock, spawn_run(&retrier(&clock, RetryPolicy::default()), &target, request)).await;

    assert!(outcome.result.is_ok());
    assert!(outcome.last_attempt_error.is_none());
    let seen = target.seen();
    assert_eq!(seen.iter().map(|s| s.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(seen.iter().all(|s| s.request_id == request_id), "a retry keeps the request id");
    let numbers: Vec<_> = outcome.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let kinds: Vec<_> = outcome.attempts.iter().map(|a| a.error_kind).collect();
    assert_eq!(kinds, [Some("unavailable"), Some("unavailable"), None]);
    let sources: Vec<_> = outcome.attempts.iter().map(|a| a.error_source).collect();
    assert_eq!(sources, [Some(ErrorSource::Guest), Some(ErrorSource::Guest), None]);
    assert!(outcome.attempts.iter().all(|a| a.extension == "flaky@1.0.0"));
    assert_eq!(outcome.attempts[0].backoff_ms, 0);
    assert_eq!(
        outcome.usage_total,
        Usage { fuel: 300, memory_peak_bytes: 3_000, wall_ms: 3, wall_us: 3_000, guest_us: 2_700 },
        "fuel and wall time summed, memory the peak"
    );
}

#[tokio::test]
async fn fatal_and_recoverable_errors_are_never_retried() {
    let clock = ManualClock::new();
    let replies: [fn() -> Reply; 5] = [
        || Err(HostError::OutOfFuel { limit_fuel: 10 }.into()),
        || Err(HostError::DeadlineExceeded { limit_ms: 5 }.into()),
        || Err(ExtensionError::InvalidInput { message: "no".into() }.into()),
        || Err(ExtensionError::Internal { message: "bug".into() }.into()),
        || Err(ExtensionError::UnableToComplete { message: "cannot".into() }.into()),
    ];
    let retrier = retrier(&clock, no_waits().max_attempts(5));
    for reply in replies {
        let target = flaky(&clock).otherwise(reply);
        let outcome = retrier.run(&target, request()).await;
        assert_eq!(target.calls(), 1);
        assert_eq!(outcome.attempts.len(), 1);
        let class = outcome.result.as_ref().err().map(CallError::class);
        assert!(matches!(class, Some(ErrorClass::Fatal | ErrorClass::Recoverable)));
    }

    let fuel = flaky(&clock).otherwise(replies[0]);
    let outcome = retrier.run(&fuel, request()).await;
    assert!(matches!(outcome.result, Err(CallError::Host(HostError::OutOfFuel { .. }))));
    let internal = flaky(&clock).otherwise(replies[3]);
    let outcome = retrier.run(&internal, request()).await;
    assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::Internal { .. }))));
}

#[test]
fn backoff_with_a_fixed_seed_stays_within_the_growing_exponential_bound() {
    let clock = ManualClock::new();
    let policy = RetryPolicy::default();
    let retrier = retrier(&clock, policy);
    let mut previous_mean = 0.0;
    for retry in 1..=8 {
        let bound = policy.backoff_bound_ms(retry);
        let draws: Vec<u64> = (0..1_000).map(|_| retrier.backoff_ms(retry, None)).collect();
        assert!(draws.iter().all(|&d| d <= bound), "retry {retry}: a draw above {bound}");
        let max = draws.iter().copied().max().unwrap_or(0);
        assert!(max * 10 >= bound * 9, "retry {retry}: draws should span 0..={bound}, max {max}");
        let mean = draws.iter().sum::<u64>() as f64 / draws.len() as f64;
        if bound < policy.max_backoff_ms {
            assert!(mean > previous_mean * 1.5, "retry {retry}: mean {mean} after {previous_mean}");
        }
        previous_mean = mean;
    }

    let again = Retrier::new(policy, Arc::new(clock.clone())).with_seed(42);
    let replay = Retrier::new(policy, Arc::new(clock)).with_seed(42);
    let first: Vec<u64> = (0..100).map(|_| again.backoff_ms(3, None)).collect();
    let second: Vec<u64> = (0..100).map(|_| replay.backoff_ms(3, None)).collect();
    assert_eq!(first, second, "the same seed gives the same waits");
}

#[tokio::test]
async fn a_retry_hint_of_500_ms_makes_the_wait_at_least_500_ms() {
    let clock = ManualClock::new();
    let target = Arc::new(flaky(&clock).replies([rate_limited(500), ok()]));
    let outcome =
        drive(&clock, spawn_run(&retrier(&clock, RetryPolicy::default()), &target, request())).await;

    assert!(outcome.result.is_ok());
    let seen = target.seen();
    assert!(seen[1].at - seen[0].at >= ms(500));
    assert!(outcome.attempts[1].backoff_ms >= 500);
    assert!(retrier(&clock, RetryPolicy::default()).backoff_ms(1, Some(500)) >= 500);
}

#[tokio::test]
async fn a_hint_past_the_request_deadline_returns_the_guest_error_without_waiting() {
    let clock = ManualClock::new();
    let target = Arc::new(flaky(&clock).replies([rate_limited(60_000), ok()]));
    let outcome =
        drive(&clock, spawn_run(&retrier(&clock, RetryPolicy::default()), &target, request())).await;

    assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::RateLimited { .. }))));
    assert_eq!(target.calls(), 1);
    assert_eq!(clock.now(), Duration::ZERO);
}

#[tokio::test]
async fn the_budget_stops_retries_across_many_callers_and_refills_with_time() {
    let clock = ManualClock::new();
    let policy = no_waits().budget_ratio(0.2).budget_min_retries_per_sec(5.0);
    let first = retrier(&clock, policy);
    let second =
        Retrier::new(policy, Arc::new(clock.clone())).with_budgets(first.budgets().clone()).with_seed(7);
    let target = flaky(&clock).otherwise(unavailable);

    let mut exhausted = 0;
    for call in 0..100 {
        let retrier = if call % 2 == 0 { &*first } else { &second };
        let outcome = retrier.run(&target, request()).await;
        if matches!(outcome.result, Err(CallError::Conductor(ConductorError::RetryBudgetExhausted { .. }))) {
            exhausted += 1;
            assert!(
                matches!(
                    outcome.last_attempt_error,
                    Some(CallError::Guest(ExtensionError::Unavailable { .. }))
                ),
                "the real error stays visible"
            );
            assert_eq!(outcome.attempts.last().and_then(|a| a.error_kind), Some("unavailable"));
        }
    }
    let retries = target.calls() - 100;
    // 100 first attempts × 0.2 plus the first second's floor of 5, instead of 200 retries.
    assert!((20..=25).contains(&retries), "{retries} retries");
    assert!(exhausted >= 75, "{exhausted} calls stopped by the budget");

    let other = ScriptedInvoke::new("other@1.0.0").otherwise(unavailable);
    assert_eq!(first.run(&other, request()).await.attempts.len(), 3, "another extension has its own budget");

    let before = target.calls();
    assert_eq!(first.run(&target, request()).await.attempts.len(), 1, "still spent");
    clock.advance(Duration::from_secs(1));
    let outcome = first.run(&target, request()).await;
    assert_eq!(outcome.attempts.len(), 3, "a second of floor refill buys retries again");
    assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::Unavailable { .. }))));
    assert_eq!(target.calls() - before, 4);
}

#[tokio::test]
async fn cancellation_during_backoff_stops_with_cancelled() {
    let clock = ManualClock::new();
    let target = Arc::new(flaky(&clock).replies([rate_limited(1_000), ok()]));
    let cancel = CancelToken::new();
    let task =
        spawn_run(&retrier(&clock, RetryPolicy::default()), &target, request().cancel_token(cancel.clone()));
    until_sleeping(&clock).await;
    cancel.cancel();
    let outcome = drive(&clock, task).await;

    assert!(matches!(outcome.result, Err(CallError::Conductor(ConductorError::Cancelled))));
    assert!(matches!(outcome.last_attempt_error, Some(CallError::Guest(ExtensionError::RateLimited { .. }))));
    assert_eq!(target.calls(), 1);
    assert!(clock.now() <= CANCEL_CHECK_INTERVAL, "stopped within one check interval, not after the wait");
}

#[tokio::test]
async fn a_call_cancelled_before_it_starts_runs_no_attempt() {
    let clock = ManualClock::new();
    let target = flaky(&clock).otherwise(ok);
    let cancel = CancelToken::new();
    cancel.cancel();
    let outcome = retrier(&clock, RetryPolicy::default()).run(&target, request().cancel_token(cancel)).await;

    assert!(matches!(outcome.result, Err(CallError::Conductor(ConductorError::Cancelled))));
    assert!(outcome.last_attempt_error.is_none());
    assert!(outcome.attempts.is_empty());
    assert_eq!(target.calls(), 0);
}

#[tokio::test]
async fn the_request_deadline_bounds_total_time_and_returns_the_last_real_error() {
    let clock = ManualClock::new();
    let policy = RetryPolicy::default().max_attempts(10).base_backoff_ms(1).request_deadline_ms(1_000);
    let target = Arc::new(flaky(&clock).otherwise(|| rate_limited(400)));
    let outcome = drive(&clock, spawn_run(&retrier(&clock, policy), &target, request())).await;

    // Attempts near 0, 400 and 800 ms; a fourth would start past 1 000 ms, so none is made.
    assert_eq!(target.calls(), 3);
    assert!(target.seen().iter().all(|s| s.at < ms(1_000)));
    assert!(clock.now() < ms(1_000));
    assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::RateLimited { .. }))));
    assert!(outcome.last_attempt_error.is_none());
}

#[tokio::test]
async fn no_attempt_starts_after_the_deadline_and_a_running_one_is_not_cut_off() {
    let clock = ManualClock::new();
    let policy = no_waits().max_attempts(10).request_deadline_ms(1_000);
    let target = Arc::new(flaky(&clock).otherwise(unavailable).work(&clock, ms(300)));
    let outcome = drive(&clock, spawn_run(&retrier(&clock, policy), &target, request())).await;

    // Starts at 0, 300, 600 and 900 ms; the fourth finishes at 1 200 ms with its real error.
    let starts: Vec<_> = target.seen().iter().map(|s| s.at).collect();
    assert_eq!(starts, [ms(0), ms(300), ms(600), ms(900)]);
    assert_eq!(clock.now(), ms(1_200));
    assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::Unavailable { .. }))));
}

#[tokio::test]
async fn with_no_time_at_all_the_deadline_error_is_returned_before_any_attempt() {
    let clock = ManualClock::new();
    let target = flaky(&clock).otherwise(ok);
    let outcome =
        retrier(&clock, RetryPolicy::default().request_deadline_ms(0)).run(&target, request()).await;

    assert!(matches!(
        outcome.result,
        Err(CallError::Conductor(ConductorError::RequestDeadlineExceeded { limit_ms: 0, attempts: 0 }))
    ));
    assert_eq!(target.calls(), 0);
}
