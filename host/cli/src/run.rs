//! `symphony run EXT [--input JSON | --input-file F] [--json] [--direct]`: one call through
//! the conductor (retry within budget inside the extension's circuit breaker), or with
//! `--direct` one attempt in a fresh sandbox.
//!
//! `--json` prints exactly one object: `{"status":"ok","output":…,"usage":{…}}` or
//! `{"status":"error","error":{"source","kind","class","message"},"usage":{…}}`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde_json::{Value, json};

use super::{EXIT_UNUSABLE, display};
use symphony_conductor::anomaly::history_store::HistoryStore;
use symphony_conductor::{
    ConductedOutcome, Conductor, FallbackStep, FallbackTarget, HealthEvents, HealthMonitor, ResolvedStep,
    ResourcePool, SystemClock,
};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_host::sandbox::CallOutcome;
use symphony_types::call_log::CallLog;
use symphony_types::error::{CallError, ConductorError, HostError};
use symphony_types::payload::{CallRequest, JSON_CONTENT_TYPE, Payload};
use symphony_types::usage::Usage;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// A manifest path, a directory holding one, or an extension name.
    extension: String,
    /// Input as JSON text (default `{}`).
    #[arg(long, conflicts_with = "input_file", value_name = "JSON")]
    input: Option<String>,
    /// Read the JSON input from a file.
    #[arg(long, value_name = "FILE")]
    input_file: Option<PathBuf>,
    /// Print one JSON object instead of human output.
    #[arg(long)]
    json: bool,
    /// Call the sandbox once, bypassing the conductor (no retry, no circuit breaker).
    #[arg(long)]
    direct: bool,
}

pub(crate) async fn run(config: PlatformConfig, state_dir: &Path, args: RunArgs) -> ExitCode {
    let runtime = match super::open_runtime(config, state_dir) {
        Ok(rt) => rt,
        Err(e) => return unusable(args.json, &e.to_string()),
    };
    let extension = match runtime.load(&args.extension) {
        Ok(ext) => ext,
        Err(e) => {
            // A bad or missing manifest means the command could not run (exit 2); a component
            // that cannot load is still a typed host error for the caller (exit 1).
            let code = if matches!(e, HostError::ManifestInvalid(_)) {
                ExitCode::from(EXIT_UNUSABLE)
            } else {
                ExitCode::FAILURE
            };
            let report = CallError::Host(e).report();
            if args.json {
                println!("{}", json!({"status": "error", "error": report, "usage": zero_usage()}));
            } else {
                eprintln!("error: {} ({}/{}, {})", report.message, report.source, report.kind, report.class);
            }
            return code;
        }
    };
    let input = match read_input(&args, extension.limits().limits.input_bytes) {
        Ok(input) => input,
        Err(InputError::Unusable(message)) => return unusable(args.json, &message),
        Err(InputError::TooLarge(too_large)) => {
            // Refused before reading: the same typed error the sandbox gives an oversized input.
            let report = CallError::Host(too_large).report();
            if args.json {
                println!("{}", json!({"status": "error", "error": report, "usage": zero_usage()}));
            } else {
                eprintln!("error: {} ({}/{}, {})", report.message, report.source, report.kind, report.class);
            }
            return ExitCode::FAILURE;
        }
    };
    let id = extension.manifest().id();
    if !args.direct {
        let conductor = match platform_conductor(&runtime) {
            Ok(conductor) => conductor,
            Err(message) => return unusable(args.json, &message),
        };
        let route = conductor.config().route(&extension.manifest().name).cloned().unwrap_or_default();
        let profile = conductor.config().profile_name(&extension.manifest().name).to_owned();
        let chain = resolve_chain(&runtime, &route.fallback);
        let request = CallRequest::new(input);
        let demand = Some(extension.demand());
        let outcome = conductor
            .call_with_fallback(&profile, &extension, demand, &chain, &route.requires, request)
            .await;
        if args.json {
            println!("{}", conducted_json(&outcome));
        } else {
            print_conducted(&outcome);
        }
        return if outcome.result.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    // `--direct` skips retries and breakers, never a quarantine: out of service is out of service.
    match quarantine_refusal(&runtime, &id) {
        Ok(None) => {}
        Ok(Some(refused)) => {
            let report = CallError::Conductor(refused).report();
            if args.json {
                println!("{}", json!({"status": "error", "error": report, "usage": zero_usage()}));
            } else {
                eprintln!("error: {} ({}/{}, {})", report.message, report.source, report.kind, report.class);
            }
            return ExitCode::FAILURE;
        }
        Err(message) => return unusable(args.json, &message),
    }
    let outcome = extension.call(CallRequest::new(input)).await;
    if args.json {
        println!("{}", outcome_json(&outcome));
    } else {
        print_human(&id, &outcome);
    }
    if outcome.result.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Load each fallback step; a step that cannot be loaded is skipped with a warning, so a broken
/// fallback never breaks the primary path.
/// The conductor every CLI command calls through: the config's profiles and routes, admission
/// by priority, and anomaly detection with its history in the state directory, everything
/// audited. Fails closed: without its health history the platform cannot tell whether an
/// extension is quarantined, so nothing runs.
///
/// # Errors
/// A message when the health store cannot be opened.
pub(crate) fn platform_conductor(runtime: &Runtime) -> Result<Conductor, String> {
    let clock: Arc<dyn symphony_conductor::Clock> = Arc::new(SystemClock::default());
    let pool = ResourcePool::new(runtime.config().reservation, Arc::clone(&clock));
    let store = match runtime.state() {
        Some(state) => {
            Some(Box::new(state.open_health_store().map_err(|e| e.to_string())?) as Box<dyn HistoryStore>)
        }
        None => None,
    };
    let conductor = Conductor::from_config(clock, runtime.config().conductor.clone())
        .with_pool(pool)
        .with_anomaly_detection(runtime.config().anomaly.clone(), store)
        .map_err(|e| e.to_string())?;
    if let Some(state) = runtime.state() {
        symphony_host::audit::audit_health_events(&conductor, state.audit());
    }
    Ok(conductor)
}

/// The refusal for `id` when the health history says it is quarantined.
fn quarantine_refusal(runtime: &Runtime, id: &str) -> Result<Option<ConductorError>, String> {
    let Some(state) = runtime.state() else { return Ok(None) };
    let store = state.open_health_store().map_err(|e| e.to_string())?;
    let monitor = HealthMonitor::with_store(
        runtime.config().anomaly.clone(),
        Arc::new(SystemClock::default()),
        HealthEvents::default(),
        Box::new(store),
    )
    .map_err(|e| e.to_string())?;
    Ok(monitor
        .quarantine_remaining_ms(id)
        .map(|retry_after_ms| ConductorError::Quarantined { extension: id.to_owned(), retry_after_ms }))
}

fn resolve_chain(runtime: &Runtime, steps: &[FallbackStep]) -> Vec<ResolvedStep> {
    let mut chain = Vec::with_capacity(steps.len());
    for step in steps {
        match step {
            FallbackStep::Extension(reference) => match runtime.load(reference) {
                Ok(ext) => {
                    let features = ext.manifest().features.clone();
                    let demand = Some(ext.demand());
                    chain.push(ResolvedStep::Target(FallbackTarget {
                        invoker: Arc::new(ext),
                        features,
                        demand,
                    }));
                }
                Err(e) => eprintln!("warning: fallback `{reference}` skipped: {e}"),
            },
            FallbackStep::Static(value) => match Payload::json(value) {
                Ok(payload) => chain.push(ResolvedStep::Static(payload)),
                Err(e) => eprintln!("warning: static fallback skipped: {e}"),
            },
            FallbackStep::LastGood => chain.push(ResolvedStep::LastGood),
        }
    }
    chain
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "fuel": usage.fuel,
        "memory_peak_bytes": usage.memory_peak_bytes,
        "wall_ms": usage.wall_ms,
        "guest_us": usage.guest_us,
    })
}

/// The one JSON object `--json` prints for a call through the conductor.
fn conducted_json(outcome: &ConductedOutcome) -> Value {
    let mut value = match &outcome.result {
        Ok(output) => json!({"status": "ok", "output": output_value(output)}),
        Err(err) => json!({"status": "error", "error": err.report()}),
    };
    if let (Some(object), Ok(Value::Object(extra))) =
        (value.as_object_mut(), serde_json::to_value(outcome.report()))
    {
        object.extend(extra);
        object.insert("usage".to_owned(), usage_json(&outcome.usage));
        if let Some(log) = &outcome.log {
            object.insert("log".to_owned(), log_json(log));
        }
    }
    value
}

/// The `log` object of `--json`: what was kept and what was lost.
fn log_json(log: &CallLog) -> Value {
    json!({
        "records": log.records,
        "dropped_records": log.dropped_records,
        "dropped_bytes": log.dropped_bytes,
    })
}

fn print_conducted(outcome: &ConductedOutcome) {
    for a in &outcome.attempts {
        let result = a.error_kind.map_or_else(
            || "ok".to_owned(),
            |kind| format!("{}/{kind}", a.error_source.as_deref().unwrap_or("?")),
        );
        println!("  attempt {} on {} after {} ms backoff: {result}", a.attempt, a.extension, a.backoff_ms);
    }
    match &outcome.result {
        Ok(output) => {
            println!("{}: ok", outcome.served_by);
            let value = output_value(output);
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()));
        }
        Err(err) => {
            let r = err.report();
            println!("{}: error {}/{} ({})", outcome.served_by, r.source, r.kind, r.class);
            println!("  {}", r.message);
        }
    }
    let u = &outcome.usage;
    println!(
        "usage: {} fuel units · peak memory {} · {} ms over {} attempts",
        display::count(u.fuel),
        display::bytes(u.memory_peak_bytes),
        u.wall_ms,
        outcome.attempts.len()
    );
}

/// Why the input could not be had.
enum InputError {
    /// Unreadable or not JSON: the command cannot run.
    Unusable(String),
    /// Larger than the extension accepts: refused before it is read.
    TooLarge(HostError),
}

/// The JSON input, from `--input` or `--input-file`, never holding more than `limit_bytes` of
/// it (the extension's `input_bytes`): a file's size is checked before reading, and the read
/// stops past the limit in case the file grows meanwhile.
fn read_input(args: &RunArgs, limit_bytes: u64) -> Result<Payload, InputError> {
    let payload_size = |bytes: usize| JSON_CONTENT_TYPE.len() as u64 + bytes as u64;
    let too_large =
        |size_bytes: u64| InputError::TooLarge(HostError::InputTooLarge { size_bytes, limit_bytes });
    let (text, origin) = match (&args.input, &args.input_file) {
        (Some(text), _) => (text.clone(), "--input".to_owned()),
        (None, Some(path)) => {
            let unreadable =
                |e: std::io::Error| InputError::Unusable(format!("cannot read {}: {e}", path.display()));
            let file = std::fs::File::open(path).map_err(unreadable)?;
            let on_disk = file.metadata().map_err(unreadable)?.len();
            let size = on_disk.saturating_add(JSON_CONTENT_TYPE.len() as u64);
            if size > limit_bytes {
                return Err(too_large(size));
            }
            let mut bytes = Vec::with_capacity(usize::try_from(on_disk).unwrap_or(0));
            file.take(limit_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(unreadable)?;
            if payload_size(bytes.len()) > limit_bytes {
                return Err(too_large(payload_size(bytes.len())));
            }
            let text = String::from_utf8(bytes).map_err(|e| {
                InputError::Unusable(format!(
                    "{}: not UTF-8 text at byte {}",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?;
            (text, path.display().to_string())
        }
        (None, None) => ("{}".to_owned(), String::new()),
    };
    serde_json::from_str::<Value>(&text).map_err(|e| {
        InputError::Unusable(format!(
            "{origin}: not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    Ok(Payload::new(JSON_CONTENT_TYPE, text.into_bytes()))
}

fn unusable(as_json: bool, message: &str) -> ExitCode {
    if as_json {
        println!("{}", json!({"status": "unusable", "message": message}));
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::from(EXIT_UNUSABLE)
}

fn zero_usage() -> Value {
    usage_json(&Usage::default())
}

/// The output payload as JSON: parsed when it is JSON, a string when it is UTF-8, bytes otherwise.
pub(crate) fn output_value(payload: &Payload) -> Value {
    if payload.content_type == JSON_CONTENT_TYPE
        && let Ok(value) = payload.to_json()
    {
        return value;
    }
    match std::str::from_utf8(&payload.bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!(payload.bytes),
    }
}

/// The one JSON object `--json` prints for a call.
pub(crate) fn outcome_json(outcome: &CallOutcome) -> Value {
    let usage = usage_json(&outcome.usage);
    let log = log_json(&outcome.log);
    match &outcome.result {
        Ok(output) => json!({"status": "ok", "output": output_value(output), "usage": usage, "log": log}),
        Err(err) => json!({"status": "error", "error": err.report(), "usage": usage, "log": log}),
    }
}

fn print_human(id: &str, outcome: &CallOutcome) {
    for record in &outcome.log.records {
        let fields: Vec<String> = record.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("  [{:?}] {} {}", record.level, record.message, fields.join(" "));
    }
    if outcome.log.lost_anything() {
        eprintln!(
            "  (log budget {}: {} records and {} dropped)",
            display::bytes(outcome.log.limit_bytes),
            outcome.log.dropped_records,
            display::bytes(outcome.log.dropped_bytes)
        );
    }
    match &outcome.result {
        Ok(output) => {
            println!("{id}: ok");
            let value = output_value(output);
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()));
        }
        Err(err) => {
            let r = err.report();
            println!("{id}: error {}/{} ({})", r.source, r.kind, r.class);
            println!("  {}", r.message);
        }
    }
    let u = &outcome.usage;
    println!(
        "usage: {} fuel units · peak memory {} · {} ms",
        display::count(u.fuel),
        display::bytes(u.memory_peak_bytes),
        u.wall_ms
    );
}
