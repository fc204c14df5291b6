//! Where the microseconds of one call go: the raw baseline's `echo` call split into its phases
//! (store data, store, instantiation, the call itself, teardown), each timed on every call, and
//! beside them what Symphony's richer store data costs (the WASI context built from the
//! capability grant with denial recording, the bounded log, the HTTP policy, the limiter).
//! Ratios are to the whole raw call's median. Conductor bookkeeping is the difference between
//! the conductor and sandbox rows of the per-call scenario.

use super::per_call::Workload;
use super::raw::{Phase, PhaseTimes};
use super::stats::Samples;
use super::subject::Subject;
use super::{BenchError, BenchOptions, Row, Scenario, ratio, tokio_runtime};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;

/// Run the scenario on `echo`.
///
/// # Errors
/// [`BenchError`] when the runtime, the sample or a call fails.
pub fn run(config: &PlatformConfig, options: BenchOptions) -> Result<Vec<Row>, BenchError> {
    let runtime = Runtime::new(config.clone())?.allow_unpinned();
    let subject = Subject::load(&runtime, Workload::Echo.extension())?;
    let input = Workload::Echo.input();
    let calls = options.calls.unwrap_or_else(|| options.pick(2_000, 10_000));
    let (phases, total, symphony_state) = tokio_runtime(0)?.block_on(async {
        let mut phases: [Samples; 5] = std::array::from_fn(|_| Samples::with_capacity(calls));
        let mut total = Samples::with_capacity(calls);
        let mut symphony_state = Samples::with_capacity(calls);
        for i in 0..calls + calls / 10 {
            let mut times = PhaseTimes::default();
            subject.raw().call_timed(&input.content_type, &input.bytes, Some(&mut times)).await?;
            let built = subject.extension().store_data_cost();
            // The first tenth warms up.
            if i >= calls / 10 {
                for (samples, time) in phases.iter_mut().zip(times) {
                    samples.push(time);
                }
                total.push(times.iter().sum());
                symphony_state.push(built);
            }
        }
        Ok::<_, BenchError>((phases, total, symphony_state))
    })?;
    let whole = total.summary().median_ns;
    let mut rows = Vec::new();
    let mut push = |variant: String, samples: &Samples| {
        let summary = samples.summary();
        let mut row = Row::new(Scenario::Phases, variant, "us", summary.median_ns / 1_000.0);
        row.p99 = Some(summary.p99_ns / 1_000.0);
        row.samples = summary.count;
        row.ratio = ratio(summary.median_ns, whole);
        row.baseline = Some("raw wasmtime call".to_owned());
        rows.push(row);
    };
    for (phase, samples) in Phase::ALL.iter().zip(&phases) {
        push(format!("raw: {}", phase.label()), samples);
    }
    push("raw: whole call".to_owned(), &total);
    push("sandbox: store data (grant, log, denials)".to_owned(), &symphony_state);
    Ok(rows)
}
