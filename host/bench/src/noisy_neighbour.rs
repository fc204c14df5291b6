//! Noisy neighbour: what hostile guests do to everybody else. A caller paced by a 1 ms timer
//! calls `echo` through the sandbox, alone and then while four hostile guests run in a loop
//! beside it on the same runtime: one spinning until its deadline (`infinite-loop` with fuel to
//! spare and a 500 ms deadline), one burning its fuel (`miner`), one allocating until refused
//! (`memory-bomb`) and one parked on a timer (`sleeper`). The two phases run in one process on
//! one engine, alternating rounds, so the ratio compares like with like.
//!
//! Reported: the paced loop's p50/p99 per iteration (timer wait plus call, what a platform's
//! own timers and requests see), its ratio loaded/alone (target: p99 ≤ 2×), and how far the
//! spinning guest's calls overshoot their 500 ms deadline under that load (target: at most two
//! epoch ticks plus the sandbox's timeout grace).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::per_call::Workload;
use super::stats::Samples;
use super::{BenchError, BenchOptions, Row, Scenario, Target, ratio, tokio_runtime};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_host::sandbox::LoadedExtension;
use symphony_types::config_file::ConfigFileError;
use symphony_types::error::{CallError, HostError};
use symphony_types::payload::{CallRequest, Payload};

/// Pause between the paced caller's calls.
pub const PACING: Duration = Duration::from_millis(1);
/// The spinning guest's deadline, in milliseconds.
pub const SPIN_DEADLINE_MS: u64 = 500;
/// Target: loaded p99 over alone p99.
pub const TARGET_P99_RATIO: f64 = 2.0;
/// Caller threads: a small service's runtime.
const CALLER_WORKERS: usize = 2;
/// Wall time granted past a deadline before the sandbox's timeout drops the call, in
/// milliseconds (the sandbox's `TIMEOUT_GRACE`).
const TIMEOUT_GRACE_MS: f64 = 50.0;

/// The four hostile guests and their inputs.
fn hostile_inputs() -> [(&'static str, serde_json::Value); 4] {
    [
        ("infinite-loop", serde_json::json!({})),
        ("miner", serde_json::json!({})),
        ("memory-bomb", serde_json::json!({})),
        ("sleeper", serde_json::json!({"ms": 200})),
    ]
}

fn load(runtime: &Runtime, name: &str) -> Result<Arc<LoadedExtension>, BenchError> {
    let mut manifest = runtime.find(name).map_err(|e| {
        let file_error = ConfigFileError::whole_file(std::path::Path::new(name), e.to_string());
        BenchError::load(name, HostError::ManifestInvalid(file_error))
    })?;
    if name == "infinite-loop" {
        // Fuel to spare, so the deadline (not fuel) stops it: the overshoot is measured.
        manifest.limits.fuel = Some(symphony_types::limits::DEFAULT_CEILINGS.fuel);
        manifest.limits.deadline_ms = Some(SPIN_DEADLINE_MS);
    }
    runtime.load_manifest(manifest).map(Arc::new).map_err(|source| BenchError::load(name, source))
}

/// One paced round: `calls` iterations of wait-then-call, each iteration timed.
async fn paced(
    echo: &LoadedExtension,
    input: &Payload,
    calls: usize,
    samples: &mut Samples,
) -> Result<(), BenchError> {
    for _ in 0..calls {
        let started = Instant::now();
        tokio::time::sleep(PACING).await;
        let outcome = echo.call(CallRequest::new(input.clone())).await;
        if let Err(e) = outcome.result {
            return Err(BenchError::CallFailed {
                extension: echo.id().to_owned(),
                path: "sandbox",
                message: e.to_string(),
            });
        }
        samples.push(started.elapsed());
    }
    Ok(())
}

/// Run the scenario.
///
/// # Errors
/// [`BenchError`] when a runtime, a sample or an echo call fails.
pub fn run(config: &PlatformConfig, options: BenchOptions) -> Result<Vec<Row>, BenchError> {
    let runtime = Runtime::new(config.clone())?.allow_unpinned();
    let echo = load(&runtime, Workload::Echo.extension())?;
    let hostile: Vec<(Arc<LoadedExtension>, Payload)> = hostile_inputs()
        .into_iter()
        .map(|(name, input)| {
            let payload = Payload::json(&input).map_err(|e| BenchError::CallFailed {
                extension: name.to_owned(),
                path: "input",
                message: e.to_string(),
            })?;
            Ok((load(&runtime, name)?, payload))
        })
        .collect::<Result<_, BenchError>>()?;
    let input = Workload::Echo.input();
    let rounds = options.pick(3, 6);
    let calls = options.pick(300, 1_000);
    let callers = tokio_runtime(CALLER_WORKERS)?;
    let mut alone = Samples::with_capacity(rounds * calls);
    let mut loaded = Samples::with_capacity(rounds * calls);
    let mut overshoot_ms: Vec<f64> = Vec::new();
    callers.block_on(async {
        // Warm up the pool and the caches.
        paced(&echo, &input, calls / 4, &mut Samples::with_capacity(calls)).await?;
        for _ in 0..rounds {
            paced(&echo, &input, calls, &mut alone).await?;
            let stop = Arc::new(AtomicBool::new(false));
            let mut neighbours = Vec::new();
            for (extension, payload) in &hostile {
                let (extension, payload, stop) = (Arc::clone(extension), payload.clone(), Arc::clone(&stop));
                neighbours.push(tokio::spawn(async move {
                    let mut overshoots = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let outcome = extension.call(CallRequest::new(payload.clone())).await;
                        if matches!(outcome.result, Err(CallError::Host(HostError::DeadlineExceeded { .. })))
                        {
                            let wall = started.elapsed().as_secs_f64() * 1_000.0;
                            overshoots.push(wall - SPIN_DEADLINE_MS as f64);
                        }
                    }
                    overshoots
                }));
            }
            // Let every neighbour get going before measuring.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let measured = paced(&echo, &input, calls, &mut loaded).await;
            stop.store(true, Ordering::Relaxed);
            for neighbour in neighbours {
                if let Ok(overshoots) = neighbour.await {
                    overshoot_ms.extend(overshoots);
                }
            }
            measured?;
        }
        Ok::<(), BenchError>(())
    })?;
    let tick_ms = runtime.engine().tick().as_secs_f64() * 1_000.0;
    let (alone, loaded) = (alone.summary(), loaded.summary());
    let us = |ns: f64| ns / 1_000.0;
    let mut rows = Vec::new();
    let mut row = Row::new(Scenario::NoisyNeighbour, "paced echo, alone", "us", us(alone.median_ns));
    row.p99 = Some(us(alone.p99_ns));
    row.samples = alone.count;
    row.ratio = Some(1.0);
    row.baseline = Some("paced echo, alone".to_owned());
    row.note = Some(format!("{} ms timer wait + one sandbox call per iteration", PACING.as_millis()));
    rows.push(row);
    let mut row = Row::new(
        Scenario::NoisyNeighbour,
        "paced echo, 4 hostile guests beside it",
        "us",
        us(loaded.median_ns),
    );
    row.p99 = Some(us(loaded.p99_ns));
    row.samples = loaded.count;
    let p99_ratio = ratio(loaded.p99_ns, alone.p99_ns);
    row.ratio = p99_ratio;
    row.baseline = Some("paced echo, alone (ratio of p99s)".to_owned());
    row.target = Some(Target::at_most("ratio", TARGET_P99_RATIO, p99_ratio.unwrap_or(f64::MAX)));
    row.note = Some(format!(
        "infinite-loop, miner, memory-bomb, sleeper in a loop; {} guest threads, {CALLER_WORKERS} caller threads",
        runtime.engine().guest_threads()
    ));
    rows.push(row);
    overshoot_ms.sort_by(f64::total_cmp);
    let worst = overshoot_ms.last().copied().unwrap_or(0.0);
    let median = overshoot_ms.get(overshoot_ms.len() / 2).copied().unwrap_or(0.0);
    let bound = 2.0 * tick_ms + TIMEOUT_GRACE_MS;
    let mut row = Row::new(Scenario::NoisyNeighbour, "deadline overshoot under that load", "ms", median);
    row.p99 = Some(worst);
    row.samples = overshoot_ms.len();
    row.target = Some(Target::at_most("p99", bound, worst));
    row.note = Some(format!(
        "{SPIN_DEADLINE_MS} ms deadline; p99 column is the worst; bound = 2 epoch ticks ({tick_ms} ms) + {TIMEOUT_GRACE_MS} ms grace"
    ));
    rows.push(row);
    Ok(rows)
}
