//! Criterion benchmarks of what isolation costs, on the real sample components (build them
//! first: `cargo run -p symphony-cli -- build`). They run the scenario code of
//! `symphony_bench`, the same code `symphony bench` runs: per call through raw wasmtime,
//! the sandbox and the conductor (`echo`, `text-stats`), 1 vs 2 tokio workers, cold start
//! compiled vs precompiled, and `miner` under each metering mode. The ratios of the published
//! table come from `symphony bench`, which interleaves the variants in one run; criterion adds
//! confidence intervals and change detection. Memory per in-flight call is not a time and is
//! measured by `symphony bench` only.
//!
//! `cargo bench -p symphony-bench` (from the workspace root).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_main};
use symphony_bench::cold_start::ColdStart;
use symphony_bench::metering::{MODES, Metered};
use symphony_bench::per_call::Workload;
use symphony_bench::scaling;
use symphony_bench::subject::{Path, Subject};
use symphony_bench::{bench_config, tokio_runtime};
use symphony_host::PlatformConfig;
use symphony_host::runtime::Runtime;

/// Calls per measured batch in the scaling benchmark.
const SCALING_BATCH_CALLS: usize = 200;
/// Hashes per `miner` call.
const MINER_HASHES: u64 = 20_000;

fn config() -> PlatformConfig {
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sample-extensions");
    bench_config(PlatformConfig::default(), Some(samples))
}

fn or_exit<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| {
        eprintln!("benchmark setup failed: {e} (built the samples? cargo run -p symphony-cli -- build)");
        std::process::exit(2)
    })
}

fn per_call(c: &mut Criterion) {
    let runtime = or_exit(Runtime::new(config())).allow_unpinned();
    let tokio = or_exit(tokio_runtime(0));
    for workload in [Workload::Echo, Workload::TextStats] {
        let subject = or_exit(Subject::load(&runtime, workload.extension()));
        let input = workload.input();
        let mut group = c.benchmark_group(format!("per_call/{}", workload.extension()));
        for path in Path::ALL {
            group.bench_function(path.label(), |b| {
                b.iter_custom(|iters| {
                    tokio.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iters {
                            or_exit(subject.call(path, &input).await);
                        }
                        started.elapsed()
                    })
                });
            });
        }
        group.finish();
    }
}

fn scaling_workers(c: &mut Criterion) {
    let runtime = or_exit(Runtime::new(config())).allow_unpinned();
    let subject = Arc::new(or_exit(Subject::load(&runtime, Workload::Echo.extension())));
    let input = Workload::Echo.input();
    let mut group = c.benchmark_group("scaling/echo_sandbox");
    group.throughput(Throughput::Elements(SCALING_BATCH_CALLS as u64));
    for workers in [1, 2] {
        let tokio = or_exit(tokio_runtime(workers));
        group.bench_function(format!("{workers}_workers"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let calls_per_s =
                        or_exit(scaling::round(&tokio, &subject, Path::Sandbox, &input, SCALING_BATCH_CALLS));
                    total += Duration::from_secs_f64(SCALING_BATCH_CALLS as f64 / calls_per_s);
                }
                total
            });
        });
    }
    group.finish();
}

fn cold_start(c: &mut Criterion) {
    let fixture = or_exit(ColdStart::new(&config()));
    let mut group = c.benchmark_group("cold_start/text-stats");
    group.sample_size(10);
    for (label, from_cache) in [("compiled", false), ("precompiled_cache", true)] {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| or_exit(fixture.first_call(from_cache))).sum());
        });
    }
    group.finish();
}

fn metering(c: &mut Criterion) {
    let metered = or_exit(Metered::miner(&config(), MINER_HASHES));
    let mut group = c.benchmark_group("metering/miner");
    for (mode, (_, label)) in MODES.iter().enumerate() {
        group.bench_function(*label, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| or_exit(metered.call(mode))).sum());
        });
    }
    group.finish();
}

/// The generated group function stays private to this binary.
mod groups {
    use super::{cold_start, metering, per_call, scaling_workers};
    criterion::criterion_group!(benches, per_call, scaling_workers, cold_start, metering);
}

criterion_main!(groups::benches);
