//! `symphony demo`: build the samples, then call well-behaved and hostile extensions side by
//! side and show that each hostile one is contained with a typed error while the host keeps
//! serving, then chain extensions in a workflow whose data contracts catch a break. Each table is printed when its rows are in, as wide as they need.
//!
//! Exit codes: 0 when every scenario behaved as shown, 1 when one did not, 2 when the demo
//! could not run (the samples did not build, the platform did not open).

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::table::{Align, Table};
use super::{EXIT_UNUSABLE, build, display};
use symphony_host::Platform;
use symphony_host::config::PlatformConfig;
use symphony_types::error::{CallError, HostError};
use symphony_types::payload::CallRequest;
use symphony_types::usage::Usage;

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

/// The limit a host error says was hit, with the usage that hit it beside it:
/// `fuel 20.0 M / limit 20.0 M`. `None` for an error that is not a limit.
fn limit_hit(error: &HostError, usage: &Usage) -> Option<String> {
    Some(match error {
        HostError::OutOfFuel { limit_fuel } => {
            format!("fuel {} / limit {}", display::short(usage.fuel), display::short(*limit_fuel))
        }
        HostError::DeadlineExceeded { limit_ms } => {
            format!("wall {} ms / limit {limit_ms} ms", usage.wall_ms)
        }
        HostError::MemoryLimit { requested_bytes, limit_bytes } => format!(
            "memory {} asked / limit {}",
            display::bytes(*requested_bytes),
            display::bytes(*limit_bytes)
        ),
        // The engine does not measure stack depth, only that it ran out.
        HostError::StackOverflow { limit_bytes } => {
            format!("stack overflowed / limit {}", display::bytes(*limit_bytes))
        }
        HostError::OutputTooLarge { size_bytes, limit_bytes } => {
            format!("output {} / limit {}", display::bytes(*size_bytes), display::bytes(*limit_bytes))
        }
        HostError::InputTooLarge { size_bytes, limit_bytes } => {
            format!("input {} / limit {}", display::bytes(*size_bytes), display::bytes(*limit_bytes))
        }
        _ => return None,
    })
}

pub(crate) async fn run(mut config: PlatformConfig, state_dir: &Path) -> ExitCode {
    super::demo_durable::grant(&mut config);
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
    let mut table = Table::new(&[
        ("extension", Align::Left),
        ("attempt", Align::Right),
        ("scenario", Align::Left),
        ("result", Align::Left),
        ("fuel", Align::Right),
        ("peak mem", Align::Right),
        ("wall ms", Align::Right),
        ("limit hit: usage / limit", Align::Left),
    ]);
    let mut unexpected = 0;
    for (name, input, attempt, what) in scenarios() {
        let extension = match runtime.load(name) {
            Ok(ext) => ext,
            Err(e) => {
                table.note(format!("{name} ({what}): cannot load: {e}"));
                unexpected += 1;
                continue;
            }
        };
        let request = match CallRequest::json(&input) {
            Ok(r) => r.attempt(attempt),
            Err(e) => {
                table.note(format!("{name} ({what}): bad input: {e}"));
                unexpected += 1;
                continue;
            }
        };
        let outcome = extension.call(request).await;
        let (result, limit) = match &outcome.result {
            Ok(_) => ("ok".to_owned(), "–".to_owned()),
            Err(e) => {
                let r = e.report();
                let limit = match e {
                    CallError::Host(host) => limit_hit(host, &outcome.usage),
                    _ => None,
                };
                (format!("{}/{} ({})", r.source, r.kind, r.class), limit.unwrap_or_else(|| "–".to_owned()))
            }
        };
        let hostile = name.ends_with("-bomb") || name == "infinite-loop";
        if hostile == outcome.result.is_ok() && name != "flaky" {
            unexpected += 1;
        }
        table.row(vec![
            name.to_owned(),
            attempt.to_string(),
            what.to_owned(),
            result,
            display::count(outcome.usage.fuel),
            display::bytes(outcome.usage.memory_peak_bytes),
            outcome.usage.wall_ms.to_string(),
            limit,
        ]);
    }
    table.print();
    unexpected += super::demo_conductor::run(runtime).await;
    unexpected += super::demo_health::run(&platform).await;
    unexpected += super::demo_workflow::run(&platform).await;
    unexpected += super::demo_durable::run(&platform).await;
    println!();
    if unexpected == 0 {
        println!("every hostile extension was contained with a typed error; the host kept serving.");
        println!(
            "`symphony health` shows the miner's quarantine and its evidence; `symphony audit verify` checks the log."
        );
        ExitCode::SUCCESS
    } else {
        println!("{} not behave as expected", display::plural(unexpected, "scenario did", "scenarios did"));
        ExitCode::FAILURE
    }
}
