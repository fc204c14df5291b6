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

use super::served::{DegradedSource, served_by};
use super::table::{Align, Table};

const GIB: u64 = 1024 * 1024 * 1024;

/// The conductor table: one row per scenario.
fn table() -> Table {
    Table::new(&[
        ("conductor scenario", Align::Left),
        ("what happened", Align::Left),
        ("result", Align::Left),
        ("served by", Align::Left),
        ("attempts", Align::Left),
    ])
}

/// A row for a conducted call: its result, who served it and every attempt. The only degraded
/// step these scenarios' chains hold is a static answer.
fn call_row(table: &mut Table, scenario: &str, happened: &str, outcome: &ConductedOutcome) {
    let result = match &outcome.result {
        Ok(_) if outcome.degraded => "ok (degraded)".to_owned(),
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{}/{}", e.source_layer(), e.kind()),
    };
    table.row(vec![
        scenario.to_owned(),
        happened.to_owned(),
        result,
        served_by(outcome, DegradedSource::Static),
        attempts(outcome),
    ]);
}

/// A row for a scenario that is not one call.
fn other_row(table: &mut Table, scenario: &str, happened: &str, result: &str) {
    table.row(vec![
        scenario.to_owned(),
        happened.to_owned(),
        result.to_owned(),
        "–".to_owned(),
        "–".to_owned(),
    ]);
}

/// Every attempt's result in order, `unavailable, unavailable, ok`, naming the extension each
/// time it changes from the one asked first: `unable_to_complete, then summarize@1.0.0: ok`.
fn attempts(outcome: &ConductedOutcome) -> String {
    let mut out = String::new();
    let mut previous: Option<&str> = None;
    for a in &outcome.attempts {
        match previous {
            None => {}
            Some(p) if p == a.extension => out.push_str(", "),
            Some(_) => {
                out.push_str(", then ");
                out.push_str(&a.extension);
                out.push_str(": ");
            }
        }
        out.push_str(a.error_kind.unwrap_or("ok"));
        previous = Some(&a.extension);
    }
    if out.is_empty() { "none".to_owned() } else { out }
}

fn json_request(value: serde_json::Value) -> Option<CallRequest> {
    CallRequest::json(&value).ok()
}

/// Run the conductor scenarios; returns how many did not behave as expected.
pub(crate) async fn run(runtime: &Runtime) -> usize {
    println!();
    let mut table = table();
    let mut unexpected = 0;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());

    // 1. A transient guest failure, retried with backoff until it succeeds.
    let (Ok(flaky), Some(req)) = (runtime.load("flaky"), json_request(json!({"fail_times": 2}))) else {
        table.note("flaky is not available; run `symphony build`");
        table.print();
        return 1;
    };
    let conductor = Conductor::new(Arc::clone(&clock), RetryPolicy::default(), BreakerPolicy::default());
    let outcome = conductor.call(&flaky, req).await;
    unexpected += usize::from(outcome.result.is_err() || outcome.attempts.len() != 3);
    call_row(&mut table, "retried transient failure", "flaky fails twice, then succeeds", &outcome);

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
        call_row(&mut table, "breaker opens", "caller A fails 4 times; caller B is refused", &refused);
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    if let Some(req) = json_request(json!({"fail_times": 0})) {
        let probe = conductor.call(&flaky, req).await;
        unexpected += usize::from(probe.result.is_err());
        call_row(&mut table, "half-open recovery", "after the open period, one probe succeeds", &probe);
    }
    let mut transitions = Vec::new();
    while let Ok(HealthEvent::BreakerStateChanged { to, .. }) = events.try_recv() {
        transitions.push(match to {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        });
    }
    other_row(
        &mut table,
        "breaker health events",
        "every change broadcast and audited",
        &format!("closed → {}", transitions.join(" → ")),
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
                call_row(&mut table, "version fallback", "summarize 2.0.0 fails on long texts", &outcome);
            }
        }
        _ => {
            table.note("summarize samples are not available; run `symphony build`");
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
        unexpected += usize::from(!outcome.degraded || outcome.result.is_err());
        call_row(&mut table, "degraded result", "flaky keeps failing; no fallback serves", &outcome);
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
    let result = if c_ran {
        format!("C queued ({}), ran once A ended; no deadlock", queued[1])
    } else {
        format!("C did not run ({} queued)", queued[1])
    };
    other_row(&mut table, "2 GiB contention", "A, B: 1 GiB essential; C: 512 MiB recommended", &result);
    drop(b);
    table.print();
    unexpected
}

#[cfg(test)]
mod tests {
    use symphony_conductor::{Attempt, ConductedOutcome};
    use symphony_types::error::{CallError, HostError};
    use symphony_types::usage::Usage;

    fn attempt(extension: &str, error_kind: Option<&'static str>) -> Attempt {
        Attempt { extension: extension.to_owned(), attempt: 1, error_kind, error_source: None, backoff_ms: 0 }
    }

    fn outcome(attempts: Vec<Attempt>) -> ConductedOutcome {
        ConductedOutcome {
            result: Err(CallError::Host(HostError::PoolExhausted)),
            json: None,
            served_by: "x@1.0.0".to_owned(),
            attempts,
            fallback: false,
            degraded: false,
            usage: Usage::default(),
            last_attempt_error: None,
            log: None,
        }
    }

    #[test]
    fn attempts_name_the_extension_only_when_it_changes() {
        let retried = outcome(vec![
            attempt("flaky@1.0.0", Some("unavailable")),
            attempt("flaky@1.0.0", Some("unavailable")),
            attempt("flaky@1.0.0", None),
        ]);
        assert_eq!(super::attempts(&retried), "unavailable, unavailable, ok");
        let fell_back = outcome(vec![
            attempt("summarize@2.0.0", Some("unable_to_complete")),
            attempt("summarize@1.0.0", None),
        ]);
        assert_eq!(super::attempts(&fell_back), "unable_to_complete, then summarize@1.0.0: ok");
        assert_eq!(super::attempts(&outcome(Vec::new())), "none");
    }
}
