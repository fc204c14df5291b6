//! Per-call cost: the same request through the raw wasmtime baseline, the Symphony sandbox and
//! the conductor, interleaved in small batches (rotating which path goes first) so that drift
//! in the machine's load hits all three alike. Every call is timed on its own; ratios are of
//! medians. Targets: sandbox ≤ 1.10× raw, conductor ≤ 1.25× raw.

use std::time::Instant;

use super::stats::Samples;
use super::subject::{Path, Subject};
use super::{BenchError, BenchOptions, Row, Scenario, Target, ratio, tokio_runtime};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_types::payload::{JSON_CONTENT_TYPE, Payload};

/// Calls per path in one batch before the next path takes over.
const BATCH_CALLS: usize = 25;
/// Target: sandbox median over raw median.
pub const TARGET_SANDBOX_RATIO: f64 = 1.10;
/// Target: conductor median over raw median.
pub const TARGET_CONDUCTOR_RATIO: f64 = 1.25;
/// Size of the `text-stats` input text, in bytes.
pub const TEXT_BYTES: usize = 64 * 1024;

/// What is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `echo` with a JSON payload of about 100 bytes.
    Echo,
    /// `text-stats` over about 64 KiB of text.
    TextStats,
}

impl Workload {
    /// The sample extension.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::TextStats => "text-stats",
        }
    }

    /// The request payload.
    #[must_use]
    pub fn input(self) -> Payload {
        let text = match self {
            Workload::Echo => format!("{{\"payload\":\"{}\"}}", "x".repeat(84)),
            Workload::TextStats => format!("{{\"text\":\"{}\"}}", sample_text(TEXT_BYTES)),
        };
        Payload::new(JSON_CONTENT_TYPE, text.into_bytes())
    }

    fn scenario(self) -> Scenario {
        match self {
            Workload::Echo => Scenario::PerCallEcho,
            Workload::TextStats => Scenario::PerCallTextStats,
        }
    }

    fn calls(self, options: BenchOptions) -> usize {
        options.calls.unwrap_or_else(|| match self {
            Workload::Echo => options.pick(3_000, 20_000),
            Workload::TextStats => options.pick(300, 2_000),
        })
    }
}

/// Deterministic English-like text of `bytes` bytes, lines of about 60 characters, JSON-safe.
#[must_use]
pub fn sample_text(bytes: usize) -> String {
    const WORDS: [&str; 12] =
        ["sandbox", "guest", "fuel", "the", "epoch", "of", "memory", "a", "limit", "host", "call", "and"];
    let mut text = String::with_capacity(bytes + 16);
    let mut line = 0;
    let mut i = 0usize;
    while text.len() < bytes {
        let word = WORDS[(i * 7 + i / 3) % WORDS.len()];
        text.push_str(word);
        line += word.len() + 1;
        if line > 60 {
            text.push_str("\\n");
            line = 0;
        } else {
            text.push(' ');
        }
        i += 1;
    }
    text.truncate(bytes);
    // Never end inside an escape.
    if text.ends_with('\\') {
        text.pop();
    }
    text
}

/// The timed samples of each path, measured interleaved.
///
/// # Errors
/// [`BenchError`] when a call fails.
pub async fn measure(subject: &Subject, input: &Payload, calls: usize) -> Result<[Samples; 3], BenchError> {
    let warmup = (calls / 10).clamp(5, 200);
    for path in Path::ALL {
        for _ in 0..warmup {
            subject.call(path, input).await?;
        }
    }
    let mut samples: [Samples; 3] = std::array::from_fn(|_| Samples::with_capacity(calls));
    let mut round = 0;
    while samples.iter().any(|s| s.len() < calls) {
        for offset in 0..Path::ALL.len() {
            let index = (round + offset) % Path::ALL.len();
            let path = Path::ALL[index];
            for _ in 0..BATCH_CALLS.min(calls - samples[index].len()) {
                let started = Instant::now();
                subject.call(path, input).await?;
                samples[index].push(started.elapsed());
            }
        }
        round += 1;
    }
    Ok(samples)
}

/// Run the scenario for `workload`: one row per path, ratios to raw.
///
/// # Errors
/// [`BenchError`] when the runtime, the extension or a call fails.
pub fn run(
    config: &PlatformConfig,
    workload: Workload,
    options: BenchOptions,
) -> Result<Vec<Row>, BenchError> {
    let runtime = Runtime::new(config.clone())?.allow_unpinned();
    let subject = Subject::load(&runtime, workload.extension())?;
    let input = workload.input();
    let samples = tokio_runtime(0)?.block_on(measure(&subject, &input, workload.calls(options)))?;
    Ok(rows(workload.scenario(), &samples, &format!("{} B input", input.bytes.len())))
}

/// One row per path from interleaved samples, ratios to the raw path.
#[must_use]
pub fn rows(scenario: Scenario, samples: &[Samples; 3], note: &str) -> Vec<Row> {
    let summaries = samples.each_ref().map(Samples::summary);
    let baseline = summaries[0].median_ns;
    Path::ALL
        .iter()
        .zip(summaries)
        .map(|(path, summary)| {
            let mut row = Row::new(scenario, path.label(), "us", summary.median_ns / 1_000.0);
            row.p99 = Some(summary.p99_ns / 1_000.0);
            row.samples = summary.count;
            row.ratio = ratio(summary.median_ns, baseline);
            row.baseline = Some(Path::Raw.label().to_owned());
            let r = row.ratio.unwrap_or(f64::INFINITY);
            row.target = match path {
                Path::Raw => None,
                Path::Sandbox => Some(Target::at_most("ratio", TARGET_SANDBOX_RATIO, r)),
                Path::Conductor => Some(Target::at_most("ratio", TARGET_CONDUCTOR_RATIO, r)),
            };
            row.note = Some(note.to_owned());
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_have_the_documented_sizes_and_are_json() {
        let echo = Workload::Echo.input();
        assert!((90..=110).contains(&echo.bytes.len()), "{}", echo.bytes.len());
        let text = Workload::TextStats.input();
        assert!(text.bytes.len() >= TEXT_BYTES);
        assert!(echo.to_json().is_ok() && text.to_json().is_ok());
    }
}
