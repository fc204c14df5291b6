//! `extism-peer`: Symphony's sandbox call beside Extism's, on guests with the same logic and the
//! same inputs, in one process. Batches of every scenario are interleaved round by round (in a
//! rotating order), so machine noise lands on all of them alike. Prints median and p99 per
//! scenario with Symphony's figure divided by each Extism mode's; `--json` prints one object.
//!
//! Run it through `tests/extism-peer/run.sh`, which builds the plugins and sample components.

mod report;
mod scenario;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use clap::Parser;
use serde::Serialize;
use symphony_host::{PlatformConfig, Runtime};

use crate::report::{Row, Summary};
use crate::scenario::{Mode, Scenario, SharedLimits};
use crate::workload::Workload;

/// The repository root, for `sample-extensions/`.
const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Symphony vs Extism: per-call latency on the same guests and inputs.
#[derive(Debug, Parser)]
struct Args {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Measured rounds; each runs one batch of every scenario (one warm-up round comes first).
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// Calls per batch.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Directory holding `extism_peer_echo.wasm` and `extism_peer_text_stats.wasm`
    /// [default: $CARGO_TARGET_DIR (or ./target)/wasm32-unknown-unknown/guest].
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// Repository root holding `sample-extensions/` (components built by `symphony build`).
    #[arg(long, default_value = REPO_ROOT)]
    repo: PathBuf,
}

/// Everything `--json` prints.
#[derive(Debug, Serialize)]
struct JsonReport {
    extism_version: String,
    symphony_pooling: bool,
    symphony_epoch_tick_ms: u128,
    cpus: usize,
    cpu_model: String,
    rounds: usize,
    batch: usize,
    limits: Vec<LimitsReport>,
    extism_log_bytes: u64,
    rows: Vec<Row>,
}

/// The limits one workload ran under, on both hosts.
#[derive(Debug, Serialize)]
struct LimitsReport {
    workload: &'static str,
    fuel: u64,
    memory_bytes: u64,
    extism_memory_pages: u32,
    deadline_ms: u64,
}

/// One workload's scenarios and their samples.
struct Bench {
    workload: Workload,
    limits: SharedLimits,
    scenarios: Vec<Scenario>,
    samples: Vec<Vec<u64>>,
    fuel: Vec<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plugins = args.plugins.clone().unwrap_or_else(default_plugin_dir);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;

    // Extism's guests log through `tracing`; capture at info like Symphony captures its guests'
    // logs, so text-stats' log line costs both hosts something.
    let extism_log_bytes = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&extism_log_bytes);
    extism::set_log_callback(
        move |line: &str| {
            counter.fetch_add(line.len() as u64, Ordering::Relaxed);
        },
        "info",
    )?;

    let runtime = Runtime::new(PlatformConfig::default())?.allow_unpinned();
    let mut benches = Vec::new();
    for workload in Workload::all()? {
        benches.push(prepare(&runtime, &rt, workload, &args, &plugins)?);
    }

    // One warm-up round, then the measured ones; the scenario order rotates every round.
    for round in 0..=args.rounds {
        for bench in &mut benches {
            let n = bench.scenarios.len();
            for k in 0..n {
                let i = (k + round) % n;
                let mut discarded = Vec::new();
                let samples = if round == 0 { &mut discarded } else { &mut bench.samples[i] };
                let last = bench.scenarios[i].run_batch(&rt, &bench.workload.input, args.batch, samples)?;
                bench.fuel[i] = last.fuel;
            }
        }
    }

    let mut rows = Vec::new();
    let mut limits = Vec::new();
    for bench in &mut benches {
        let mut summaries = Vec::new();
        for (i, scenario) in bench.scenarios.iter().enumerate() {
            let summary = Summary::of(&mut bench.samples[i]).context("no samples: use --rounds 1 or more")?;
            summaries.push((scenario.mode(), summary, bench.fuel[i]));
        }
        rows.extend(report::rows(bench.workload.name, &summaries));
        limits.push(LimitsReport {
            workload: bench.workload.name,
            fuel: bench.limits.fuel,
            memory_bytes: bench.limits.memory_bytes,
            extism_memory_pages: bench.limits.memory_pages(),
            deadline_ms: bench.limits.deadline_ms,
        });
    }

    let report = JsonReport {
        extism_version: extism::extism_version().trim_end_matches('\0').to_owned(),
        symphony_pooling: runtime.engine().pooling(),
        symphony_epoch_tick_ms: runtime.engine().tick().as_millis(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model: cpu_model(),
        rounds: args.rounds,
        batch: args.batch,
        limits,
        extism_log_bytes: extism_log_bytes.load(Ordering::Relaxed),
        rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Load the Symphony sample, compile the Extism plugin for every mode under the sample's
/// limits, and check that every scenario answers exactly what Symphony answers.
fn prepare(
    runtime: &Runtime,
    rt: &tokio::runtime::Runtime,
    workload: Workload,
    args: &Args,
    plugins: &std::path::Path,
) -> anyhow::Result<Bench> {
    let sample = args.repo.join("sample-extensions").join(workload.sample_dir);
    let extension = runtime
        .load(&sample.to_string_lossy())
        .with_context(|| format!("loading {} (run `symphony build` first)", sample.display()))?;
    let effective = extension.limits().limits;
    let limits = SharedLimits {
        fuel: effective.fuel,
        memory_bytes: effective.memory_bytes,
        deadline_ms: effective.deadline_ms,
    };
    let plugin = plugins.join(workload.plugin_file);
    let mut scenarios = vec![Scenario::Symphony(Box::new(extension))];
    for mode in Mode::ALL.into_iter().filter(|m| *m != Mode::Symphony) {
        scenarios.push(Scenario::extism(mode, &plugin, limits)?);
    }

    let expected = scenarios[0].call_once(rt, &workload.input)?.output;
    if workload.name == "echo" && expected != workload.input {
        anyhow::bail!("Symphony's echo changed its input");
    }
    for scenario in &mut scenarios[1..] {
        let output = scenario.call_once(rt, &workload.input)?.output;
        if output != expected {
            anyhow::bail!(
                "{} {} answered {:?}, Symphony {:?}",
                workload.name,
                scenario.mode().label(),
                String::from_utf8_lossy(&output[..output.len().min(200)]),
                String::from_utf8_lossy(&expected[..expected.len().min(200)])
            );
        }
    }
    let n = scenarios.len();
    Ok(Bench { workload, limits, scenarios, samples: vec![Vec::new(); n], fuel: vec![0; n] })
}

fn print_table(report: &JsonReport) {
    println!(
        "Symphony (pooling {}, epoch tick {} ms) vs Extism {}: {} rounds x {} calls per scenario, \
         interleaved; {} CPUs, {}",
        if report.symphony_pooling { "on" } else { "off" },
        report.symphony_epoch_tick_ms,
        report.extism_version,
        report.rounds,
        report.batch,
        report.cpus,
        report.cpu_model
    );
    for l in &report.limits {
        println!(
            "  {} limits on both hosts: fuel {} units, memory {} bytes ({} wasm pages), deadline {} ms",
            l.workload, l.fuel, l.memory_bytes, l.extism_memory_pages, l.deadline_ms
        );
    }
    println!("  Sym/this: Symphony's time divided by the row's (above 1: Symphony is slower)\n");
    print!("{}", report::table(&report.rows));
}

/// `$CARGO_TARGET_DIR/wasm32-unknown-unknown/guest`, or under this crate's `target/`.
fn default_plugin_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from)
        .join("wasm32-unknown-unknown")
        .join("guest")
}

/// The CPU model from `/proc/cpuinfo`, or `unknown`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
