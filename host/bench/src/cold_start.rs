//! Cold start: load an extension (`text-stats`) and make its first call, with the component compiled from its
//! `.wasm` (a runtime without a state directory) vs deserialised from the precompiled cache (a
//! runtime whose state directory already holds the checked, compiled artifact; the pin check
//! and the audit record of the load are part of that path). Both runtimes are built before
//! timing starts and are configured alike, so the cache entry fits both; the rounds alternate.
//! Target: precompiled ≥ 20× faster, i.e. a ratio ≤ 0.05.

use std::time::{Duration, Instant};

use super::stats::Samples;
use super::{BenchError, BenchOptions, Row, Scenario, Target, ratio, tokio_runtime};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_host::state::StateDir;
use symphony_types::payload::{CallRequest, Payload};

/// Target: cached cold start over compiled cold start (1 / 20).
pub const TARGET_CACHED_RATIO: f64 = 0.05;

/// The two runtimes a cold start is measured on, and the state directory holding the cache.
pub struct ColdStart {
    compiling: Runtime,
    cached: Runtime,
    input: Payload,
    tokio: tokio::runtime::Runtime,
    _state_dir: tempfile::TempDir,
}

impl std::fmt::Debug for ColdStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdStart").finish_non_exhaustive()
    }
}

/// The extension measured: the largest of the timed samples.
pub const EXTENSION: &str = "text-stats";

impl ColdStart {
    /// Build both runtimes, pin the component in a fresh state directory and fill its cache.
    ///
    /// # Errors
    /// [`BenchError`] when a runtime, the state directory or the load fails.
    pub fn new(config: &PlatformConfig) -> Result<Self, BenchError> {
        let name = EXTENSION;
        let input = Payload::json(&serde_json::json!({"text": "one two\nthree"}))
            .map_err(|e| BenchError::Io { what: "input".into(), source: e.into() })?;
        let compiling = Runtime::new(config.clone())?.allow_unpinned();
        let state_dir =
            tempfile::tempdir().map_err(|source| BenchError::Io { what: "temp dir".into(), source })?;
        let state = StateDir::open(state_dir.path()).map_err(|e| BenchError::State(e.to_string()))?;
        let probe = compiling.load(name).map_err(|source| BenchError::load(name, source))?;
        state
            .pin(&probe.manifest().id(), &probe.component_info().sha256, "benchmark")
            .map_err(|e| BenchError::State(e.to_string()))?;
        drop(probe);
        let cached = Runtime::new(config.clone())?.with_state(state);
        // Fill the cache.
        drop(cached.load(name).map_err(|source| BenchError::load(name, source))?);
        Ok(Self { compiling, cached, input, tokio: tokio_runtime(0)?, _state_dir: state_dir })
    }

    /// Load the extension and make its first call, compiling it (`from_cache == false`) or
    /// from the precompiled cache; the time both took.
    ///
    /// # Errors
    /// [`BenchError`] when the load or the call fails.
    pub fn first_call(&self, from_cache: bool) -> Result<Duration, BenchError> {
        let runtime = if from_cache { &self.cached } else { &self.compiling };
        let started = Instant::now();
        let extension = runtime.load(EXTENSION).map_err(|source| BenchError::load(EXTENSION, source))?;
        let outcome = self.tokio.block_on(extension.call(CallRequest::new(self.input.clone())));
        let elapsed = started.elapsed();
        outcome.result.map_err(|e| BenchError::CallFailed {
            extension: EXTENSION.into(),
            path: "sandbox",
            message: e.to_string(),
        })?;
        Ok(elapsed)
    }
}

/// Run the scenario on [`EXTENSION`].
///
/// # Errors
/// [`BenchError`] when a runtime, the state directory, a load or a call fails.
pub fn run(config: &PlatformConfig, options: BenchOptions) -> Result<Vec<Row>, BenchError> {
    let name = EXTENSION;
    let fixture = ColdStart::new(config)?;
    let rounds = options.pick(5, 20);
    let mut samples = [Samples::with_capacity(rounds), Samples::with_capacity(rounds)];
    for round in 0..rounds {
        for offset in 0..2 {
            let i = (round + offset) % 2;
            samples[i].push(fixture.first_call(i == 1)?);
        }
    }
    let summaries = samples.each_ref().map(Samples::summary);
    let base = summaries[0].median_ns;
    let mut rows = Vec::new();
    for (i, variant) in ["compiled from .wasm", "precompiled cache"].into_iter().enumerate() {
        let mut row =
            Row::new(Scenario::ColdStart, format!("{name}: {variant}"), "ms", summaries[i].median_ns / 1e6);
        row.p99 = Some(summaries[i].p99_ns / 1e6);
        row.samples = summaries[i].count;
        row.ratio = ratio(summaries[i].median_ns, base);
        row.baseline = Some(format!("{name}: compiled from .wasm"));
        if i == 1 {
            let r = row.ratio.unwrap_or(f64::INFINITY);
            row.target = Some(Target::at_most("ratio", TARGET_CACHED_RATIO, r));
            row.note = Some(format!("{:.0}x faster; load + first call", 1.0 / r));
        } else {
            row.note = Some("load + first call".to_owned());
        }
        rows.push(row);
    }
    Ok(rows)
}
