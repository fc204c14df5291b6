//! Benchmarks: what isolation costs, measured side by side in one run and reported as ratios to
//! a baseline, with absolute medians and tails beside them.
//!
//! The scenarios live here, in the library, so `symphony bench` and the criterion benches in
//! `host/benches/` run the same code. Each scenario file owns one measurement: [`per_call`]
//! (raw wasmtime vs sandbox vs conductor on `echo` and `text-stats`), [`scaling`] (1 vs 2
//! tokio workers), [`in_flight`] (peak RSS per idle in-flight call), [`cold_start`] (compile vs
//! precompiled cache), [`metering`] (fuel and epochs on and off), [`phases`] (where one
//! call's time goes), [`noisy_neighbour`] (a paced caller beside hostile guests),
//! [`workflow_chain`] (a three-step workflow vs the same three calls by hand) and
//! [`workflow_in_flight`] (peak RSS per idle in-flight workflow run), [`serve_overhead`] (a
//! call through a real `symphony serve` vs in process) and [`serve_tenants`] (one tenant
//! beside another flooding at its quota; the server is [`serve_child`]). The raw baseline is
//! [`raw`], the three call paths [`subject`], the statistics [`stats`], the peak resident set
//! [`peak_rss`], the workflows defined inline [`embedded_workflow`]. Timings assert nothing:
//! tests check behaviour in fuel units and bytes, benchmarks measure time.

pub mod cold_start;
pub mod embedded_workflow;
pub mod in_flight;
pub mod metering;
pub mod noisy_neighbour;
pub mod peak_rss;
pub mod per_call;
pub mod phases;
pub mod raw;
pub mod scaling;
pub mod serve_child;
pub mod serve_overhead;
pub mod serve_tenants;
pub mod stats;
pub mod subject;
pub mod workflow_chain;
pub mod workflow_in_flight;
pub mod workflow_journal;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use symphony_host::config::PlatformConfig;
use symphony_host::engine::EngineError;
use symphony_types::error::HostError;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A sample extension could not be loaded (built? `symphony build`).
    #[error("cannot load `{extension}`: {source}")]
    Load {
        /// The extension asked for.
        extension: String,
        /// Why.
        source: Box<HostError>,
    },
    /// A measured call did not succeed.
    #[error("{path} call of {extension} failed: {message}")]
    CallFailed {
        /// `name@version`.
        extension: String,
        /// Which path.
        path: &'static str,
        /// The error.
        message: String,
    },
    /// The raw wasmtime baseline failed at one step.
    #[error("raw wasmtime baseline: {step}: {reason}")]
    Raw {
        /// The step.
        step: &'static str,
        /// wasmtime's explanation.
        reason: String,
    },
    /// A file, directory, thread or runtime could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The state directory for the precompiled cache could not be set up.
    #[error("state directory: {0}")]
    State(String),
    /// The service under measurement (a `symphony serve` child) could not start or answer.
    #[error("symphony serve: {reason}")]
    Serve {
        /// Why.
        reason: String,
    },
    /// A service scenario was asked of [`run_scenario`], which has no `symphony` binary to
    /// serve with (see [`run_serve_scenario`]).
    #[error("`{0}` needs the `symphony` binary: run it with `symphony bench`")]
    NeedsServer(&'static str),
    /// An in-flight measurement was asked of a scenario that holds nothing in flight.
    #[error("`{0}` is not an in-flight scenario")]
    NotInFlight(&'static str),
    /// A benchmark's workflow (or the platform it runs on) could not be set up.
    #[error("workflow `{workflow}`: {reason}")]
    Workflow {
        /// The workflow.
        workflow: String,
        /// Why.
        reason: String,
    },
}

impl BenchError {
    /// `extension` could not be loaded.
    #[must_use]
    pub fn load(extension: &str, source: HostError) -> Self {
        Self::Load { extension: extension.to_owned(), source: Box::new(source) }
    }
}

/// How long to measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BenchOptions {
    /// Fewer samples: the whole quick run stays well under two minutes on two cores.
    pub quick: bool,
    /// Override the number of samples per variant of the per-call scenarios.
    pub calls: Option<usize>,
}

impl BenchOptions {
    /// `quick` value if quick, else `full`.
    #[must_use]
    pub fn pick(&self, quick: usize, full: usize) -> usize {
        if self.quick { quick } else { full }
    }
}

/// The scenarios, in report order (named in kebab-case in JSON and on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `echo`, ~100-byte payload: raw vs sandbox vs conductor.
    PerCallEcho,
    /// `text-stats` on ~64 KiB of text: raw vs sandbox vs conductor.
    PerCallTextStats,
    /// Calls per second with 1 vs 2 tokio workers.
    Scaling,
    /// Peak RSS per idle in-flight conductor call, 1,000 and 10,000 at once.
    InFlightMemory,
    /// First call compiled from `.wasm` vs loaded from the precompiled cache.
    ColdStart,
    /// A CPU-bound guest with fuel + epochs, epochs only, and neither.
    Metering,
    /// The raw call split into phases, and Symphony's store data beside them.
    Phases,
    /// A timer-paced `echo` caller alone vs beside four hostile guests, and deadline overshoot.
    NoisyNeighbour,
    /// Three-step chains (`echo` ×3, `extract → summarize → format-report`): direct calls vs
    /// a prepared workflow run.
    WorkflowChain,
    /// Peak RSS per idle in-flight workflow run (one `sleeper` step), 1,000 and 10,000 at once.
    WorkflowInFlight,
    /// A three-step chain without a journal vs with fsync'd checkpoints, and one checkpoint.
    WorkflowJournal,
    /// `echo` through a real `symphony serve` over loopback HTTP vs the in-process call.
    ServeOverhead,
    /// One tenant's steady `echo` calls alone vs beside another tenant flooding hostile guests
    /// at its quota, through one real `symphony serve`.
    ServeTenants,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 13] = [
        Scenario::PerCallEcho,
        Scenario::PerCallTextStats,
        Scenario::Scaling,
        Scenario::InFlightMemory,
        Scenario::ColdStart,
        Scenario::Metering,
        Scenario::Phases,
        Scenario::NoisyNeighbour,
        Scenario::WorkflowChain,
        Scenario::WorkflowInFlight,
        Scenario::WorkflowJournal,
        Scenario::ServeOverhead,
        Scenario::ServeTenants,
    ];

    /// Name in reports and on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Scenario::PerCallEcho => "per-call-echo",
            Scenario::PerCallTextStats => "per-call-text-stats",
            Scenario::Scaling => "scaling",
            Scenario::InFlightMemory => "in-flight-memory",
            Scenario::ColdStart => "cold-start",
            Scenario::Metering => "metering",
            Scenario::Phases => "phases",
            Scenario::NoisyNeighbour => "noisy-neighbour",
            Scenario::WorkflowChain => "workflow-chain",
            Scenario::WorkflowInFlight => "workflow-in-flight",
            Scenario::WorkflowJournal => "workflow-journal",
            Scenario::ServeOverhead => "serve-overhead",
            Scenario::ServeTenants => "serve-tenants",
        }
    }

    /// Whether `symphony bench` measures it in fresh child processes, one per count of
    /// [`in_flight::IN_FLIGHT_COUNTS`] (see [`measure_in_flight`]).
    #[must_use]
    pub fn in_child(self) -> bool {
        matches!(self, Scenario::InFlightMemory | Scenario::WorkflowInFlight)
    }

    /// Whether it measures a `symphony serve` child (see [`run_serve_scenario`]).
    #[must_use]
    pub fn needs_server(self) -> bool {
        matches!(self, Scenario::ServeOverhead | Scenario::ServeTenants)
    }
}

/// A bound a row is reported against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Target {
    /// `ratio` or `median`: which figure the bound applies to.
    pub on: &'static str,
    /// `<=` or `>=`.
    pub bound: &'static str,
    /// The bound.
    pub value: f64,
    /// Whether this run met it.
    pub met: bool,
}

impl Target {
    /// The figure must be at most `value`.
    #[must_use]
    pub fn at_most(on: &'static str, value: f64, actual: f64) -> Self {
        Self { on, bound: "<=", value, met: actual <= value }
    }

    /// The figure must be at least `value`.
    #[must_use]
    pub fn at_least(on: &'static str, value: f64, actual: f64) -> Self {
        Self { on, bound: ">=", value, met: actual >= value }
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Which scenario.
    pub scenario: Scenario,
    /// Which variant of it (`raw wasmtime`, `sandbox`, `2 workers`, …).
    pub variant: String,
    /// Unit of `median` and `p99`: `us`, `ms`, `calls/s` or `KiB/call`.
    pub unit: &'static str,
    /// Median over the samples.
    pub median: f64,
    /// 99th percentile, where samples are individual calls.
    pub p99: Option<f64>,
    /// `median / baseline median` (throughput: `median / baseline`, so higher is better).
    pub ratio: Option<f64>,
    /// The variant the ratio is to.
    pub baseline: Option<String>,
    /// The target this row is reported against.
    pub target: Option<Target>,
    /// Samples behind the median.
    pub samples: usize,
    /// What else a reader needs (configuration, caveats).
    pub note: Option<String>,
}

impl Row {
    /// A row without ratio, target or note.
    #[must_use]
    pub fn new(scenario: Scenario, variant: impl Into<String>, unit: &'static str, median: f64) -> Self {
        Self {
            scenario,
            variant: variant.into(),
            unit,
            median,
            p99: None,
            ratio: None,
            baseline: None,
            target: None,
            samples: 0,
            note: None,
        }
    }
}

/// The machine a run happened on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// CPU model from `/proc/cpuinfo` (`unknown` elsewhere).
    pub cpu_model: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Seconds since the Unix epoch when the report was made.
    pub unix_time_s: u64,
}

impl Machine {
    /// Describe this machine.
    #[must_use]
    pub fn detect() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let unix_time_s =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self { cpu_model, cores, unix_time_s }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// Whether it was a quick run.
    pub quick: bool,
    /// Every row, in scenario order.
    pub rows: Vec<Row>,
}

/// The platform configuration the benchmarks load samples with: `base` seeing the samples in
/// `samples_dir`, with the clocks the `sleeper` sample needs to wait granted to it alone.
#[must_use]
pub fn bench_config(mut base: PlatformConfig, samples_dir: Option<PathBuf>) -> PlatformConfig {
    if let Some(dir) = samples_dir {
        base.extension_dirs = vec![dir];
    }
    base.capabilities.rules.push(symphony_types::capability::CapabilityRule {
        extensions: vec![in_flight::SLEEPER.to_owned()],
        clocks: true,
        ..symphony_types::capability::CapabilityRule::default()
    });
    base
}

/// Run one scenario in this process (the in-flight memory scenarios included: `symphony bench`
/// runs those in child processes of their own so earlier scenarios cannot raise their peak).
///
/// # Errors
/// [`BenchError`] when a runtime, an extension or a measured call fails.
pub fn run_scenario(
    config: &PlatformConfig,
    scenario: Scenario,
    options: BenchOptions,
) -> Result<Vec<Row>, BenchError> {
    match scenario {
        Scenario::PerCallEcho => per_call::run(config, per_call::Workload::Echo, options),
        Scenario::PerCallTextStats => per_call::run(config, per_call::Workload::TextStats, options),
        Scenario::Scaling => scaling::run(config, options),
        Scenario::InFlightMemory | Scenario::WorkflowInFlight => {
            let mut rows = Vec::new();
            for n in in_flight::IN_FLIGHT_COUNTS {
                rows.push(measure_in_flight(config, scenario, n, options)?.row());
            }
            Ok(rows)
        }
        Scenario::ColdStart => cold_start::run(config, options),
        Scenario::Metering => metering::run(config, options),
        Scenario::Phases => phases::run(config, options),
        Scenario::NoisyNeighbour => noisy_neighbour::run(config, options),
        Scenario::WorkflowChain => workflow_chain::run(config, options),
        Scenario::WorkflowJournal => workflow_journal::run(config, options),
        Scenario::ServeOverhead | Scenario::ServeTenants => Err(BenchError::NeedsServer(scenario.name())),
    }
}

/// Run a service scenario against `symphony serve` children of `exe` (the `symphony` binary),
/// their state directories trusting the pins of `pins_from`.
///
/// # Errors
/// [`BenchError`] when the server or a measured call fails; [`BenchError::NeedsServer`] is
/// never returned, and any other scenario runs as [`run_scenario`] would.
pub fn run_serve_scenario(
    config: &PlatformConfig,
    scenario: Scenario,
    exe: &std::path::Path,
    pins_from: &std::path::Path,
    options: BenchOptions,
) -> Result<Vec<Row>, BenchError> {
    match scenario {
        Scenario::ServeOverhead => serve_overhead::run(config, exe, pins_from, options),
        Scenario::ServeTenants => serve_tenants::run(config, exe, pins_from, options),
        other => run_scenario(config, other, options),
    }
}

/// One in-flight memory measurement of `count` held at once: calls for
/// [`Scenario::InFlightMemory`], workflow runs for [`Scenario::WorkflowInFlight`] (what a
/// child process of `symphony bench` runs).
///
/// # Errors
/// [`BenchError`] when the measurement fails; [`BenchError::NotInFlight`] for any other
/// scenario.
pub fn measure_in_flight(
    config: &PlatformConfig,
    scenario: Scenario,
    count: usize,
    options: BenchOptions,
) -> Result<in_flight::InFlight, BenchError> {
    match scenario {
        Scenario::InFlightMemory => in_flight::measure(config, count, options),
        Scenario::WorkflowInFlight => workflow_in_flight::measure(config, count, options),
        other => Err(BenchError::NotInFlight(other.name())),
    }
}

/// A tokio runtime for measuring: `workers` worker threads (0: the current thread only).
///
/// # Errors
/// [`BenchError::Io`] when the runtime cannot start.
pub fn tokio_runtime(workers: usize) -> Result<tokio::runtime::Runtime, BenchError> {
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder.enable_all().build().map_err(|source| BenchError::Io { what: "tokio runtime".into(), source })
}

/// `median / baseline`, `None` when the baseline is zero.
#[must_use]
pub fn ratio(median: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0).then(|| median / baseline)
}
