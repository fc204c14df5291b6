//! Embedding Symphony the way the `symphony` CLI runs it: one [`Platform`] over a state
//! directory (pins checked, compiled cache used, audit log written, health history kept), one
//! call through the conductor (retry, breaker, fallbacks of the extension's route), and the
//! typed result printed as one JSON object. Exits 0 when the call succeeded, 1 when the load was
//! refused (unpinned, tampered) or the call failed.
//!
//! `cargo run -p symphony-host --example embed -- [EXTENSION] [JSON]` from the workspace root,
//! after `cargo run -p symphony-cli -- build` (which builds and pins the samples).

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};
use symphony_host::{CallError, CallRequest, HostError, Platform, PlatformConfig};

fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let extension = args.next().unwrap_or_else(|| "echo".to_owned());
    let input: Value = serde_json::from_str(&args.next().unwrap_or_else(|| r#"{"a":1}"#.to_owned()))?;
    let (served, printed) = call_once(&extension, &input, Path::new(".symphony"))?;
    println!("{printed}");
    Ok(if served { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Load `extension` (a manifest path, a directory or a name) on a platform over `state_dir` and
/// call it once with `input`: whether it served, and the JSON to print.
pub fn call_once(extension: &str, input: &Value, state_dir: &Path) -> anyhow::Result<(bool, Value)> {
    // Breaker changes reach the audit log through a task: build the platform inside a runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let platform = Platform::open(PlatformConfig::load(None)?, state_dir)?;
        // Refused unless pinned in `<state_dir>/pins.toml` (`symphony build` or `symphony pin`).
        let loaded = match platform.load(extension) {
            Ok(loaded) => loaded,
            Err(refused) => {
                platform.flush()?;
                return Ok((false, json!({"status": "refused", "error": CallError::Host(refused).report()})));
            }
        };
        let outcome = platform.call(&loaded, CallRequest::json(input)?).await;
        let printed = match &outcome.result {
            Ok(output) => json!({
                "status": "ok",
                "served_by": outcome.served_by,
                "output": output.to_json()?,
                "fuel": outcome.usage.fuel,
            }),
            Err(CallError::Host(HostError::OutOfFuel { limit_fuel })) => {
                json!({"status": "stopped", "limit_fuel": limit_fuel})
            }
            Err(other) => json!({"status": "error", "error": other.report()}),
        };
        platform.flush()?; // health history and audit reach the state directory
        Ok((outcome.result.is_ok(), printed))
    })
}
