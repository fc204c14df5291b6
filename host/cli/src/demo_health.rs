//! The health half of `symphony demo`: the miner that stays under its fuel limit while declaring
//! a light profile is caught and quarantined while text-stats under the same load stays
//! healthy, and a guest whose memory grows call over call is predicted to hit its limit before
//! it does. History lives in the state directory, so `symphony health` shows the evidence.

use serde_json::json;

use symphony_conductor::anomaly::{Anomaly, AnomalyKind, AnomalyRecord, HealthState, Metric};
use symphony_conductor::{ConductedOutcome, Conductor};
use symphony_host::Platform;
use symphony_host::runtime::Runtime;
use symphony_types::error::{CallError, ConductorError, HostError};
use symphony_types::payload::CallRequest;

use super::display;
use super::table::{Align, Table};

/// Most miner calls the demo makes before giving up on seeing it caught.
const MAX_MINER_CALLS: usize = 40;
/// Largest history the memory-creep scenario sends, in MiB (its limit is 16 MiB).
const MAX_HISTORY_MIB: u64 = 24;

fn row(table: &mut Table, scenario: &str, happened: &str, result: &str) {
    table.row(vec![scenario.to_owned(), happened.to_owned(), result.to_owned()]);
}

fn result_of(outcome: &ConductedOutcome) -> String {
    match &outcome.result {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{}/{}", e.source_layer(), e.kind()),
    }
}

/// A text of about `bytes` bytes that differs with `seed`.
fn text(seed: usize, bytes: usize) -> String {
    const WORDS: [&str; 8] = ["alpha", "beta", "gamma", "delta", "lorem", "ipsum", "quick", "fox"];
    let mut out = String::with_capacity(bytes + 8);
    let mut i = seed;
    while out.len() < bytes {
        out.push_str(WORDS[i % WORDS.len()]);
        out.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    out
}

fn first(records: &[AnomalyRecord], kind: AnomalyKind) -> Option<&AnomalyRecord> {
    records.iter().find(|r| r.anomaly.kind() == kind)
}

/// Run the health scenarios; returns how many did not behave as expected.
pub(crate) async fn run(platform: &Platform) -> usize {
    println!();
    let mut table = Table::new(&[
        ("health scenario", Align::Left),
        ("what happened", Align::Left),
        ("outcome", Align::Left),
    ]);
    let (runtime, conductor) = (platform.runtime(), platform.conductor());
    let mut unexpected = miner(&mut table, runtime, conductor).await;
    unexpected += memory_creep(&mut table, runtime, conductor).await;
    if let Err(e) = platform.flush() {
        table.note(format!("health history not saved: {e}"));
        unexpected += 1;
    }
    table.print();
    unexpected
}

async fn miner(table: &mut Table, runtime: &Runtime, conductor: &Conductor) -> usize {
    let (Ok(miner), Ok(text_stats)) = (runtime.load("miner"), runtime.load("text-stats")) else {
        table.note("miner or text-stats is not available; run `symphony build`");
        return 1;
    };
    let Some(monitor) = conductor.monitor() else { return 1 };
    let miner_id = miner.manifest().id();
    if let Some(left_ms) = monitor.quarantine_remaining_ms(&miner_id) {
        let Ok(request) = CallRequest::json(&json!({})) else { return 1 };
        let outcome = conductor.call(&miner, request).await;
        row(
            table,
            "miner (earlier run)",
            "still quarantined from an earlier run: the history is persisted",
            &format!(
                "{} · {} s left · `symphony health reset {miner_id}` lifts it",
                result_of(&outcome),
                left_ms / 1000
            ),
        );
        return usize::from(outcome.result.is_ok());
    }
    let mut raised = Vec::new();
    let mut calls = 0;
    let mut text_ok = 0;
    while calls < MAX_MINER_CALLS && monitor.quarantine_remaining_ms(&miner_id).is_none() {
        calls += 1;
        let Ok(request) = CallRequest::json(&json!({})) else { return 1 };
        let outcome = conductor.call(&miner, request).await;
        if outcome.result.is_err() {
            break;
        }
        let Ok(request) = CallRequest::json(&json!({ "text": text(calls, 16 * 1024 + calls * 997) })) else {
            return 1;
        };
        text_ok += usize::from(conductor.call(&text_stats, request).await.result.is_ok());
    }
    let report = monitor.report(&[], None);
    for health in &report {
        if health.extension == miner_id {
            raised.extend(health.recent_anomalies.iter().map(|a| a.record.clone()));
        }
    }
    let violation = first(&raised, AnomalyKind::ProfileViolation);
    let fuel_share = report
        .iter()
        .find(|h| h.extension == miner_id)
        .and_then(|h| h.baselines.get(&Metric::Fuel).and_then(|b| b.ewma))
        .map_or(0.0, |fuel| fuel / miner.limits().limits.fuel.max(1) as f64 * 100.0);
    let quarantined = monitor.quarantine_remaining_ms(&miner_id);
    let summary = violation.map_or_else(|| "not flagged".to_owned(), |r| r.anomaly.summary());
    row(
        table,
        "miner stays under its limit",
        &format!(
            "{} at {fuel_share:.0}% of its fuel limit, each one succeeding",
            display::plural(calls, "call", "calls")
        ),
        &format!("profile_violation: {summary}"),
    );
    let text_health = report.iter().find(|h| h.extension.starts_with("text-stats@"));
    let text_state = text_health.map_or(HealthState::Healthy, |h| h.status);
    row(
        table,
        "text-stats, same load",
        &format!("{} on 16–56 KiB texts alongside the miner", display::plural(text_ok, "call", "calls")),
        &format!("{} · no anomaly", text_state.as_str()),
    );
    let Ok(request) = CallRequest::json(&json!({})) else { return 1 };
    let refused = conductor.call(&miner, request).await;
    let refused_ok = matches!(refused.result, Err(CallError::Conductor(ConductorError::Quarantined { .. })));
    row(
        table,
        "miner quarantined",
        &format!(
            "breaker forced open for {} s; the next call never runs the guest",
            quarantined.unwrap_or(0) / 1000
        ),
        &format!("{} · fuel used {}", result_of(&refused), refused.usage.fuel),
    );
    usize::from(violation.is_none())
        + usize::from(quarantined.is_none())
        + usize::from(!refused_ok)
        + usize::from(text_state != HealthState::Healthy || text_ok != calls)
}

async fn memory_creep(table: &mut Table, runtime: &Runtime, conductor: &Conductor) -> usize {
    let Ok(creep) = runtime.load("memory-creep") else {
        table.note("memory-creep is not available; run `symphony build`");
        return 1;
    };
    let Some(monitor) = conductor.monitor() else { return 1 };
    let id = creep.manifest().id();
    // Judge this run's growth on its own, not mixed with an earlier demo's calls.
    if let Err(e) = monitor.lift(&id, "demo: judged afresh") {
        table.note(format!("memory-creep history not reset: {e}"));
    }
    let mut warned_at = None;
    let mut breached_at = None;
    let mut warning = None;
    for history_mib in 1..=MAX_HISTORY_MIB {
        let before = monitor.report(std::slice::from_ref(&id), None).into_iter().find(|h| h.extension == id);
        let seen_before = before.map_or(0, |h| h.recent_anomalies.len());
        let Ok(request) = CallRequest::json(&json!({ "history_mib": history_mib })) else { return 1 };
        let outcome = conductor.call(&creep, request).await;
        if warned_at.is_none()
            && let Some(health) = monitor.report(&[], None).into_iter().find(|h| h.extension == id)
            && health.recent_anomalies.len() > seen_before
            && let Some(record) = health.recent_anomalies.last()
            && record.record.anomaly.kind() == AnomalyKind::ApproachingLimit
        {
            warned_at = Some(history_mib);
            warning = Some(record.record.anomaly.clone());
        }
        if matches!(outcome.result, Err(CallError::Host(HostError::MemoryLimit { .. }))) {
            breached_at = Some(history_mib);
            break;
        }
    }
    let predicted = match &warning {
        Some(Anomaly::ApproachingLimit { projected_calls_to_limit: Some(calls), .. }) => {
            format!("limit predicted ~{calls:.1} calls ahead")
        }
        Some(other) => other.summary(),
        None => "no warning".to_owned(),
    };
    row(
        table,
        "memory creeps up",
        "history grows 1 MiB per call against a 16 MiB memory limit",
        &format!(
            "approaching_limit at call {} ({predicted}); first memory_limit at call {}",
            warned_at.map_or_else(|| "–".to_owned(), |c| c.to_string()),
            breached_at.map_or_else(|| "–".to_owned(), |c| c.to_string()),
        ),
    );
    usize::from(!matches!((warned_at, breached_at), (Some(w), Some(b)) if w < b))
}
