//! What the workflow runner costs over calling the steps by hand: the same three-step chain run
//! as three direct conductor calls in sequence (each step's input built from the previous
//! output in plain Rust, the same JSON the workflow's mapping builds) and as one run of a
//! prepared workflow, through the same [`Platform`] and conductor, on the same input,
//! interleaved in small batches (rotating which goes first) after a warm-up. Every run is timed
//! on its own; ratios are of medians. Target: workflow ≤ 1.10× direct.
//!
//! Two chains: `echo → echo → echo` with whole-output mappings (`input = "$steps.a"`), which
//! prices the runner alone, and `extract → summarize@1.0.0 → format-report`, whose JSON Schema
//! contracts the workflow checks between the steps; for that one a third way, the direct
//! calls plus the same schemas checked by hand, splits the contracts' cost from the runner's.
//! Before timing, every way's output is checked equal to the direct chain's.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::embedded_workflow::{prepare, run_once};
use super::stats::Samples;
use super::{BenchError, BenchOptions, Row, Scenario, Target, ratio, tokio_runtime};
use symphony_conductor::Demand;
use symphony_host::config::PlatformConfig;
use symphony_host::platform::Platform;
use symphony_host::runtime::Runtime;
use symphony_host::sandbox::LoadedExtension;
use symphony_host::workflow::{PreparedWorkflow, Schema};
use symphony_host::workflows::extension_info;
use symphony_types::payload::{CallRequest, Payload};

/// Target: workflow median over direct-calls median.
pub const TARGET_WORKFLOW_RATIO: f64 = 1.10;
/// Runs per way in one batch before the next way takes over.
const BATCH_RUNS: usize = 10;

/// `echo` three times, each step handed the previous output whole.
pub const ECHO_CHAIN: &str = r#"
name = "bench-echo-chain"
version = "1.0.0"

[[steps]]
id = "a"
extension = "echo"
input = "$input"
fallback = []

[[steps]]
id = "b"
extension = "echo"
needs = ["a"]
input = "$steps.a"
fallback = []

[[steps]]
id = "c"
extension = "echo"
needs = ["b"]
input = "$steps.b"
fallback = []
"#;

/// `report.toml`'s chain, pinned to `summarize@1.0.0` with no fallback: nothing but the three
/// steps ever runs.
pub const REPORT_CHAIN: &str = r#"
name = "bench-report-chain"
version = "1.0.0"

[[steps]]
id = "extract"
extension = "extract"
input = "$input"
fallback = []

[[steps]]
id = "summarize"
extension = "summarize@1.0.0"
needs = ["extract"]
input = { text = "$steps.extract/body" }
requires = []
fallback = []

[[steps]]
id = "format"
extension = "format-report"
needs = ["extract", "summarize"]
input = { title = "$steps.extract/title", summary = "$steps.summarize" }
fallback = []
"#;

/// The report chain's document: a title, two sections, four paragraphs (~0.6 KiB).
const DOCUMENT: &str = "# Quarterly platform notes\n\nThe sandbox now caps memory for every call. \
Guests keep running when the host restarts, and their breakers remember what failed.\n\n\
## Workflows\n\nSteps run through the conductor. Contracts are checked between the steps, so a \
consumer never sees data its schema refuses.\n\nFallbacks serve a step when its extension \
fails or breaks a contract.\n\n## Upgrading\n\nRebuild your components with the new SDK, pin \
them again, and run the audit before you deploy anything to production.";

/// Which chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// `echo → echo → echo`.
    Echo,
    /// `extract → summarize@1.0.0 → format-report`.
    Report,
}

impl Chain {
    /// Both chains, in report order.
    pub const ALL: [Chain; 2] = [Chain::Echo, Chain::Report];

    /// Name in reports.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Chain::Echo => "echo chain",
            Chain::Report => "report chain",
        }
    }

    /// The steps' extensions, in order.
    #[must_use]
    pub fn extensions(self) -> [&'static str; 3] {
        match self {
            Chain::Echo => ["echo", "echo", "echo"],
            Chain::Report => ["extract", "summarize@1.0.0", "format-report"],
        }
    }

    /// The workflow definition (TOML).
    #[must_use]
    pub fn definition(self) -> &'static str {
        match self {
            Chain::Echo => ECHO_CHAIN,
            Chain::Report => REPORT_CHAIN,
        }
    }

    /// The chain's input.
    #[must_use]
    pub fn input(self) -> Payload {
        match self {
            Chain::Echo => super::per_call::Workload::Echo.input(),
            Chain::Report => Payload::new(
                symphony_types::payload::JSON_CONTENT_TYPE,
                json!({ "document": DOCUMENT }).to_string().into_bytes(),
            ),
        }
    }

    /// The ways it is run, baseline first.
    #[must_use]
    pub fn ways(self) -> &'static [Way] {
        match self {
            Chain::Echo => &[Way::Direct, Way::Workflow],
            Chain::Report => &[Way::Direct, Way::DirectChecked, Way::Workflow],
        }
    }

    fn runs(self, options: BenchOptions) -> usize {
        match self {
            Chain::Echo => options.pick(1_000, 5_000),
            Chain::Report => options.pick(500, 2_000),
        }
    }
}

/// How a chain is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Three `call_profile` calls, the inputs built by hand.
    Direct,
    /// [`Way::Direct`] plus every step's input and output checked against its manifest's
    /// schemas, as the workflow does.
    DirectChecked,
    /// One run of the prepared workflow.
    Workflow,
}

impl Way {
    /// Name in reports.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Way::Direct => "direct calls",
            Way::DirectChecked => "direct + schema checks",
            Way::Workflow => "workflow",
        }
    }
}

/// One step of the direct chain.
struct DirectStep {
    extension: Arc<LoadedExtension>,
    profile: String,
    demand: Demand,
    input_schema: Option<Schema>,
    output_schema: Option<Schema>,
}

/// A chain loaded once, runnable every [`Way`] through one platform.
pub struct ChainSubject<'a> {
    platform: &'a Platform,
    chain: Chain,
    steps: Vec<DirectStep>,
    workflow: PreparedWorkflow,
}

impl std::fmt::Debug for ChainSubject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainSubject").field("chain", &self.chain).finish_non_exhaustive()
    }
}

impl<'a> ChainSubject<'a> {
    /// Load `chain`'s extensions for the direct calls and prepare its workflow, on `platform`.
    ///
    /// # Errors
    /// [`BenchError::Load`] or [`BenchError::Workflow`].
    pub fn load(platform: &'a Platform, chain: Chain) -> Result<Self, BenchError> {
        let mut steps = Vec::with_capacity(3);
        for name in chain.extensions() {
            let extension = platform.load(name).map_err(|source| BenchError::load(name, source))?;
            let info = extension_info(extension.manifest())
                .map_err(|e| BenchError::Workflow { workflow: name.to_owned(), reason: e.to_string() })?;
            let conductor = platform.conductor().config();
            steps.push(DirectStep {
                profile: conductor.profile_name(&extension.manifest().name).to_owned(),
                demand: extension.demand(),
                extension: Arc::new(extension),
                input_schema: info.input_schema,
                output_schema: info.output_schema,
            });
        }
        let workflow =
            prepare(chain.definition(), platform.runtime(), platform.conductor(), platform.config())?;
        Ok(Self { platform, chain, steps, workflow })
    }

    /// One run of the chain by `way`; its output.
    ///
    /// # Errors
    /// [`BenchError::CallFailed`] when a step fails or hands on something the next cannot use.
    pub async fn run(&self, way: Way, input: &Payload) -> Result<Value, BenchError> {
        let checked = way == Way::DirectChecked;
        match (way, self.chain) {
            (Way::Workflow, _) => run_once(self.platform.conductor(), &self.workflow, input.clone()).await,
            (_, Chain::Echo) => {
                // Whole outputs: the bytes are handed on as they are, the last one parsed.
                let a = self.call(0, input.clone()).await?;
                let b = self.call(1, a).await?;
                let c = self.call(2, b).await?;
                self.parse(2, &c, false)
            }
            (_, Chain::Report) => {
                if checked {
                    self.check(0, true, &self.parse(0, input, false)?)?;
                }
                let extracted = self.parse(0, &self.call(0, input.clone()).await?, checked)?;
                let text = json!({ "text": self.pointer(0, &extracted, "/body")? });
                let summary = self.parse(1, &self.call_json(1, &text, checked).await?, checked)?;
                let report = json!({ "title": self.pointer(0, &extracted, "/title")?, "summary": summary });
                self.parse(2, &self.call_json(2, &report, checked).await?, checked)
            }
        }
    }

    async fn call_json(&self, index: usize, input: &Value, checked: bool) -> Result<Payload, BenchError> {
        if checked {
            self.check(index, true, input)?;
        }
        let payload = Payload::json(input).map_err(|e| self.failed(index, e.to_string()))?;
        self.call(index, payload).await
    }

    async fn call(&self, index: usize, input: Payload) -> Result<Payload, BenchError> {
        let step = &self.steps[index];
        self.platform
            .conductor()
            .call_profile(&step.profile, step.extension.as_ref(), Some(step.demand), CallRequest::new(input))
            .await
            .result
            .map_err(|e| self.failed(index, e.to_string()))
    }

    /// Step `index`'s output as JSON, checked against its output schema when `checked`.
    fn parse(&self, index: usize, output: &Payload, checked: bool) -> Result<Value, BenchError> {
        let value = output.to_json().map_err(|e| self.failed(index, e.to_string()))?;
        if checked {
            self.check(index, false, &value)?;
        }
        Ok(value)
    }

    fn check(&self, index: usize, input: bool, value: &Value) -> Result<(), BenchError> {
        let step = &self.steps[index];
        let schema = if input { &step.input_schema } else { &step.output_schema };
        match schema {
            Some(schema) => {
                schema.check(value).map_err(|v| self.failed(index, format!("{}: {}", v.pointer, v.reason)))
            }
            None => Ok(()),
        }
    }

    fn pointer(&self, index: usize, value: &Value, pointer: &str) -> Result<Value, BenchError> {
        value
            .pointer(pointer)
            .cloned()
            .ok_or_else(|| self.failed(index, format!("no `{pointer}` in its output")))
    }

    fn failed(&self, index: usize, message: String) -> BenchError {
        BenchError::CallFailed {
            extension: self.steps[index].extension.id().to_owned(),
            path: "direct",
            message,
        }
    }
}

/// What one way of a chain measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Each run's wall time.
    pub samples: Samples,
    /// CPU time the calling thread spent over all the timed runs, in nanoseconds (`None` where
    /// `/proc/thread-self/schedstat` is missing). The runs are driven on a current-thread
    /// runtime, so this is the runner's and the conductor's work without the guest threads'
    /// and without the wake-up latency of the hop to them.
    pub caller_cpu_ns: Option<u64>,
}

impl Measured {
    /// Caller-thread CPU per run, in microseconds.
    #[must_use]
    pub fn caller_cpu_us_per_run(&self) -> Option<f64> {
        let runs = self.samples.len().max(1) as f64;
        self.caller_cpu_ns.map(|ns| ns as f64 / 1_000.0 / runs)
    }
}

/// CPU time this thread has run, in nanoseconds (Linux's `schedstat`; `None` elsewhere).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// The timed samples of each of `chain`'s ways, measured interleaved.
///
/// # Errors
/// [`BenchError`] when a run fails or a way's output differs from the direct chain's.
pub async fn measure(
    subject: &ChainSubject<'_>,
    input: &Payload,
    runs: usize,
) -> Result<Vec<Measured>, BenchError> {
    let ways = subject.chain.ways();
    let expected = subject.run(Way::Direct, input).await?;
    for &way in ways {
        if subject.run(way, input).await? != expected {
            return Err(BenchError::Workflow {
                workflow: subject.chain.label().to_owned(),
                reason: format!("`{}` answered differently from the direct calls", way.label()),
            });
        }
    }
    let warmup = (runs / 10).clamp(5, 200);
    for &way in ways {
        for _ in 0..warmup {
            subject.run(way, input).await?;
        }
    }
    let mut measured: Vec<Measured> = ways
        .iter()
        .map(|_| Measured { samples: Samples::with_capacity(runs), caller_cpu_ns: Some(0) })
        .collect();
    let mut round = 0;
    while measured.iter().any(|m| m.samples.len() < runs) {
        for offset in 0..ways.len() {
            let index = (round + offset) % ways.len();
            let cpu_before = thread_cpu_ns();
            for _ in 0..BATCH_RUNS.min(runs - measured[index].samples.len()) {
                let started = Instant::now();
                subject.run(ways[index], input).await?;
                measured[index].samples.push(started.elapsed());
            }
            let spent = cpu_before.zip(thread_cpu_ns()).map(|(before, after)| after.saturating_sub(before));
            let total = &mut measured[index].caller_cpu_ns;
            *total = total.zip(spent).map(|(sum, batch)| sum + batch);
        }
        round += 1;
    }
    Ok(measured)
}

/// Run the scenario: both chains on one platform, one row per way, ratios to the direct calls.
///
/// # Errors
/// [`BenchError`] when the platform, an extension, the workflow or a run fails.
pub fn run(config: &PlatformConfig, options: BenchOptions) -> Result<Vec<Row>, BenchError> {
    let tokio = tokio_runtime(0)?;
    let _entered = tokio.enter();
    let runtime = Runtime::new(config.clone())?.allow_unpinned();
    let platform = Platform::from_runtime(runtime)
        .map_err(|e| BenchError::Workflow { workflow: "<platform>".to_owned(), reason: e.to_string() })?;
    let mut rows = Vec::new();
    for chain in Chain::ALL {
        let subject = ChainSubject::load(&platform, chain)?;
        let input = chain.input();
        let measured = tokio.block_on(measure(&subject, &input, chain.runs(options)))?;
        rows.extend(chain_rows(chain, &measured, input.bytes.len()));
    }
    Ok(rows)
}

/// One row per way, ratios to the direct calls; the target on the workflow's row.
#[must_use]
pub fn chain_rows(chain: Chain, measured: &[Measured], input_bytes: usize) -> Vec<Row> {
    let summaries: Vec<_> = measured.iter().map(|m| m.samples.summary()).collect();
    let baseline = summaries[0].median_ns;
    let checked = chain.ways().iter().position(|&w| w == Way::DirectChecked).map(|i| summaries[i].median_ns);
    chain
        .ways()
        .iter()
        .zip(summaries.iter().zip(measured))
        .map(|(&way, (summary, measured))| {
            let mut row = Row::new(
                Scenario::WorkflowChain,
                format!("{}: {}", chain.label(), way.label()),
                "us",
                summary.median_ns / 1_000.0,
            );
            row.p99 = Some(summary.p99_ns / 1_000.0);
            row.samples = summary.count;
            row.ratio = ratio(summary.median_ns, baseline);
            row.baseline = Some(Way::Direct.label().to_owned());
            if way == Way::Workflow {
                let r = row.ratio.unwrap_or(f64::INFINITY);
                row.target = Some(Target::at_most("ratio", TARGET_WORKFLOW_RATIO, r));
            }
            let mut text = note(chain, way, input_bytes, checked.and_then(|c| ratio(summary.median_ns, c)));
            if let Some(cpu) = measured.caller_cpu_us_per_run() {
                text.push_str(&format!("; caller-thread CPU {cpu:.1} us/run"));
            }
            row.note = Some(text);
            row
        })
        .collect()
}

fn note(chain: Chain, way: Way, input_bytes: usize, to_checked: Option<f64>) -> String {
    let steps = chain.extensions().join(" -> ");
    match (way, chain) {
        (Way::Direct, Chain::Echo) => format!(
            "{steps}, {input_bytes} B: 3 call_profile calls, outputs handed on as bytes, the last parsed to JSON"
        ),
        (Way::Direct, Chain::Report) => format!(
            "{steps}, {input_bytes} B document: 3 call_profile calls; each output parsed, the next input \
             built with serde_json as the mapping builds it and serialised"
        ),
        (Way::DirectChecked, _) => {
            "as direct, plus each step's input and output checked against its manifest's JSON Schemas"
                .to_owned()
        }
        (Way::Workflow, Chain::Echo) => {
            "prepared run, whole-output mappings (run control, progress, step reports \
                                         with every output parsed, call_with_fallback)"
                .to_owned()
        }
        (Way::Workflow, Chain::Report) => format!(
            "prepared run (mappings, input/output/consumer schema checks, progress, step reports); \
             {:.2}x direct + schema checks",
            to_checked.unwrap_or(f64::NAN)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_host::workflow::WorkflowDefinition;

    #[test]
    fn embedded_definitions_parse_and_inputs_are_json() {
        for chain in Chain::ALL {
            let definition =
                WorkflowDefinition::parse(std::path::Path::new("<bench>.toml"), chain.definition());
            let definition = definition.unwrap_or_else(|e| panic!("{}: {e}", chain.label()));
            let extensions: Vec<&str> = definition.steps.iter().map(|s| s.spec.extension.as_str()).collect();
            assert_eq!(extensions, chain.extensions());
            assert!(chain.input().to_json().is_ok());
        }
    }

    #[test]
    fn the_workflow_row_carries_the_target_and_ratios_are_to_the_direct_calls() {
        let timed = |us: u64, n: usize| {
            let mut samples = Samples::default();
            for _ in 0..n {
                samples.push(std::time::Duration::from_micros(us));
            }
            Measured { samples, caller_cpu_ns: Some(us * 1_000 * n as u64) }
        };
        let rows = chain_rows(Chain::Report, &[timed(100, 4), timed(104, 4), timed(108, 4)], 500);
        assert_eq!(rows.len(), 3);
        assert!(rows[0].target.is_none() && rows[1].target.is_none());
        let target = rows[2].target.expect("workflow row has the target");
        assert!(target.met && (rows[2].ratio.unwrap_or(0.0) - 1.08).abs() < 1e-9);
        assert!(rows[2].note.as_deref().is_some_and(|n| n.contains("caller-thread CPU 108.0 us/run")));
    }
}
