//! `symphony health [--json]`: every extension's status (`healthy` / `degraded` /
//! `quarantined`), breaker, baselines and recent anomalies with their evidence, from the health
//! history in the state directory. `symphony health reset EXT` lifts a quarantine (audited).
//!
//! Exit codes: 0 when the report was printed or the reset done, 2 when it could not be (an
//! unusable state directory or health history, no such extension).

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::table::{Align, Table};
use super::{EXIT_UNUSABLE, display};
use symphony_conductor::anomaly::{ExtensionHealth, Metric};
use symphony_host::Platform;
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_types::manifest::ExtensionManifest;

fn unusable(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_UNUSABLE)
}

/// Every configured extension's `name@version`, so never-called ones show as healthy.
fn configured_ids(runtime: &Runtime) -> Vec<String> {
    runtime
        .manifest_paths()
        .iter()
        .filter_map(|path| ExtensionManifest::load(path).ok())
        .map(|m| m.id())
        .collect()
}

/// `symphony health [--json]`.
pub(crate) fn report(config: PlatformConfig, state_dir: &Path, as_json: bool) -> ExitCode {
    let platform = match Platform::open(config, state_dir) {
        Ok(platform) => platform,
        Err(e) => return unusable(&e.to_string()),
    };
    let runtime = platform.runtime();
    // A platform over a state directory always judges health.
    let Some(monitor) = platform.monitor() else { return unusable("no health monitor") };
    let report = monitor.report(&configured_ids(runtime), None);
    if as_json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => return unusable(&e.to_string()),
        }
    } else {
        print_table(&report);
    }
    ExitCode::SUCCESS
}

fn median(health: &ExtensionHealth, metric: Metric) -> Option<u64> {
    let baseline = health.baselines.get(&metric)?;
    baseline.median.or(baseline.ewma).map(|v| v as u64)
}

fn print_table(report: &[ExtensionHealth]) {
    let mut table = Table::new(&[
        ("extension", Align::Left),
        ("status", Align::Left),
        ("breaker", Align::Left),
        ("calls", Align::Right),
        ("fails", Align::Right),
        ("fuel", Align::Right),
        ("peak mem", Align::Right),
        ("guest time", Align::Right),
    ]);
    for health in report {
        let breaker = serde_json::to_value(health.breaker).ok();
        table.row(vec![
            health.extension.clone(),
            health.status.as_str().to_owned(),
            breaker.as_ref().and_then(|b| b.as_str()).unwrap_or("?").to_owned(),
            display::count(health.calls),
            display::count(health.failures),
            median(health, Metric::Fuel).map_or_else(|| "–".to_owned(), display::count),
            median(health, Metric::MemoryBytes).map_or_else(|| "–".to_owned(), display::bytes),
            median(health, Metric::GuestUs)
                .map_or_else(|| "–".to_owned(), |us| format!("{:.1} ms", us as f64 / 1000.0)),
        ]);
        if let Some(q) = &health.quarantine {
            table.note(format!(
                "    quarantined (#{}) for {}: {} s left — lift with `symphony health reset {}`",
                q.nth,
                q.reason,
                q.remaining_ms.div_ceil(1000),
                health.extension
            ));
        }
        if let Some(t) = &health.throttle {
            table.note(format!(
                "    throttled to {} at a time: {} s left",
                display::plural(t.concurrency, "call", "calls"),
                t.remaining_ms.div_ceil(1000)
            ));
        }
        for anomaly in &health.recent_anomalies {
            let note = anomaly.record.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            table.note(format!(
                "    call {:>5}  {:<22} {:<10} {}{note}",
                anomaly.record.at_call,
                anomaly.record.anomaly.kind().as_str(),
                anomaly.record.action.as_str(),
                anomaly.summary
            ));
        }
    }
    table.print();
    println!("(medians over each extension's baseline window; moving averages until one is formed)");
}

/// `symphony health reset EXT [--reason TEXT]`.
pub(crate) fn reset(
    config: PlatformConfig,
    state_dir: &Path,
    reference: &str,
    reason: &str,
    as_json: bool,
) -> ExitCode {
    let platform = match Platform::open(config, state_dir) {
        Ok(platform) => platform,
        Err(e) => return unusable(&e.to_string()),
    };
    let runtime = platform.runtime();
    // A platform over a state directory always judges health.
    let Some(monitor) = platform.monitor() else { return unusable("no health monitor") };
    // An exact `name@version` the history knows (even if its manifest is gone), else a lookup.
    let known = monitor.report(&[], None).into_iter().any(|h| h.extension == reference);
    let id = if known {
        reference.to_owned()
    } else {
        match runtime.find(reference) {
            Ok(manifest) => manifest.id(),
            Err(e) => return unusable(&e.to_string()),
        }
    };
    let lifted = match monitor.lift(&id, reason) {
        Ok(lifted) => lifted,
        Err(e) => return unusable(&e.to_string()),
    };
    if let Err(e) = platform.flush() {
        eprintln!("warning: {e}");
    }
    if runtime.state().is_some_and(|state| !state.audit().flush()) {
        eprintln!("warning: the audit log did not confirm the write in time");
    }
    if as_json {
        println!("{}", json!({"extension": id, "lifted": lifted, "reason": reason}));
    } else if lifted {
        println!("{id}: quarantine lifted ({reason}); it is judged afresh from its next calls");
    } else {
        println!("{id}: was not quarantined; its recent window was cleared and any throttle lifted");
    }
    ExitCode::SUCCESS
}
