//! Metering cost: CPU-bound guests on three engines that differ only in [`Metering`]: fuel and
//! epochs (the default), epochs only, and neither. Two guests, because the cost depends on the
//! code: `miner` (a 64-bit multiply-and-mix hash loop, latency-bound) and `text-stats` on
//! 64 KiB (branchy byte scanning). The calls alternate between the engines; ratios are to the
//! unmetered median. No target: the default keeps both, because fuel is the deterministic
//! budget and epochs the deadline.

use std::time::{Duration, Instant};

use super::per_call::Workload;
use super::stats::Samples;
use super::{BenchError, BenchOptions, Row, Scenario, ratio, tokio_runtime};
use symphony_host::config::{Metering, PlatformConfig};
use symphony_host::runtime::Runtime;
use symphony_host::sandbox::LoadedExtension;
use symphony_types::payload::{CallRequest, Payload};

/// The CPU-bound sample.
pub const MINER: &str = "miner";
/// Engines compared, with their names in reports; the last is the baseline.
pub const MODES: [(Metering, &str); 3] = [
    (Metering::FuelAndEpoch, "fuel + epochs (default)"),
    (Metering::EpochOnly, "epochs only"),
    (Metering::Unmetered, "unmetered"),
];

/// One extension loaded once per metering mode, and the input they all get.
pub struct Metered {
    loaded: Vec<(Runtime, LoadedExtension)>,
    input: Payload,
    tokio: tokio::runtime::Runtime,
    name: String,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered").field("modes", &MODES.len()).finish_non_exhaustive()
    }
}

impl Metered {
    /// `miner` hashing `hashes` times on each engine of [`MODES`].
    ///
    /// # Errors
    /// [`BenchError`] when a runtime or the sample fails.
    pub fn miner(config: &PlatformConfig, hashes: u64) -> Result<Self, BenchError> {
        let input = Payload::json(&serde_json::json!({ "hashes": hashes }))
            .map_err(|e| BenchError::Io { what: "input".into(), source: e.into() })?;
        Self::new(config, MINER, input)
    }

    /// Build one engine per mode of [`MODES`] and load `extension` on each, to be called with
    /// `input`.
    ///
    /// # Errors
    /// [`BenchError`] when a runtime or the sample fails.
    pub fn new(config: &PlatformConfig, extension: &str, input: Payload) -> Result<Self, BenchError> {
        let name = extension;
        let mut loaded = Vec::new();
        for (metering, _) in MODES {
            let mut config = config.clone();
            config.engine.metering = metering;
            let runtime = Runtime::new(config)?.allow_unpinned();
            let extension = runtime.load(name).map_err(|source| BenchError::load(name, source))?;
            loaded.push((runtime, extension));
        }
        Ok(Self { loaded, input, tokio: tokio_runtime(0)?, name: name.to_owned() })
    }

    /// One call on the engine of `MODES[mode]`; the time it took.
    ///
    /// # Errors
    /// [`BenchError`] when the call fails (or `mode` is out of range).
    pub fn call(&self, mode: usize) -> Result<Duration, BenchError> {
        let failed =
            |message: String| BenchError::CallFailed { extension: MINER.into(), path: "sandbox", message };
        let (_, extension) =
            self.loaded.get(mode).ok_or_else(|| failed(format!("no metering mode {mode}")))?;
        let started = Instant::now();
        let outcome = self.tokio.block_on(extension.call(CallRequest::new(self.input.clone())));
        let elapsed = started.elapsed();
        outcome.result.map_err(|e| failed(e.to_string()))?;
        Ok(elapsed)
    }
}

/// Run the scenario.
///
/// # Errors
/// [`BenchError`] when a runtime, a sample or a call fails.
pub fn run(config: &PlatformConfig, options: BenchOptions) -> Result<Vec<Row>, BenchError> {
    let hashes = options.pick(20_000, 80_000);
    let miner = Metered::miner(config, u64::try_from(hashes).unwrap_or(u64::MAX))?;
    let mut rows = measure(&miner, options, &format!("{hashes} hashes per call"))?;
    let text = Metered::new(config, Workload::TextStats.extension(), Workload::TextStats.input())?;
    rows.extend(measure(&text, options, "64 KiB of text per call")?);
    Ok(rows)
}

/// Alternate calls over the engines of `metered`; one row per mode, ratios to unmetered.
fn measure(metered: &Metered, options: BenchOptions, note: &str) -> Result<Vec<Row>, BenchError> {
    let rounds = options.pick(10, 40);
    let mut samples: [Samples; 3] = std::array::from_fn(|_| Samples::with_capacity(rounds));
    for round in 0..=rounds {
        for offset in 0..MODES.len() {
            let i = (round + offset) % MODES.len();
            let elapsed = metered.call(i)?;
            // Round 0 warms each engine up.
            if round > 0 {
                samples[i].push(elapsed);
            }
        }
    }
    let summaries = samples.each_ref().map(Samples::summary);
    let base = summaries[MODES.len() - 1].median_ns;
    let name = &metered.name;
    Ok(MODES
        .iter()
        .zip(summaries)
        .map(|((_, label), summary)| {
            let mut row =
                Row::new(Scenario::Metering, format!("{name}: {label}"), "ms", summary.median_ns / 1e6);
            row.p99 = Some(summary.p99_ns / 1e6);
            row.samples = summary.count;
            row.ratio = ratio(summary.median_ns, base);
            row.baseline = Some(format!("{name}: unmetered"));
            row.note = Some(note.to_owned());
            row
        })
        .collect())
}
