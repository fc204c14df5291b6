//! Scaling: `echo` calls per second (by each path: raw, sandbox, conductor) with 1 thread vs 2:
//! for the raw path the caller's tokio workers, for the sandbox and the conductor the guest
//! executor's threads (`engine.guest_threads`, where Symphony runs guests) with as many caller
//! workers. The two set-ups are measured in alternating rounds. Each round keeps [`TASKS`]
//! callers busy until the round's calls are done; throughput is calls over the round's wall
//! time. Target: 2 threads ≥ 1.8× 1 thread (on a machine with at least two idle cores).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::per_call::Workload;
use super::stats::median;
use super::subject::{Path, Subject};
use super::{BenchError, BenchOptions, Row, Scenario, Target, ratio, tokio_runtime};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_types::payload::Payload;

/// Concurrent callers per round: well under the instance pool and the reservation budget, so
/// neither queues.
pub const TASKS: usize = 16;
/// Target: 2-worker throughput over 1-worker throughput.
pub const TARGET_SPEEDUP: f64 = 1.8;
/// Worker counts compared, baseline first.
const WORKERS: [usize; 2] = [1, 2];

/// Calls per second of one round: `calls` calls by `path` shared among [`TASKS`] tasks.
///
/// # Errors
/// [`BenchError`] when a call fails.
pub fn round(
    runtime: &tokio::runtime::Runtime,
    subject: &Arc<Subject>,
    path: Path,
    input: &Payload,
    calls: usize,
) -> Result<f64, BenchError> {
    let remaining = Arc::new(AtomicUsize::new(calls));
    let started = Instant::now();
    let result: Result<(), BenchError> = runtime.block_on(async {
        let mut tasks = Vec::with_capacity(TASKS);
        for _ in 0..TASKS {
            let (subject, input, remaining) = (Arc::clone(subject), input.clone(), Arc::clone(&remaining));
            tasks.push(tokio::spawn(async move {
                while remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    subject.call(path, &input).await?;
                }
                Ok::<(), BenchError>(())
            }));
        }
        for task in tasks {
            task.await.map_err(|e| BenchError::Io { what: "bench task".into(), source: e.into() })??;
        }
        Ok(())
    });
    result?;
    Ok(calls as f64 / started.elapsed().as_secs_f64())
}

/// Run the scenario: for the sandbox and the conductor path, throughput with 1 and 2 workers.
///
/// # Errors
/// [`BenchError`] when a runtime, the extension or a call fails.
pub fn run(config: &PlatformConfig, options: BenchOptions) -> Result<Vec<Row>, BenchError> {
    // One engine per thread count: guests run on the engine's own executor.
    let mut engines = Vec::with_capacity(WORKERS.len());
    let mut subjects = Vec::with_capacity(WORKERS.len());
    for workers in WORKERS {
        let mut threaded = config.clone();
        threaded.engine.guest_threads = workers;
        let engine = Runtime::new(threaded)?.allow_unpinned();
        subjects.push(Arc::new(Subject::load(&engine, Workload::Echo.extension())?));
        engines.push(engine);
    }
    let input = Workload::Echo.input();
    let runtimes = [tokio_runtime(WORKERS[0])?, tokio_runtime(WORKERS[1])?];
    let rounds = options.pick(7, 15);
    let calls = options.pick(4_000, 10_000);
    let mut rows = Vec::new();
    for path in Path::ALL {
        for (rt, subject) in runtimes.iter().zip(&subjects) {
            round(rt, subject, path, &input, calls / 4)?;
        }
        let mut throughput: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for r in 0..rounds {
            for offset in 0..2 {
                let i = (r + offset) % 2;
                throughput[i].push(round(&runtimes[i], &subjects[i], path, &input, calls)?);
            }
        }
        let base = median(&throughput[0]);
        for (i, workers) in WORKERS.iter().enumerate() {
            let mut row = Row::new(
                Scenario::Scaling,
                format!("{} echo, {workers} thread{}", path.label(), if *workers == 1 { "" } else { "s" }),
                "calls/s",
                median(&throughput[i]),
            );
            row.samples = throughput[i].len();
            row.ratio = ratio(row.median, base);
            row.baseline = Some(format!("{} echo, 1 thread", path.label()));
            if i == 1 {
                row.target = Some(Target::at_least("ratio", TARGET_SPEEDUP, row.ratio.unwrap_or(0.0)));
            }
            row.note = Some(format!("{TASKS} concurrent callers, {calls} calls per round"));
            rows.push(row);
        }
    }
    Ok(rows)
}
