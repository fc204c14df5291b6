//! `symphony demo`: build the samples, then call well-behaved and hostile extensions side by
//! side and show that each hostile one is contained with a typed error while the host keeps
//! serving.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::{EXIT_UNUSABLE, build, display};
use symphony_host::Platform;
use symphony_host::config::PlatformConfig;
use symphony_types::payload::CallRequest;

/// (extension, input, attempt, what the call shows)
fn scenarios() -> Vec<(&'static str, serde_json::Value, u32, &'static str)> {
    vec![
        ("echo", json!({"hello": "symphony"}), 1, "well-behaved"),
        ("text-stats", json!({"text": "the quick brown fox\njumps over the lazy dog\n"}), 1, "real work"),
        ("flaky", json!({"fail_times": 1}), 1, "guest fails, says transient"),
        ("flaky", json!({"fail_times": 1}), 2, "second attempt succeeds"),
        ("infinite-loop", json!({}), 1, "spins forever"),
        ("memory-bomb", json!({}), 1, "allocates forever"),
        ("stack-bomb", json!({}), 1, "recurses forever"),
        ("output-bomb", json!({}), 1, "returns megabytes"),
        ("echo", json!({"still": "serving"}), 1, "host still serving"),
    ]
}

pub(crate) async fn run(config: PlatformConfig, state_dir: &Path) -> ExitCode {
    println!("building sample extensions (first time: about a minute)…");
    if let Err(e) = build::build_all(&config, state_dir, Vec::new(), true) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_UNUSABLE);
    }
    let platform = match Platform::open(config, state_dir) {
        Ok(platform) => platform,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    let runtime = platform.runtime();
    println!();
    println!(
        "{:<14} {:<7} {:<30} {:<36} {:>13} {:>10} {:>7}",
        "extension", "attempt", "scenario", "result", "fuel", "peak mem", "wall ms"
    );
    println!("{}", "─".repeat(123));
    let mut unexpected = 0;
    for (name, input, attempt, what) in scenarios() {
        let extension = match runtime.load(name) {
            Ok(ext) => ext,
            Err(e) => {
                println!("{name:<14} {attempt:<7} {what:<30} cannot load: {e}");
                unexpected += 1;
                continue;
            }
        };
        let request = match CallRequest::json(&input) {
            Ok(r) => r.attempt(attempt),
            Err(e) => {
                println!("{name:<14} bad input: {e}");
                unexpected += 1;
                continue;
            }
        };
        let outcome = extension.call(request).await;
        let result = match &outcome.result {
            Ok(_) => "ok".to_owned(),
            Err(e) => {
                let r = e.report();
                format!("{}/{} ({})", r.source, r.kind, r.class)
            }
        };
        let hostile = name.ends_with("-bomb") || name == "infinite-loop";
        if hostile == outcome.result.is_ok() && name != "flaky" {
            unexpected += 1;
        }
        println!(
            "{:<14} {:<7} {:<30} {:<36} {:>13} {:>10} {:>7}",
            name,
            attempt,
            what,
            result,
            display::count(outcome.usage.fuel),
            display::bytes(outcome.usage.memory_peak_bytes),
            outcome.usage.wall_ms
        );
    }
    unexpected += super::demo_conductor::run(runtime).await;
    unexpected += super::demo_health::run(&platform).await;
    println!();
    if unexpected == 0 {
        println!("every hostile extension was contained with a typed error; the host kept serving.");
        println!(
            "`symphony health` shows the miner's quarantine and its evidence; `symphony audit verify` checks the log."
        );
        ExitCode::SUCCESS
    } else {
        println!("{unexpected} scenarios did not behave as expected");
        ExitCode::FAILURE
    }
}
