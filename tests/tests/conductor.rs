//! The conductor over real components: one breaker per `extension@version` shared by every
//! caller, retries of transient guest errors only. Time is a [`ManualClock`]; nothing sleeps.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::sync::Arc;

use serde_json::json;
use symphony_host::conductor::{
    BreakerPolicy, BreakerState, Conductor, HealthEvent, ManualClock, RetryPolicy,
};
use symphony_host::{CallError, CallRequest, ConductorError, ErrorClass, ExtensionError};
use symphony_tests::load;

fn request(input: serde_json::Value) -> CallRequest {
    CallRequest::json(&input).expect("input")
}

#[tokio::test]
async fn a_breaker_opened_by_one_caller_refuses_another_without_running_the_guest() {
    let clock = ManualClock::new();
    let breaker = BreakerPolicy::default().minimum_calls(4).failure_ratio(0.5);
    // One attempt per call: this test is about the breaker, not about backoff.
    let conductor =
        Arc::new(Conductor::new(Arc::new(clock.clone()), RetryPolicy::default().max_attempts(1), breaker));
    let mut events = conductor.health().subscribe();
    let flaky = Arc::new(load("flaky"));

    // Caller A: a workflow whose requests keep failing.
    for _ in 0..4 {
        let outcome = conductor.call(flaky.as_ref(), request(json!({"fail_times": 100}))).await;
        assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::Unavailable { .. }))));
    }
    match events.try_recv().expect("the breaker announced it opened") {
        HealthEvent::BreakerStateChanged { extension, to, .. } => {
            assert_eq!(extension, "flaky@1.0.0");
            assert_eq!(to, BreakerState::Open);
        }
        other => panic!("expected the breaker to open first, got {other:?}"),
    }

    // Caller B: another tenant whose request would succeed — refused without running the guest.
    let other = Arc::clone(&conductor);
    let flaky_b = Arc::clone(&flaky);
    let outcome =
        tokio::spawn(async move { other.call(flaky_b.as_ref(), request(json!({"fail_times": 0}))).await })
            .await
            .expect("task");
    match &outcome.result {
        Err(CallError::Conductor(ConductorError::CircuitOpen { extension, retry_after_ms })) => {
            assert_eq!(extension, "flaky@1.0.0");
            assert!(*retry_after_ms > 0);
        }
        other => panic!("expected circuit_open, got {other:?}"),
    }
    assert_eq!(outcome.usage.fuel, 0, "the guest never ran");
    assert_eq!(outcome.result.as_ref().err().map(CallError::class), Some(ErrorClass::Transient));

    // After the open period a probe goes through; a healthy answer starts closing the circuit.
    clock.advance(std::time::Duration::from_millis(BreakerPolicy::default().open_ms + 1));
    let probe = conductor.call(flaky.as_ref(), request(json!({"fail_times": 0}))).await;
    assert!(probe.result.is_ok(), "{:?}", probe.result);
}

#[tokio::test]
async fn transient_guest_errors_are_retried_with_the_attempt_number_the_guest_sees() {
    let clock = ManualClock::new();
    let conductor = Arc::new(Conductor::new(
        Arc::new(clock.clone()),
        RetryPolicy::default().max_attempts(3),
        BreakerPolicy::default(),
    ));
    let flaky = Arc::new(load("flaky"));
    let task = tokio::spawn({
        let (conductor, flaky) = (Arc::clone(&conductor), Arc::clone(&flaky));
        async move { conductor.call(flaky.as_ref(), request(json!({"fail_times": 2}))).await }
    });
    // Drive the backoffs on the manual clock.
    while !task.is_finished() {
        if clock.sleepers() > 0 {
            clock.advance(std::time::Duration::from_millis(200));
        }
        tokio::task::yield_now().await;
    }
    let outcome = task.await.expect("task");
    let output = outcome.result.expect("third attempt succeeds").to_json().expect("json");
    assert_eq!(output["attempt"], 3);
    assert_eq!(outcome.attempts.len(), 3);
    assert_eq!(outcome.served_by, "flaky@1.0.0");
}

#[tokio::test]
async fn fatal_errors_are_never_retried() {
    let conductor = Conductor::new(
        Arc::new(ManualClock::new()),
        RetryPolicy::default().max_attempts(5),
        BreakerPolicy::default(),
    );
    let stats = load("text-stats");
    let outcome = conductor.call(&stats, request(json!({"no_text": true}))).await;
    assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::InvalidInput { .. }))));
    assert_eq!(outcome.attempts.len(), 1);
}

#[tokio::test]
async fn cancellation_reaches_the_guest_and_releases_reservations() {
    use symphony_host::CancelToken;
    use symphony_host::conductor::{ReservationPolicy, ResourcePool};

    let drip = Arc::new(load("slow-drip"));
    // The guest sees `cancelled()` and stops on its own, well before its deadline.
    let token = CancelToken::new();
    token.cancel();
    let direct = drip.call(request(json!({})).cancel_token(token.clone())).await;
    let output = direct.result.expect("a cooperative guest returns").to_json().expect("json");
    assert_eq!(output["cancelled"], true);

    // Through the conductor with a reservation pool: a cancelled request never runs and holds
    // nothing afterwards.
    let clock = Arc::new(ManualClock::new());
    let pool = ResourcePool::new(ReservationPolicy::default(), clock.clone());
    let conductor =
        Conductor::new(clock, RetryPolicy::default(), BreakerPolicy::default()).with_pool(pool.clone());
    let outcome = conductor
        .call_profile("balanced", drip.as_ref(), Some(drip.demand()), request(json!({})).cancel_token(token))
        .await;
    assert!(
        matches!(outcome.result, Err(CallError::Conductor(ConductorError::Cancelled))),
        "{:?}",
        outcome.result
    );
    assert_eq!(pool.in_use(), (0, 0), "nothing stays reserved");

    // And a normal call releases its reservation when it ends.
    let echo = load("echo");
    let fine = conductor.call_profile("balanced", &echo, Some(echo.demand()), request(json!({}))).await;
    assert!(fine.result.is_ok());
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn an_attempt_never_outlives_the_request_deadline() {
    use symphony_host::{HostError, Runtime};
    let mut config = symphony_tests::sample_config();
    config.policy.ceilings.fuel = u64::MAX / 2;
    let runtime = Runtime::new(config).expect("engine").allow_unpinned();
    let (_dir, manifest) = symphony_tests::manifest_with_limits(
        "infinite-loop",
        "fuel = 1_000_000_000_000_000\ndeadline_ms = 5_000",
    );
    let spin = runtime.load_manifest(manifest).expect("load");
    let conductor = Conductor::new(
        Arc::new(ManualClock::new()),
        RetryPolicy::default().request_deadline_ms(150),
        BreakerPolicy::default(),
    );
    let outcome = conductor.call(&spin, request(json!({}))).await;
    // The sandbox deadline was cut from the call's 5 000 ms to the request's 150 ms.
    assert!(
        matches!(outcome.result, Err(CallError::Host(HostError::DeadlineExceeded { limit_ms: 150 }))),
        "{:?}",
        outcome.result
    );
}
