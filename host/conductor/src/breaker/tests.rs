//! The breaker's state machine, driven by a [`ManualClock`] and scripted outcomes: no sleeps, no
//! timing assertions. Policy, window and failure classification have their own tests next to
//! them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Semaphore;

use symphony_types::usage::Usage;
use tokio::sync::broadcast::error::TryRecvError;

use super::*;
use crate::ManualClock;
use crate::scripted::ScriptedInvoke;
use symphony_types::error::ExtensionError;
use symphony_types::payload::Payload;

const ID: &str = "flaky@1.0.0";

/// The defaults spelled out, so each test reads on its own; the cap is low to reach it quickly.
fn policy() -> BreakerPolicy {
    BreakerPolicy::default()
        .window_ms(10_000)
        .minimum_calls(10)
        .failure_ratio(0.5)
        .slow_call_ms(2_000)
        .open_ms(1_000)
        .open_backoff_factor(2.0)
        .max_open_ms(4_000)
        .half_open_probes(3)
}

type Outcome = Result<Payload, CallError>;

fn ok() -> Outcome {
    Ok(Payload::new("application/json", b"{}".to_vec()))
}

fn unavailable() -> Outcome {
    Err(ExtensionError::Unavailable { message: "dependency down".into(), retry_after_ms: None }.into())
}

fn invalid_input() -> Outcome {
    Err(ExtensionError::InvalidInput { message: "missing field".into() }.into())
}

fn request() -> CallRequest {
    CallRequest::new(Payload::new("application/json", b"{}".to_vec()))
}

struct Fixture {
    clock: ManualClock,
    events: HealthEvents,
    registry: BreakerRegistry,
}

impl Fixture {
    fn new() -> Self {
        let clock = ManualClock::new();
        let events = HealthEvents::default();
        let registry = BreakerRegistry::new(Arc::new(clock.clone()), events.clone());
        Self { clock, events, registry }
    }

    fn breaker(&self) -> Arc<CircuitBreaker> {
        self.registry.for_extension(ID, &policy())
    }

    fn advance_ms(&self, milliseconds: u64) {
        self.clock.advance(Duration::from_millis(milliseconds));
    }
}

/// One call through a permit that took no time.
fn record(breaker: &CircuitBreaker, outcome: &Outcome) {
    breaker.try_acquire().expect("the breaker lets this call through").record(outcome, Duration::ZERO);
}

fn trip(breaker: &CircuitBreaker) {
    for _ in 0..10 {
        record(breaker, &unavailable());
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

fn refusal_hint(result: Result<Permit<'_>, ConductorError>) -> u64 {
    match result {
        Err(ConductorError::CircuitOpen { extension, retry_after_ms }) if extension == ID => retry_after_ms,
        other => panic!("expected circuit_open for {ID}, got {other:?}"),
    }
}

/// Poll a future once, as an executor would when it starts it.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

fn circuit_open(outcome: &InvokeOutcome) -> bool {
    matches!(&outcome.result, Err(CallError::Conductor(ConductorError::CircuitOpen { .. })))
}

#[test]
fn stays_closed_below_minimum_calls() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    for _ in 0..9 {
        record(&breaker, &unavailable());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert!(breaker.try_acquire().is_ok());
}

#[test]
fn opens_when_the_failure_ratio_is_reached() {
    let fx = Fixture::new();
    let below = fx.registry.for_extension("steady@1.0.0", &policy());
    for outcome in [ok, ok, ok, ok, ok, ok, unavailable, unavailable, unavailable, unavailable] {
        record(&below, &outcome());
    }
    assert_eq!(below.state(), BreakerState::Closed, "0.4 is below 0.5");

    let breaker = fx.breaker();
    for outcome in [ok, ok, ok, ok, ok, unavailable, unavailable, unavailable, unavailable] {
        record(&breaker, &outcome());
    }
    assert_eq!(breaker.state(), BreakerState::Closed, "4 of 9 calls failed");
    record(&breaker, &unavailable());
    assert_eq!(breaker.state(), BreakerState::Open, "5 of 10 calls failed");
}

#[tokio::test]
async fn open_refuses_without_running_the_guest() {
    let fx = Fixture::new();
    let fake = ScriptedInvoke::new(ID).otherwise(unavailable);
    for _ in 0..10 {
        let outcome = fx.registry.invoke(&fake, &policy(), request()).await;
        assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::Unavailable { .. }))));
    }
    assert_eq!(fake.calls(), 10);

    let refused = fx.registry.invoke(&fake, &policy(), request()).await;
    assert!(matches!(
        &refused.result,
        Err(CallError::Conductor(ConductorError::CircuitOpen { extension, retry_after_ms: 1_000 }))
            if extension == ID
    ));
    assert_eq!(refused.usage, Usage::default());
    assert_eq!(fake.calls(), 10, "the guest did not run");

    fx.advance_ms(400);
    assert_eq!(refusal_hint(fx.breaker().try_acquire()), 600);
}

#[tokio::test]
async fn guarded_invoke_and_call_are_refused_without_running() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    let guarded = Guarded::new(ScriptedInvoke::new(ID).otherwise(unavailable), Arc::clone(&breaker));
    for _ in 0..10 {
        let _ = guarded.invoke(request()).await;
    }
    assert!(circuit_open(&guarded.invoke(request()).await));
    assert_eq!(guarded.inner.calls(), 10);

    let ran = AtomicBool::new(false);
    let result = breaker
        .call(|| async {
            ran.store(true, Ordering::SeqCst);
            ok()
        })
        .await;
    assert!(matches!(result, Err(CallError::Conductor(ConductorError::CircuitOpen { .. }))));
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn half_open_lets_exactly_the_probes_through_concurrently_and_they_close_it() {
    let fx = Fixture::new();
    trip(&fx.breaker());
    fx.advance_ms(999);
    assert_eq!(refusal_hint(fx.breaker().try_acquire()), 1);
    fx.advance_ms(1);

    let gate = Arc::new(Semaphore::new(0));
    let fake = ScriptedInvoke::new(ID).otherwise(ok).gate(Arc::clone(&gate));
    let policy = policy();
    let mut calls: Vec<_> = (0..4).map(|_| Box::pin(fx.registry.invoke(&fake, &policy, request()))).collect();
    for probe in &mut calls[..3] {
        assert!(poll_once(probe).await.is_pending(), "a probe is running");
    }
    match poll_once(&mut calls[3]).await {
        Poll::Ready(outcome) => assert!(circuit_open(&outcome)),
        Poll::Pending => panic!("a fourth call ran while three probes were in flight"),
    }
    assert_eq!(fake.calls(), 3);
    assert_eq!(fx.breaker().state(), BreakerState::HalfOpen);

    gate.add_permits(3);
    for probe in calls.drain(..3) {
        assert!(probe.await.result.is_ok());
    }
    let breaker = fx.breaker();
    assert_eq!(breaker.state(), BreakerState::Closed);
    // Closing starts a fresh window: the ten failures that opened it no longer count.
    record(&breaker, &unavailable());
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn a_failed_probe_reopens_for_longer_up_to_the_cap() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    trip(&breaker);
    assert_eq!(refusal_hint(breaker.try_acquire()), 1_000);

    for expected_ms in [2_000, 4_000, 4_000] {
        let previous_ms = refusal_hint(breaker.try_acquire());
        fx.advance_ms(previous_ms);
        record(&breaker, &unavailable());
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(refusal_hint(breaker.try_acquire()), expected_ms);
    }

    // Recovering resets the backoff: the next trip opens for open_ms again.
    fx.advance_ms(4_000);
    for _ in 0..3 {
        record(&breaker, &ok());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    trip(&breaker);
    assert_eq!(refusal_hint(breaker.try_acquire()), 1_000);
}

#[test]
fn permits_from_before_a_state_change_record_nothing() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    let late = breaker.try_acquire().unwrap();
    trip(&breaker);
    late.record(&ok(), Duration::ZERO);
    assert_eq!(breaker.state(), BreakerState::Open);

    fx.advance_ms(1_000);
    let first = breaker.try_acquire().unwrap();
    let stale = breaker.try_acquire().unwrap();
    first.record(&unavailable(), Duration::ZERO);
    assert_eq!(refusal_hint(breaker.try_acquire()), 2_000);

    // The stale probe settles during the next half-open: it neither frees a slot there nor
    // counts towards closing it.
    fx.advance_ms(2_000);
    let probes: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    stale.record(&ok(), Duration::ZERO);
    assert!(breaker.try_acquire().is_err());
    let mut probes = probes.into_iter();
    for probe in probes.by_ref().take(2) {
        probe.record(&ok(), Duration::ZERO);
    }
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert!(breaker.try_acquire().is_err(), "a settled probe's slot is not handed out again");
    probes.for_each(|probe| probe.record(&ok(), Duration::ZERO));
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn slow_successes_count_as_failures() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    for _ in 0..10 {
        breaker.try_acquire().unwrap().record(&ok(), Duration::from_millis(2_000));
    }
    assert_eq!(breaker.state(), BreakerState::Closed, "exactly slow_call_ms is not slow");
    for _ in 0..10 {
        breaker.try_acquire().unwrap().record(&ok(), Duration::from_millis(2_001));
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test]
async fn invoke_times_calls_on_the_breaker_clock() {
    let fx = Fixture::new();
    // Ten 2.5 s calls span 25 s; a one-minute window keeps them all.
    let policy = policy().window_ms(60_000);
    let fake = ScriptedInvoke::new(ID).otherwise(ok).latency(&fx.clock, Duration::from_millis(2_500));
    for _ in 0..10 {
        assert!(fx.registry.invoke(&fake, &policy, request()).await.result.is_ok());
    }
    assert_eq!(fx.registry.states(), vec![(ID.to_owned(), BreakerState::Open)]);
}

#[test]
fn invalid_input_neither_trips_nor_dilutes() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    for _ in 0..20 {
        record(&breaker, &invalid_input());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    // Had they counted as successes, 10 failures of 30 calls would stay below 0.5.
    trip(&breaker);

    // In half-open an invalid-input probe is no evidence: its slot goes back.
    fx.advance_ms(1_000);
    record(&breaker, &invalid_input());
    for _ in 0..3 {
        record(&breaker, &ok());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn old_failures_slide_out_of_the_window() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    for _ in 0..5 {
        record(&breaker, &unavailable());
    }
    fx.advance_ms(10_000);
    for _ in 0..5 {
        record(&breaker, &unavailable());
    }
    assert_eq!(breaker.state(), BreakerState::Closed, "the first five aged out");
    for _ in 0..5 {
        record(&breaker, &unavailable());
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test]
async fn callers_sharing_the_registry_share_the_breaker() {
    let fx = Fixture::new();
    let (tenant_a, tenant_b) = (fx.registry.clone(), fx.registry.clone());
    let failing = ScriptedInvoke::new(ID).otherwise(unavailable);
    let healthy_handle = ScriptedInvoke::new(ID).otherwise(ok);
    assert!(Arc::ptr_eq(&tenant_a.for_extension(ID, &policy()), &tenant_b.for_extension(ID, &policy())));

    for _ in 0..10 {
        let _ = tenant_a.invoke(&failing, &policy(), request()).await;
    }
    let refused = tenant_b.invoke(&healthy_handle, &policy(), request()).await;
    assert!(circuit_open(&refused));
    assert_eq!(healthy_handle.calls(), 0);
    assert_eq!(tenant_b.states(), vec![(ID.to_owned(), BreakerState::Open)]);
}

#[test]
fn subscribers_receive_state_changes_in_order() {
    let fx = Fixture::new();
    let mut events = fx.events.subscribe();
    let breaker = fx.breaker();
    trip(&breaker);
    fx.advance_ms(1_000);
    record(&breaker, &unavailable());
    fx.advance_ms(2_000);
    assert_eq!(fx.registry.states(), vec![(ID.to_owned(), BreakerState::HalfOpen)]);
    record(&breaker, &ok());
    record(&breaker, &ok());
    record(&breaker, &ok());

    let change = |from, to, failure_ratio, open_for_ms| HealthEvent::BreakerStateChanged {
        extension: ID.to_owned(),
        from,
        to,
        failure_ratio,
        open_for_ms,
    };
    use BreakerState::{Closed, HalfOpen, Open};
    let expected = [
        change(Closed, Open, 1.0, Some(1_000)),
        change(Open, HalfOpen, 1.0, None),
        change(HalfOpen, Open, 1.0, Some(2_000)),
        change(Open, HalfOpen, 1.0, None),
        change(HalfOpen, Closed, 0.0, None),
    ];
    for want in expected {
        assert_eq!(events.try_recv().unwrap(), want);
    }
    assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)));
}

#[tokio::test]
async fn a_dropped_permit_frees_its_probe_slot() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    trip(&breaker);
    fx.advance_ms(1_000);

    let probes: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    assert!(probes.iter().all(Permit::is_probe));
    assert_eq!(refusal_hint(breaker.try_acquire()), 2_000, "slow_call_ms while probes run");
    drop(probes);

    // A caller that gives up mid-call drops the invoke future, and its permit with it.
    let gate = Arc::new(Semaphore::new(0));
    let fake = ScriptedInvoke::new(ID).otherwise(ok).gate(gate);
    let mut cancelled = Box::pin(breaker.invoke(&fake, request()));
    assert!(poll_once(&mut cancelled).await.is_pending());
    drop(cancelled);

    let probes: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    for probe in probes {
        probe.record(&ok(), Duration::ZERO);
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

/// Let the three half-open probes through and succeed, closing the breaker.
fn close_with_probes(breaker: &CircuitBreaker) {
    for _ in 0..3 {
        record(breaker, &ok());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn a_fresh_breaker_reports_no_recovery() {
    let fx = Fixture::new();
    let recovery = fx.breaker().recovery();
    assert_eq!(
        recovery,
        BreakerRecovery {
            state: BreakerState::Closed,
            retry_after_ms: None,
            recovered_trips: 0,
            mean_recovery_ms: None,
            last_recovery_ms: None,
        }
    );
}

#[test]
fn retry_after_counts_down_while_open_and_is_gone_once_half_open() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    trip(&breaker);
    assert_eq!(breaker.recovery().retry_after_ms, Some(1_000));
    fx.advance_ms(400);
    assert_eq!(breaker.recovery().retry_after_ms, Some(600));
    fx.advance_ms(599);
    assert_eq!(breaker.recovery().retry_after_ms, Some(1));
    fx.clock.advance(Duration::from_micros(500));
    assert_eq!(breaker.recovery().retry_after_ms, Some(1), "rounded up, never 0 while open");
    fx.clock.advance(Duration::from_micros(500));
    let recovery = breaker.recovery();
    assert_eq!(recovery.state, BreakerState::HalfOpen);
    assert_eq!(recovery.retry_after_ms, None);
    assert_eq!(recovery.recovered_trips, 0, "probing is not recovering");
}

#[test]
fn probes_closing_the_breaker_end_the_trip_with_its_duration() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    trip(&breaker);
    fx.advance_ms(1_250);
    close_with_probes(&breaker);
    let recovery = breaker.recovery();
    assert_eq!(recovery.state, BreakerState::Closed);
    assert_eq!(recovery.retry_after_ms, None);
    assert_eq!(recovery.recovered_trips, 1);
    assert_eq!(recovery.mean_recovery_ms, Some(1_250));
    assert_eq!(recovery.last_recovery_ms, Some(1_250));

    // A second, longer trip: the mean covers both, the last is the newest.
    trip(&breaker);
    fx.advance_ms(1_750);
    close_with_probes(&breaker);
    let recovery = breaker.recovery();
    assert_eq!(recovery.recovered_trips, 2);
    assert_eq!(recovery.mean_recovery_ms, Some(1_500));
    assert_eq!(recovery.last_recovery_ms, Some(1_750));
}

#[test]
fn a_failed_probe_reopening_continues_the_same_trip() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    trip(&breaker);
    fx.advance_ms(1_000);
    record(&breaker, &unavailable());
    let reopened = breaker.recovery();
    assert_eq!(reopened.state, BreakerState::Open);
    assert_eq!(reopened.retry_after_ms, Some(2_000), "the second open period is longer");
    assert_eq!(reopened.recovered_trips, 0);
    fx.advance_ms(2_000);
    close_with_probes(&breaker);
    let recovery = breaker.recovery();
    assert_eq!(recovery.recovered_trips, 1, "one trip, spanning both open periods");
    assert_eq!(recovery.last_recovery_ms, Some(3_000));
    assert_eq!(recovery.mean_recovery_ms, Some(3_000));
}

#[test]
fn only_the_last_few_recoveries_are_averaged_but_all_are_counted() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    // One long trip, then RECOVERIES_KEPT short ones push it out of the average.
    trip(&breaker);
    fx.advance_ms(100_000);
    close_with_probes(&breaker);
    for _ in 0..RECOVERIES_KEPT {
        trip(&breaker);
        fx.advance_ms(1_000);
        close_with_probes(&breaker);
    }
    let recovery = breaker.recovery();
    assert_eq!(recovery.recovered_trips, u32::try_from(RECOVERIES_KEPT).unwrap() + 1);
    assert_eq!(recovery.mean_recovery_ms, Some(1_000));
    assert_eq!(recovery.last_recovery_ms, Some(1_000));
}

#[test]
fn a_reset_abandons_the_trip_without_counting_it() {
    let fx = Fixture::new();
    let breaker = fx.breaker();
    trip(&breaker);
    fx.advance_ms(1_000);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    breaker.reset();
    let recovery = breaker.recovery();
    assert_eq!(recovery.state, BreakerState::Closed);
    assert_eq!(recovery.recovered_trips, 0);
    assert_eq!(recovery.mean_recovery_ms, None);

    // A quarantine forced on a closed breaker is a trip like any other.
    breaker.force_open(5_000);
    assert_eq!(breaker.recovery().retry_after_ms, Some(5_000));
    fx.advance_ms(5_000);
    close_with_probes(&breaker);
    assert_eq!(breaker.recovery().last_recovery_ms, Some(5_000));
}

#[test]
fn the_registry_hands_out_the_breaker_whose_recovery_is_reported() {
    let fx = Fixture::new();
    trip(&fx.breaker());
    let recovery = fx.registry.get(ID).expect("registered").recovery();
    assert_eq!(recovery.state, BreakerState::Open);
    assert_eq!(recovery.retry_after_ms, Some(1_000));
    assert!(fx.registry.get("unknown@1.0.0").is_none());
}
