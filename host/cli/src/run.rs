//! `symphony run EXT [--input JSON | --input-file F] [--json] [--direct]`: one call through
//! the conductor (retry within budget inside the extension's circuit breaker), or with
//! `--direct` one attempt in a fresh sandbox.
//!
//! `--json` prints exactly one object: `{"status":"ok","output":…,"usage":{…}}` or
//! `{"status":"error","error":{"source","kind","class","message"},"usage":{…}}`, or when the
//! command could not run `{"status":"unusable","message":…}`.
//!
//! Exit codes: 0 when the call answered, 1 when it ended in a typed error (the guest's, the
//! host's or the conductor's, including a component that cannot load or an input over its
//! limit), 2 when the command could not run (no such extension, a bad manifest, input that is
//! unreadable or not JSON, an unusable state directory).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::served::{DegradedSource, served_by};
use super::{EXIT_UNUSABLE, display};
use symphony_conductor::ConductedOutcome;
use symphony_host::Platform;
use symphony_host::config::PlatformConfig;
use symphony_host::sandbox::CallOutcome;
use symphony_types::call_log::CallLog;
use symphony_types::error::{CallError, HostError};
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
    let platform = match Platform::open(config, state_dir) {
        Ok(platform) => platform,
        Err(e) => return unusable(args.json, &e.to_string()),
    };
    let extension = match platform.load(&args.extension) {
        Ok(ext) => ext,
        Err(e) => {
            // A bad or missing manifest means the command could not run (exit 2); a component
            // that cannot load is still a typed host error for the caller (exit 1).
            let code = if matches!(e, HostError::ManifestInvalid(_) | HostError::ExtensionNotFound { .. }) {
                ExitCode::from(EXIT_UNUSABLE)
            } else {
                ExitCode::FAILURE
            };
            print_refusal(args.json, &CallError::Host(e));
            return code;
        }
    };
    let input = match read_input(&args, extension.limits().limits.input_bytes) {
        Ok(input) => input,
        Err(InputError::Unusable(message)) => return unusable(args.json, &message),
        Err(InputError::TooLarge(too_large)) => {
            // Refused before reading: the same typed error the sandbox gives an oversized input.
            print_refusal(args.json, &CallError::Host(too_large));
            return ExitCode::FAILURE;
        }
    };
    let id = extension.manifest().id();
    let ok = if args.direct {
        // `--direct` skips retries and breakers, never a quarantine: out of service is out of
        // service.
        if let Some(refused) = platform.quarantine_refusal(&id) {
            print_refusal(args.json, &CallError::Conductor(refused));
            return ExitCode::FAILURE;
        }
        let outcome = extension.call(CallRequest::new(input)).await;
        if args.json {
            println!("{}", outcome_json(&outcome));
        } else {
            print_human(&id, &outcome);
        }
        outcome.result.is_ok()
    } else {
        let outcome = platform.call(&extension, CallRequest::new(input)).await;
        if args.json {
            println!("{}", conducted_json(&outcome));
        } else {
            print_conducted(&outcome);
        }
        outcome.result.is_ok()
    };
    if let Err(e) = platform.flush() {
        eprintln!("warning: {e}");
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// A call refused before it ran: the typed error and zero usage.
fn print_refusal(as_json: bool, error: &CallError) {
    let report = error.report();
    if as_json {
        println!("{}", json!({"status": "error", "error": report, "usage": zero_usage()}));
    } else {
        eprintln!("error: {} ({}/{}, {})", report.message, report.source, report.kind, report.class);
    }
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
pub(crate) fn conducted_json(outcome: &ConductedOutcome) -> Value {
    let mut value = match &outcome.result {
        Ok(output) => json!({"status": "ok", "output": output_value(output)}),
        Err(err) => json!({"status": "error", "error": err.report()}),
    };
    if let Some(object) = value.as_object_mut() {
        object.insert("served_by".to_owned(), json!(outcome.served_by));
        object.insert("attempts".to_owned(), json!(outcome.attempts));
        object.insert("fallback".to_owned(), json!(outcome.fallback));
        object.insert("degraded".to_owned(), json!(outcome.degraded));
        if let Some(error) = &outcome.last_attempt_error {
            object.insert("last_attempt_error".to_owned(), json!(error.report()));
        }
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
            |kind| a.error_source.map_or_else(|| kind.to_owned(), |source| format!("{source}/{kind}")),
        );
        println!("  attempt {} on {} after {} ms backoff: {result}", a.attempt, a.extension, a.backoff_ms);
    }
    // Who answered, read from served_by / fallback / degraded: a static answer is not the
    // extension's.
    let who = served_by(outcome, DegradedSource::StaticOrLastGood);
    match &outcome.result {
        Ok(output) => {
            println!("{who}: ok");
            let value = output_value(output);
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()));
        }
        Err(err) => {
            let r = err.report();
            println!("{who}: error {}/{} ({})", r.source, r.kind, r.class);
            println!("  {}", r.message);
        }
    }
    let u = &outcome.usage;
    println!(
        "usage: {} · peak memory {} · {} ms over {}",
        display::plural(u.fuel, "fuel unit", "fuel units"),
        display::bytes(u.memory_peak_bytes),
        u.wall_ms,
        display::plural(outcome.attempts.len(), "attempt", "attempts")
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
            "  (log budget {}: {} and {} dropped)",
            display::bytes(outcome.log.limit_bytes),
            display::plural(outcome.log.dropped_records, "record", "records"),
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
        "usage: {} · peak memory {} · {} ms",
        display::plural(u.fuel, "fuel unit", "fuel units"),
        display::bytes(u.memory_peak_bytes),
        u.wall_ms
    );
}
