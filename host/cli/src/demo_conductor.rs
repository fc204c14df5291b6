//! The conductor half of `symphony demo`: a retried transient failure, a breaker opening and
//! recovering through half-open, a version fallback, a degraded answer, and the 2 GiB
//! contention scenario, each as one row of a table.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use symphony_conductor::{
    BreakerPolicy, BreakerState, Clock, ConductedOutcome, Conductor, Demand, FallbackTarget, HealthEvent,
    ReservationPolicy, ResolvedStep, ResourcePool, RetryPolicy, SystemClock,
};
use symphony_host::runtime::Runtime;
use symphony_types::CancelToken;
use symphony_types::manifest::Priority;
use symphony_types::payload::{CallRequest, Payload};

const GIB: u64 = 1024 * 1024 * 1024;

fn row(scenario: &str, happened: &str, result: &str) {
    println!("{scenario:<28} {happened:<62} {result}");
}

fn summary(outcome: &ConductedOutcome) -> String {
    let attempts: Vec<String> = outcome
        .attempts
        .iter()
        .map(|a| format!("{}:{}", a.extension, a.error_kind.unwrap_or("ok")))
        .collect();
    let result = match &outcome.result {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{}/{}", e.source_layer(), e.kind()),
    };
    format!(
        "{result} · served_by {} · fallback {} · degraded {} · [{}]",
        outcome.served_by,
        outcome.fallback,
        outcome.degraded,
        attempts.join(", ")
    )
}

fn json_request(value: serde_json::Value) -> Option<CallRequest> {
    CallRequest::json(&value).ok()
}

/// Run the conductor scenarios; returns how many did not behave as expected.
pub(crate) async fn run(runtime: &Runtime) -> usize {
    println!();
    println!("{:<28} {:<62} outcome", "conductor scenario", "what happened");
    println!("{}", "─".repeat(140));
    let mut unexpected = 0;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());

    // 1. A transient guest failure, retried with backoff until it succeeds.
    let (Ok(flaky), Some(req)) = (runtime.load("flaky"), json_request(json!({"fail_times": 2}))) else {
        println!("flaky is not available; run `symphony build`");
        return 1;
    };
    let conductor = Conductor::new(Arc::clone(&clock), RetryPolicy::default(), BreakerPolicy::default());
    let outcome = conductor.call(&flaky, req).await;
    unexpected += usize::from(outcome.result.is_err() || outcome.attempts.len() != 3);
    row(
        "retried transient failure",
        "flaky fails twice (unavailable), the conductor retries",
        &summary(&outcome),
    );

    // 2. A breaker opens on one caller's failures, refuses another's call, then recovers.
    let breaker = BreakerPolicy::default().minimum_calls(4).open_ms(200).half_open_probes(1);
    let conductor =
        Arc::new(Conductor::new(Arc::clone(&clock), RetryPolicy::default().max_attempts(1), breaker));
    let mut events = conductor.health().subscribe();
    if let Some(state) = runtime.state() {
        symphony_host::audit::audit_health_events(&conductor, state.audit());
    }
    for _ in 0..4 {
        if let Some(req) = json_request(json!({"fail_times": 100})) {
            let _ = conductor.call(&flaky, req).await;
        }
    }
    if let Some(req) = json_request(json!({"fail_times": 0})) {
        let refused = conductor.call(&flaky, req).await;
        unexpected += usize::from(refused.usage.fuel != 0);
        row(
            "breaker opens",
            "4 failures from caller A; caller B's healthy request is refused",
            &summary(&refused),
        );
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    if let Some(req) = json_request(json!({"fail_times": 0})) {
        let probe = conductor.call(&flaky, req).await;
        unexpected += usize::from(probe.result.is_err());
        row("half-open recovery", "after the open period one probe runs and succeeds", &summary(&probe));
    }
    let mut transitions = Vec::new();
    while let Ok(HealthEvent::BreakerStateChanged { to, .. }) = events.try_recv() {
        transitions.push(match to {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        });
    }
    row(
        "breaker health events",
        &format!("closed → {}", transitions.join(" → ")),
        "broadcast to subscribers, audited",
    );

    // 3. The newer version fails where the older one still serves.
    match (runtime.load("summarize@2.0.0"), runtime.load("summarize@1.0.0")) {
        (Ok(newer), Ok(older)) => {
            let features = older.manifest().features.clone();
            let chain =
                [ResolvedStep::Target(FallbackTarget { invoker: Arc::new(older), features, demand: None })];
            let text = "A long text about many things. ".repeat(10);
            if let Some(req) = json_request(json!({ "text": text })) {
                let conductor =
                    Conductor::new(Arc::clone(&clock), RetryPolicy::default(), BreakerPolicy::default());
                let outcome = conductor
                    .call_with_fallback("balanced", &newer, None, &chain, &["summarize".into()], req)
                    .await;
                unexpected += usize::from(outcome.served_by != "summarize@1.0.0");
                row(
                    "version fallback",
                    "summarize 2.0.0 regresses on long texts; 1.0.0 serves",
                    &summary(&outcome),
                );
            }
        }
        _ => {
            println!("summarize samples are not available; run `symphony build`");
            unexpected += 1;
        }
    }

    // 4. Nothing can serve: a static answer, clearly marked degraded.
    if let (Some(req), Ok(fallback)) =
        (json_request(json!({"fail_times": 100})), Payload::json(&json!({"status": "try later"})))
    {
        let conductor = Conductor::new(
            Arc::clone(&clock),
            RetryPolicy::default().max_attempts(2),
            BreakerPolicy::default(),
        );
        let outcome = conductor
            .call_with_fallback("balanced", &flaky, None, &[ResolvedStep::Static(fallback)], &[], req)
            .await;
        unexpected += usize::from(!outcome.degraded);
        row(
            "degraded result",
            "flaky keeps failing; the route's static answer is returned",
            &summary(&outcome),
        );
    }

    // 5. The 2 GiB contention scenario.
    let pool =
        ResourcePool::new(ReservationPolicy::default().memory_budget_bytes(2 * GIB), Arc::clone(&clock));
    let cancel = CancelToken::new();
    let a = pool.reserve(Demand::new(GIB, 1, Priority::Essential), &cancel).await;
    let b = pool.reserve(Demand::new(GIB, 1, Priority::Essential), &cancel).await;
    let waiting_pool = pool.clone();
    let c = tokio::spawn(async move {
        waiting_pool
            .reserve(Demand::new(GIB / 2, 1, Priority::Recommended), &CancelToken::new())
            .await
            .is_ok()
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let queued = pool.queued();
    let admitted_first = a.is_ok() && b.is_ok();
    drop(a);
    let c_ran = c.await.unwrap_or(false);
    unexpected += usize::from(!(admitted_first && queued[1] == 1 && c_ran));
    row(
        "2 GiB contention",
        "A 1 GiB + B 1 GiB (essential) admitted; C 512 MiB (recommended) queued",
        &format!("C waited ({} queued) and ran when A finished: {c_ran}; no deadlock", queued[1]),
    );
    drop(b);
    unexpected
}
