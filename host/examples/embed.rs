//! Embedding Symphony the way the `symphony` CLI runs it: one [`Platform`] over a state
//! directory (pins checked, compiled cache used, audit log written, health history kept), one
//! call through the conductor (retry, breaker, fallbacks of the extension's route), and the
//! typed result printed as one JSON object.
//!
//! `cargo run -p symphony-host --example embed [EXTENSION] [JSON]` from the workspace root,
//! after `cargo run -p symphony-cli -- build` (which builds and pins the samples).

use symphony_host::{CallError, CallRequest, HostError, Platform, PlatformConfig};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let extension = args.next().unwrap_or_else(|| "echo".to_owned());
    let input: serde_json::Value =
        serde_json::from_str(&args.next().unwrap_or_else(|| r#"{"a":1}"#.to_owned()))?;
    // Breaker changes reach the audit log through a task: build the platform inside a runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let platform = Platform::open(PlatformConfig::load(None)?, ".symphony")?;
        let loaded = platform.load(&extension)?; // manifest path, directory or name; pin checked
        let outcome = platform.call(&loaded, CallRequest::json(&input)?).await;
        let printed = match &outcome.result {
            Ok(output) => serde_json::json!({
                "status": "ok",
                "served_by": outcome.served_by,
                "output": output.to_json()?,
                "fuel": outcome.usage.fuel,
            }),
            Err(CallError::Host(HostError::OutOfFuel { limit_fuel })) => {
                serde_json::json!({"status": "stopped", "limit_fuel": limit_fuel})
            }
            Err(other) => serde_json::json!({"status": "error", "error": other.report()}),
        };
        println!("{printed}");
        platform.flush()?;
        Ok(())
    })
}
