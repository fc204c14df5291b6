//! Anomaly detection over real components: the miner that stays under its fuel limit while
//! declaring a light profile is quarantined and text-stats under the same load is not; a guest
//! whose memory grows call over call is predicted to reach its limit before it does; and the
//! well-behaved samples with natural input variation raise nothing over a thousand calls.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::sync::Arc;

use serde_json::json;
use symphony_host::conductor::anomaly::{Anomaly, AnomalyKind, AnomalyPolicy, HealthState};
use symphony_host::conductor::{
    BreakerPolicy, BreakerState, Conductor, HealthEvent, ManualClock, RetryPolicy,
};
use symphony_host::{CallError, CallRequest, ConductorError, HostError};
use symphony_tests::load;
use tokio::sync::broadcast::Receiver;

fn conductor() -> Conductor {
    Conductor::new(
        Arc::new(ManualClock::new()),
        RetryPolicy::default().max_attempts(1),
        BreakerPolicy::default(),
    )
    .with_anomaly_detection(AnomalyPolicy::default(), None)
    .expect("in-memory monitor")
}

fn request(input: serde_json::Value) -> CallRequest {
    CallRequest::json(&input).expect("input")
}

fn anomalies(events: &mut Receiver<HealthEvent>) -> Vec<(String, Anomaly)> {
    std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            HealthEvent::AnomalyDetected { extension, anomaly, .. } => Some((extension, anomaly)),
            _ => None,
        })
        .collect()
}

/// A deterministic stream of pseudo-random numbers (SplitMix64), for natural input variation.
struct Variation(u64);

impl Variation {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below
    }

    fn text(&mut self, max_bytes: u64) -> String {
        const WORDS: [&str; 12] = [
            "alpha", "beta", "gamma", "delta", "lorem", "ipsum", "the", "quick", "brown", "fox", "jumps",
            "über",
        ];
        let target = 16 + self.next(max_bytes);
        let mut text = String::new();
        while (text.len() as u64) < target {
            text.push_str(WORDS[self.next(WORDS.len() as u64) as usize]);
            text.push(if self.next(8) == 0 { '\n' } else { ' ' });
        }
        text
    }
}

#[tokio::test]
async fn the_miner_is_quarantined_and_text_stats_under_the_same_load_is_not() {
    let conductor = conductor();
    let mut events = conductor.health().subscribe();
    let miner = load("miner");
    let text_stats = load("text-stats");
    let mut variation = Variation(7);
    let calls = 16;
    for _ in 0..calls {
        let mined = conductor.call(&miner, request(json!({}))).await;
        if let Err(err) = &mined.result {
            assert!(
                matches!(err, CallError::Conductor(ConductorError::Quarantined { .. })),
                "the miner stays under its limits; only the quarantine stops it: {err}"
            );
        }
        let text = variation.text(64 * 1024);
        let counted = conductor.call(&text_stats, request(json!({ "text": text }))).await;
        assert!(counted.result.is_ok(), "{:?}", counted.result.err());
    }
    let found = anomalies(&mut events);
    assert!(!found.is_empty(), "the miner was flagged");
    for (extension, anomaly) in &found {
        assert_eq!(extension, "miner@1.0.0", "only the miner is flagged: {anomaly:?}");
    }
    let Some((_, Anomaly::ProfileViolation { ratio, declared, .. })) =
        found.iter().find(|(_, a)| a.kind() == AnomalyKind::ProfileViolation)
    else {
        panic!("expected a profile violation: {found:?}");
    };
    assert_eq!(*declared, 1_000_000);
    assert!(*ratio > 10.0, "the miner burns far more than it declares: {ratio}");

    let monitor = conductor.monitor().expect("monitor");
    let report = monitor.report(&[], Some(conductor.breakers()));
    let miner_health = report.iter().find(|h| h.extension == "miner@1.0.0").expect("miner reported");
    assert_eq!(miner_health.status, HealthState::Quarantined);
    assert_eq!(miner_health.breaker, BreakerState::Open);
    assert!(miner_health.quarantine.is_some());
    let text_health = report.iter().find(|h| h.extension == "text-stats@1.0.0").expect("text-stats reported");
    assert_eq!(text_health.status, HealthState::Healthy);
    assert_eq!(text_health.calls, calls);

    let refused = conductor.call(&miner, request(json!({}))).await;
    assert!(matches!(refused.result, Err(CallError::Conductor(ConductorError::Quarantined { .. }))));
    assert!(refused.usage.fuel == 0, "a quarantined guest never runs");
}

#[tokio::test]
async fn growing_memory_is_predicted_before_the_first_memory_limit() {
    let conductor = conductor();
    let mut events = conductor.health().subscribe();
    let creep = load("memory-creep");
    let mut first_warning = None;
    let mut first_breach = None;
    for (call, history_mib) in (1..=20u64).enumerate() {
        let outcome = conductor.call(&creep, request(json!({ "history_mib": history_mib }))).await;
        if first_warning.is_none()
            && anomalies(&mut events).iter().any(|(_, a)| a.kind() == AnomalyKind::ApproachingLimit)
        {
            first_warning = Some(call);
        }
        if matches!(outcome.result, Err(CallError::Host(HostError::MemoryLimit { .. }))) {
            first_breach = Some(call);
            break;
        }
    }
    let (warning, breach) = (first_warning.expect("a warning"), first_breach.expect("a breach"));
    assert!(warning < breach, "warned at call {warning}, first memory_limit at call {breach}");
    let report = conductor.monitor().expect("monitor").report(&[], None);
    let anomaly = &report[0].recent_anomalies[0].record.anomaly;
    assert!(
        matches!(anomaly, Anomaly::ApproachingLimit { projected_calls_to_limit: Some(_), limit, .. } if *limit == 16 << 20),
        "{anomaly:?}"
    );
}

/// Calls of the false-positive check; `SYMPHONY_FALSE_POSITIVE_CALLS` runs a longer one.
fn false_positive_calls() -> u64 {
    std::env::var("SYMPHONY_FALSE_POSITIVE_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000)
}

#[tokio::test]
async fn a_thousand_well_behaved_calls_with_natural_variation_raise_nothing() {
    let conductor = conductor();
    let mut events = conductor.health().subscribe();
    let echo = load("echo");
    let text_stats = load("text-stats");
    let summarize = load("summarize@1.0.0");
    let mut variation = Variation(42);
    let calls = false_positive_calls();
    let mut found = Vec::new();
    for call in 0..calls {
        let outcome = match call % 3 {
            0 => {
                let size = variation.next(4096) as usize;
                conductor.call(&echo, request(json!({ "payload": "x".repeat(size), "n": call }))).await
            }
            1 => conductor.call(&text_stats, request(json!({ "text": variation.text(64 * 1024) }))).await,
            _ => conductor.call(&summarize, request(json!({ "text": variation.text(2 * 1024) }))).await,
        };
        assert!(outcome.result.is_ok(), "call {call}: {:?}", outcome.result.err());
        // Drain as we go so a long run never overflows the event channel.
        found.extend(anomalies(&mut events));
    }
    assert!(found.is_empty(), "{} anomalies in {calls} calls: {found:?}", found.len());
    let report = conductor.monitor().expect("monitor").report(&[], None);
    assert_eq!(report.len(), 3);
    for health in &report {
        assert_eq!(health.status, HealthState::Healthy, "{}", health.extension);
        assert!(health.baselines.values().all(|b| b.median.is_some()), "baselines were formed");
    }
}

/// Sixteen callers of `echo` share one worker thread: every call waits behind the others, so
/// its wall time is mostly the host's queueing. Judged on the time the guest ran, echo stays
/// healthy through 10,000 calls.
#[tokio::test(flavor = "current_thread")]
async fn sixteen_callers_on_one_worker_leave_echo_healthy() {
    const CALLERS: usize = 16;
    const CALLS: usize = 10_000;
    let conductor = Arc::new(conductor());
    let mut events = conductor.health().subscribe();
    let echo = load("echo");
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..CALLERS {
        let conductor = Arc::clone(&conductor);
        let echo = echo.clone();
        callers.spawn(async move {
            let (mut guest_us, mut wall_us) = (0_u64, 0_u64);
            for call in (caller..CALLS).step_by(CALLERS) {
                let outcome = conductor.call(&echo, request(json!({ "n": call }))).await;
                assert!(outcome.result.is_ok(), "call {call}: {:?}", outcome.result.err());
                guest_us += outcome.usage.guest_us;
                wall_us += outcome.usage.wall_us;
                tokio::task::yield_now().await;
            }
            (guest_us, wall_us)
        });
    }
    let mut found = Vec::new();
    while let Some(done) = callers.join_next().await {
        let (guest_us, wall_us) = done.expect("caller");
        // The guest's own time is part of the wall time the caller saw, never more.
        assert!(guest_us <= wall_us, "guest {guest_us} µs > wall {wall_us} µs");
        found.extend(anomalies(&mut events));
    }
    found.extend(anomalies(&mut events));
    assert!(found.is_empty(), "{} anomalies: {found:?}", found.len());
    let report = conductor.monitor().expect("monitor").report(&[], None);
    let health = report.iter().find(|h| h.extension.starts_with("echo@")).expect("echo observed");
    assert_eq!(health.calls, CALLS as u64);
    assert_eq!(health.status, HealthState::Healthy, "{health:?}");
}
