//! The monitor inside a conductor, with scripted extensions on a manual clock: each detector
//! fires on the input made for it, each action takes effect, quarantines escalate, respect the
//! platform-wide cap, expire, lift and survive a restart.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::Receiver;

use super::*;
use crate::scripted::{ScriptedInvoke, ScriptedReply};
use crate::{BreakerPolicy, BreakerState, Conductor, HealthEvent, ManualClock, RetryPolicy};
use symphony_types::capability::denials::{CapabilityDenial, CapabilityKind};
use symphony_types::error::{CallError, ConductorError, ExtensionError};
use symphony_types::expected_profile::ExpectedProfile;
use symphony_types::payload::{CallRequest, JSON_CONTENT_TYPE, Payload};
use symphony_types::usage::Usage;

/// An extension whose n-th call (0-based) reports the usage, failure and denials `shape(n)`.
fn shaped(
    id: &str,
    expectations: Expectations,
    shape: impl Fn(u64) -> (Usage, bool, Vec<CapabilityDenial>) + Send + Sync + 'static,
) -> ScriptedInvoke {
    ScriptedInvoke::new(id).with_expectations(expectations).otherwise_by_call(move |n| {
        let (usage, fail, denials) = shape(n);
        let result = if fail {
            Err(CallError::Guest(ExtensionError::Unavailable {
                message: "down".into(),
                retry_after_ms: None,
            }))
        } else {
            Ok(Payload::new(JSON_CONTENT_TYPE, b"{}".to_vec()))
        };
        ScriptedReply::new(result).with_usage(usage).with_denials(denials)
    })
}

fn usage(fuel: u64, memory_bytes: u64) -> Usage {
    Usage { fuel, memory_peak_bytes: memory_bytes, wall_ms: 0, wall_us: 150, guest_us: 120 }
}

fn limits(fuel: u64, memory: u64) -> Expectations {
    Expectations {
        fuel_limit: Some(fuel),
        memory_limit: Some(memory),
        expected: ExpectedProfile::default(),
        declared_capabilities: Some(CapabilitySet::default()),
    }
}

fn conductor(clock: &ManualClock, policy: AnomalyPolicy) -> Conductor {
    Conductor::new(
        Arc::new(clock.clone()),
        RetryPolicy::default().max_attempts(1),
        BreakerPolicy::default().minimum_calls(1_000),
    )
    .with_anomaly_detection(policy, None)
    .unwrap()
}

fn request() -> CallRequest {
    CallRequest::new(Payload::new(JSON_CONTENT_TYPE, b"{}".to_vec()))
}

fn drain(events: &mut Receiver<HealthEvent>) -> Vec<HealthEvent> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

fn kinds(events: &[HealthEvent]) -> Vec<AnomalyKind> {
    events
        .iter()
        .filter_map(|e| match e {
            HealthEvent::AnomalyDetected { anomaly, .. } => Some(anomaly.kind()),
            _ => None,
        })
        .collect()
}

/// A miner: declares 1M fuel per call, burns 45M of its 50M every call.
fn miner() -> ScriptedInvoke {
    let mut expectations = limits(50_000_000, 32 << 20);
    expectations.expected.fuel = Some(1_000_000);
    shaped("miner@1.0.0", expectations, |_| (usage(44_500_000, 1 << 20), false, Vec::new()))
}

#[tokio::test]
async fn a_miner_is_quarantined_once_the_violation_is_sustained_and_lifted_by_an_operator() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    let miner = miner();
    let min_calls = DEFAULT_MIN_PROFILE_CALLS_FOR_TEST;
    for call in 1..min_calls {
        assert!(conductor.call(&miner, request()).await.result.is_ok(), "call {call}");
    }
    assert!(kinds(&drain(&mut events)).is_empty(), "not judged before {min_calls} calls");
    assert!(conductor.call(&miner, request()).await.result.is_ok());
    let seen = drain(&mut events);
    assert_eq!(kinds(&seen), vec![AnomalyKind::ProfileViolation]);
    let Some(HealthEvent::AnomalyDetected {
        anomaly: Anomaly::ProfileViolation { ratio, calls_over, .. },
        action,
        ..
    }) = seen.first()
    else {
        panic!("expected the violation first: {seen:?}");
    };
    assert_eq!(*action, Action::Quarantine);
    assert!(*ratio > 40.0 && *calls_over == min_calls, "{ratio} {calls_over}");
    assert!(seen.iter().any(|e| matches!(e, HealthEvent::Quarantined { nth: 1, .. })));

    let refused = conductor.call(&miner, request()).await;
    assert!(matches!(refused.result, Err(CallError::Conductor(ConductorError::Quarantined { .. }))));
    assert_eq!(miner.calls(), min_calls as u64, "the guest never ran");
    let monitor = conductor.monitor().unwrap();
    assert_eq!(monitor.status("miner@1.0.0"), HealthState::Quarantined);
    assert_eq!(conductor.breakers().get("miner@1.0.0").unwrap().state(), BreakerState::Open);

    assert!(monitor.lift("miner@1.0.0", "operator").unwrap());
    assert!(drain(&mut events).iter().any(|e| matches!(e, HealthEvent::QuarantineLifted { .. })));
    assert_eq!(conductor.breakers().get("miner@1.0.0").unwrap().state(), BreakerState::Closed);
    assert!(conductor.call(&miner, request()).await.result.is_ok(), "serving again after the lift");
}

const DEFAULT_MIN_PROFILE_CALLS_FOR_TEST: usize = policy::DEFAULT_MIN_PROFILE_CALLS;

#[tokio::test]
async fn quarantines_escalate_and_expire_on_the_clock() {
    let clock = ManualClock::new();
    let mut policy = AnomalyPolicy::default();
    policy.quarantine.period_ms = 1_000;
    let conductor = conductor(&clock, policy);
    let miner = miner();
    let monitor = conductor.monitor().unwrap().clone();
    while monitor.quarantine_remaining_ms("miner@1.0.0").is_none() {
        assert!(conductor.call(&miner, request()).await.result.is_ok());
    }
    assert_eq!(monitor.quarantine_remaining_ms("miner@1.0.0"), Some(1_000));
    clock.advance(Duration::from_millis(1_001));
    // The period is over: calls flow, and the still-mining extension is caught again once its
    // cooldown passes, for twice as long.
    while monitor.quarantine_remaining_ms("miner@1.0.0").is_none() {
        assert!(conductor.call(&miner, request()).await.result.is_ok());
    }
    assert_eq!(monitor.quarantine_remaining_ms("miner@1.0.0"), Some(2_000));
    let report = monitor.report(&[], Some(conductor.breakers()));
    assert_eq!(report[0].quarantines, 2);
    assert_eq!(report[0].quarantine.as_ref().map(|q| q.nth), Some(2));
}

#[tokio::test]
async fn the_quarantine_cap_keeps_most_of_the_platform_serving() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    let first = miner();
    let mut expectations = limits(50_000_000, 32 << 20);
    expectations.expected.fuel = Some(1_000_000);
    let second = shaped("miner@2.0.0", expectations, |_| (usage(44_500_000, 1 << 20), false, Vec::new()));
    for _ in 0..DEFAULT_MIN_PROFILE_CALLS_FOR_TEST {
        let _ = conductor.call(&first, request()).await;
        let _ = conductor.call(&second, request()).await;
    }
    let seen = drain(&mut events);
    let quarantined = seen.iter().filter(|e| matches!(e, HealthEvent::Quarantined { .. })).count();
    let throttled = seen.iter().filter(|e| matches!(e, HealthEvent::Throttled { .. })).count();
    assert_eq!((quarantined, throttled), (1, 1), "two known extensions: at most one quarantined");
    let report = conductor.monitor().unwrap().report(&[], None);
    let second_report = report.iter().find(|h| h.extension == "miner@2.0.0").unwrap();
    assert_eq!(second_report.status, HealthState::Degraded);
    // The policy quarantines a profile violation; the cap alone turned it into a throttle (not
    // time alone: it is about fuel; not an existing quarantine: it never had one).
    let capped = &second_report.recent_anomalies[0].record;
    assert!(matches!(capped.anomaly, Anomaly::ProfileViolation { metric: Metric::Fuel, .. }));
    assert_eq!(
        conductor.monitor().unwrap().policy().action(AnomalyKind::ProfileViolation),
        Action::Quarantine
    );
    assert_eq!(capped.action, Action::Throttle);
    assert!(capped.note.is_some(), "the record says why its action differs from the policy's");
    assert_eq!((second_report.quarantines, second_report.quarantine.as_ref()), (0, None));
}

#[tokio::test]
async fn an_error_burst_throttles_to_one_call_at_a_time() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    // 48 calls failing 1 in 8 make the baseline; then everything fails.
    let flaky = shaped("flaky@1.0.0", limits(1_000_000, 16 << 20), |n| {
        (usage(5_000, 1 << 20), n >= 48 || n % 8 == 0, Vec::new())
    });
    for _ in 0..48 {
        let _ = conductor.call(&flaky, request()).await;
    }
    assert!(kinds(&drain(&mut events)).is_empty(), "a steady 12% failure rate is its baseline");
    for _ in 0..16 {
        let _ = conductor.call(&flaky, request()).await;
    }
    let seen = drain(&mut events);
    assert_eq!(kinds(&seen), vec![AnomalyKind::ErrorBurst]);
    assert!(seen.iter().any(|e| matches!(e, HealthEvent::Throttled { concurrency: 1, .. })));

    // One slot: a call holding it makes the next wait, then be refused as overloaded.
    let monitor = conductor.monitor().unwrap();
    let held = monitor.admit("flaky@1.0.0").await.unwrap();
    assert!(held.is_some());
    let waiting = monitor.admit("flaky@1.0.0");
    tokio::pin!(waiting);
    assert!(futures_poll(&mut waiting).is_none());
    clock.advance(Duration::from_millis(policy::DEFAULT_THROTTLE_WAIT_MS));
    assert!(matches!(waiting.await, Err(ConductorError::Overloaded { .. })));
    drop(held);
}

/// Poll a future once; `None` while it is pending.
fn futures_poll<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(future).poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test]
async fn growing_memory_is_predicted_before_the_limit_is_reached() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    let limit = 16u64 << 20;
    let creep = shaped("creep@1.0.0", limits(10_000_000, limit), |n| {
        (usage(10_000, (n + 1) << 20), false, Vec::new())
    });
    let mut first_warning = None;
    for call in 1..=15u64 {
        let _ = conductor.call(&creep, request()).await;
        let seen = drain(&mut events);
        if first_warning.is_none() && kinds(&seen).contains(&AnomalyKind::ApproachingLimit) {
            first_warning = Some(call);
            let Some(HealthEvent::AnomalyDetected {
                anomaly: Anomaly::ApproachingLimit { metric, projected_calls_to_limit, .. },
                ..
            }) = seen.first()
            else {
                panic!("{seen:?}")
            };
            assert_eq!(*metric, Metric::MemoryBytes);
            assert!(projected_calls_to_limit.is_some_and(|calls| calls <= 5.0));
        }
    }
    // 1 MiB more per call against 16 MiB: flagged with five calls to go, at 11 MiB.
    assert_eq!(first_warning, Some(11));
}

#[tokio::test]
async fn a_sustained_jump_against_its_own_history_is_a_baseline_shift() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    // Natural variation (fuel 90k..110k) for 64 calls, then ten times the fuel.
    let shifting = shaped("shift@1.0.0", limits(1_000_000_000, 64 << 20), |n| {
        let fuel = if n < 64 { 90_000 + (n * 7_919) % 20_000 } else { 1_000_000 + n };
        (usage(fuel, 1 << 20), false, Vec::new())
    });
    for _ in 0..64 {
        let _ = conductor.call(&shifting, request()).await;
    }
    assert!(kinds(&drain(&mut events)).is_empty());
    for _ in 0..16 {
        let _ = conductor.call(&shifting, request()).await;
    }
    let seen = drain(&mut events);
    assert_eq!(kinds(&seen), vec![AnomalyKind::BaselineShift]);
    assert!(matches!(
        seen.first(),
        Some(HealthEvent::AnomalyDetected {
            anomaly: Anomaly::BaselineShift { metric: Metric::Fuel, .. },
            ..
        })
    ));
}

#[tokio::test]
async fn an_attempt_at_an_undeclared_capability_is_reported_once_per_window() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    let mut expectations = limits(1_000_000, 16 << 20);
    expectations.declared_capabilities = Some([CapabilityKind::Clocks].into_iter().collect());
    let snooper = shaped("snooper@1.0.0", expectations, |_| {
        let denials = vec![
            CapabilityDenial { capability: CapabilityKind::Clocks, target: "wall-clock".into(), attempts: 1 },
            CapabilityDenial { capability: CapabilityKind::Env, target: "environment".into(), attempts: 2 },
        ];
        (usage(1_000, 1 << 20), false, denials)
    });
    for _ in 0..3 {
        let _ = conductor.call(&snooper, request()).await;
    }
    let seen = drain(&mut events);
    assert_eq!(kinds(&seen), vec![AnomalyKind::UndeclaredCapability], "declared clocks are not anomalies");
    assert!(matches!(
        seen.first(),
        Some(HealthEvent::AnomalyDetected {
            anomaly: Anomaly::UndeclaredCapability { capability: CapabilityKind::Env, attempts: 2, .. },
            action: Action::Warn,
            ..
        })
    ));
}

#[tokio::test]
async fn a_quarantine_survives_a_restart_through_the_store() {
    let store = MemoryHistoryStore::default();
    let clock = ManualClock::new();
    {
        let conductor =
            Conductor::new(Arc::new(clock.clone()), RetryPolicy::default(), BreakerPolicy::default())
                .with_anomaly_detection(AnomalyPolicy::default(), Some(Box::new(store.clone())))
                .unwrap();
        let miner = miner();
        for _ in 0..DEFAULT_MIN_PROFILE_CALLS_FOR_TEST {
            let _ = conductor.call(&miner, request()).await;
        }
        assert!(conductor.monitor().unwrap().quarantine_remaining_ms("miner@1.0.0").is_some());
    }
    let conductor =
        Conductor::new(Arc::new(ManualClock::new()), RetryPolicy::default(), BreakerPolicy::default())
            .with_anomaly_detection(AnomalyPolicy::default(), Some(Box::new(store.clone())))
            .unwrap();
    let refused = conductor.call(&miner(), request()).await;
    assert!(matches!(refused.result, Err(CallError::Conductor(ConductorError::Quarantined { .. }))));
    assert_eq!(conductor.breakers().get("miner@1.0.0").unwrap().state(), BreakerState::Open);
    let report = conductor.monitor().unwrap().report(&[], None);
    assert_eq!(report[0].calls, DEFAULT_MIN_PROFILE_CALLS_FOR_TEST as u64);
    assert_eq!(report[0].status, HealthState::Quarantined);
}

#[tokio::test]
async fn disabled_detection_observes_nothing() {
    let clock = ManualClock::new();
    let policy = AnomalyPolicy { enabled: false, ..AnomalyPolicy::default() };
    let conductor = conductor(&clock, policy);
    let miner = miner();
    for _ in 0..40 {
        assert!(conductor.call(&miner, request()).await.result.is_ok());
    }
    assert!(conductor.monitor().unwrap().report(&[], None).is_empty());
}

/// Usage of a call whose guest ran `guest_us` (fuel and memory constant, as for a guest doing
/// the same work every time).
fn timed(guest_us: u64) -> Usage {
    Usage { fuel: 50_000, memory_peak_bytes: 1 << 20, wall_ms: guest_us / 1000, wall_us: guest_us, guest_us }
}

/// Guest time ~1 ms with a little natural variation for the first `calm` calls, then `slow`.
fn slows_down(id: &'static str, calm: u64, slow: u64) -> ScriptedInvoke {
    shaped(id, limits(1_000_000_000, 64 << 20), move |n| {
        let guest_us = if n < calm { 1_000 + (n * 37) % 100 } else { slow + n % 100 };
        (timed(guest_us), false, Vec::new())
    })
}

fn contention(events: &[HealthEvent]) -> usize {
    events.iter().filter(|e| matches!(e, HealthEvent::HostContention { .. })).count()
}

#[tokio::test]
async fn a_uniform_rise_across_extensions_is_host_contention_not_an_anomaly() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    let extensions = [
        slows_down("a@1.0.0", 64, 60_000),
        slows_down("b@1.0.0", 64, 55_000),
        slows_down("c@1.0.0", 64, 70_000),
    ];
    for _ in 0..96 {
        for extension in &extensions {
            let _ = conductor.call(extension, request()).await;
            clock.advance(Duration::from_millis(5));
        }
    }
    let seen = drain(&mut events);
    assert!(kinds(&seen).is_empty(), "{seen:?}");
    assert!(contention(&seen) >= 1, "the shift is recorded as the host's: {seen:?}");
    let report = conductor.monitor().unwrap().report(&[], None);
    assert!(report.iter().all(|h| h.status == HealthState::Healthy), "{report:?}");
}

#[tokio::test]
async fn one_extension_slowing_while_the_others_do_not_is_still_its_baseline_shift() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    let slow = slows_down("slow@1.0.0", 64, 60_000);
    let steady = [slows_down("x@1.0.0", u64::MAX, 0), slows_down("y@1.0.0", u64::MAX, 0)];
    for _ in 0..96 {
        let _ = conductor.call(&slow, request()).await;
        for extension in &steady {
            let _ = conductor.call(extension, request()).await;
        }
        clock.advance(Duration::from_millis(5));
    }
    let seen = drain(&mut events);
    assert_eq!(contention(&seen), 0, "{seen:?}");
    let Some(HealthEvent::AnomalyDetected {
        extension,
        anomaly: anomaly @ Anomaly::BaselineShift { metric: Metric::GuestUs, z, .. },
        ..
    }) = seen.iter().find(|e| matches!(e, HealthEvent::AnomalyDetected { .. }))
    else {
        panic!("no baseline shift in {seen:?}");
    };
    assert_eq!(extension, "slow@1.0.0");
    assert!(z.is_finite());
    let summary = anomaly.summary();
    assert!(summary.contains("ms vs baseline 1.0 ms"), "{summary}");
}

#[tokio::test]
async fn peers_idle_for_longer_than_the_window_say_nothing_about_the_host_now() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    // A peer that slowed down long ago, then went quiet.
    let old = slows_down("old@1.0.0", 64, 60_000);
    for _ in 0..96 {
        let _ = conductor.call(&old, request()).await;
    }
    let _ = drain(&mut events);
    clock.advance(Duration::from_millis(contention::CONTENTION_PEER_WINDOW_MS + 1));
    let slow = slows_down("slow@1.0.0", 64, 60_000);
    for _ in 0..96 {
        let _ = conductor.call(&slow, request()).await;
    }
    let seen = drain(&mut events);
    assert_eq!(contention(&seen), 0, "{seen:?}");
    let kinds = kinds(&seen);
    assert!(!kinds.is_empty() && kinds.iter().all(|k| *k == AnomalyKind::BaselineShift), "{kinds:?}");
}

#[tokio::test]
async fn time_alone_never_quarantines() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    assert_eq!(
        conductor.monitor().unwrap().policy().action(AnomalyKind::ProfileViolation),
        Action::Quarantine
    );
    let mut events = conductor.health().subscribe();
    // Declares 1 ms, runs 40 ms every call: a sustained profile violation on guest time only.
    let mut expectations = limits(1_000_000_000, 64 << 20);
    expectations.expected.latency_ms = Some(1);
    let slow = shaped("slow@1.0.0", expectations, |_| (timed(40_000), false, Vec::new()));
    for _ in 0..16 {
        let _ = conductor.call(&slow, request()).await;
    }
    let seen = drain(&mut events);
    assert!(!seen.iter().any(|e| matches!(e, HealthEvent::Quarantined { .. })), "{seen:?}");
    let Some(HealthEvent::AnomalyDetected { anomaly, action, .. }) =
        seen.iter().find(|e| matches!(e, HealthEvent::AnomalyDetected { .. }))
    else {
        panic!("no profile violation in {seen:?}");
    };
    assert_eq!(anomaly.kind(), AnomalyKind::ProfileViolation);
    assert_eq!(*action, Action::Throttle);
    assert!(conductor.call(&slow, request()).await.result.is_ok(), "still served, one at a time");
    let report = conductor.monitor().unwrap().report(&[], None);
    let record = &report[0].recent_anomalies.last().unwrap().record;
    assert_eq!(record.note.as_deref(), Some("time alone never quarantines"));
}

#[tokio::test]
async fn a_constant_baseline_and_one_outlier_raise_nothing() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let mut events = conductor.health().subscribe();
    // Exactly the same fuel every call (MAD 0), then one call at a hundred times that.
    let steady = shaped("steady@1.0.0", limits(1_000_000_000, 64 << 20), |n| {
        let fuel = if n == 90 { 20_000_000 } else { 200_000 };
        (usage(fuel, 1 << 20), false, Vec::new())
    });
    for _ in 0..120 {
        let _ = conductor.call(&steady, request()).await;
    }
    assert!(kinds(&drain(&mut events)).is_empty());
}

/// An extension whose n-th call (0-based) ran `guest_us(n)` microseconds in the guest.
fn guest_timed(id: &str, guest_us: impl Fn(u64) -> u64 + Send + Sync + 'static) -> ScriptedInvoke {
    shaped(id, limits(1_000_000, 16 << 20), move |n| {
        let us = guest_us(n);
        (Usage { guest_us: us, wall_us: us + 30, ..usage(1_000, 1 << 20) }, false, Vec::new())
    })
}

#[tokio::test]
async fn typical_guest_time_is_the_median_of_the_calls_seen_before_a_baseline() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let monitor = conductor.monitor().unwrap().clone();
    assert_eq!(monitor.typical_guest_us("timed@1.0.0"), None, "never observed");

    const ODD: [u64; 5] = [300, 100, 200, 1_000, 150];
    let odd = guest_timed("timed@1.0.0", |n| ODD[n as usize % ODD.len()]);
    for _ in 0..ODD.len() {
        assert!(conductor.call(&odd, request()).await.result.is_ok());
    }
    assert_eq!(monitor.typical_guest_us("timed@1.0.0"), Some(200), "one slow call does not move it");

    const EVEN: [u64; 4] = [100, 200, 300, 1_000];
    let even = guest_timed("even@1.0.0", |n| EVEN[n as usize % EVEN.len()]);
    for _ in 0..EVEN.len() {
        assert!(conductor.call(&even, request()).await.result.is_ok());
    }
    assert_eq!(monitor.typical_guest_us("even@1.0.0"), Some(250));
    assert_eq!(monitor.typical_guest_us("unseen@1.0.0"), None);
}

#[tokio::test]
async fn typical_guest_time_is_the_baseline_median_once_there_is_a_baseline() {
    let clock = ManualClock::new();
    let conductor = conductor(&clock, AnomalyPolicy::default());
    let monitor = conductor.monitor().unwrap().clone();
    let thresholds = monitor.policy().thresholds;
    let baseline_calls = thresholds.min_baseline_calls as u64;
    let calls = baseline_calls + thresholds.recent_calls as u64;
    // The calls the baseline is made of run 400..=420 µs (median 410); the recent window
    // after them runs 450 µs, which would pull the median of all calls up to 420.
    let steady =
        guest_timed("steady@1.0.0", move |n| if n < baseline_calls { 400 + (n % 3) * 10 } else { 450 });
    for _ in 0..calls {
        assert!(conductor.call(&steady, request()).await.result.is_ok());
    }
    assert_eq!(monitor.typical_guest_us("steady@1.0.0"), Some(410));
}
