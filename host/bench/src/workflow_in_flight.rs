//! Memory per idle in-flight workflow run: N runs of a one-step workflow whose step is the
//! `sleeper` sample (the guest parked on a WASI timer) held at once through one conductor; peak
//! resident set minus the resident set just before, divided by N. The same engine and pool
//! sizing, RSS sampling and overlap check as [`in_flight`](super::in_flight), which holds bare
//! conductor calls: the difference between the two figures is what the runner keeps per run
//! (its `RunControl` and progress, the step reports, the run and step futures, the step's
//! `call_with_fallback` future around the same call).
//!
//! Run it in a fresh process (`symphony bench` does) so earlier work cannot raise the peak.

use std::sync::Arc;

use super::embedded_workflow::{prepare, run_once};
use super::in_flight::{
    InFlight, SLEEPER, WORKERS, hold, sized_conductor, sized_config, sleep_ms, sleeper_input,
};
use super::{BenchError, BenchOptions, Scenario, tokio_runtime};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;

/// The held workflow: one `sleeper` step fed the workflow input whole.
pub const WAIT_WORKFLOW: &str = r#"
name = "bench-wait"
version = "1.0.0"
description = "One idle step: the sleeper waits on a timer."

[[steps]]
id = "wait"
extension = "sleeper"
input = "$input"
fallback = []
"#;

/// Hold `runs` runs of [`WAIT_WORKFLOW`] in flight and measure the peak RSS.
///
/// # Errors
/// [`BenchError`] when the runtime, the sample, the workflow or a run fails.
pub fn measure(config: &PlatformConfig, runs: usize, _options: BenchOptions) -> Result<InFlight, BenchError> {
    let config = sized_config(config, runs);
    let runtime = Runtime::new(config.clone())?.allow_unpinned();
    // The step's own extension is loaded by the catalog; this copy only tells the demand.
    let demand = runtime.load(SLEEPER).map_err(|source| BenchError::load(SLEEPER, source))?.demand();
    let conductor = sized_conductor(demand, runs);
    let prepared = Arc::new(prepare(WAIT_WORKFLOW, &runtime, &conductor, &config)?);
    let tokio = tokio_runtime(WORKERS)?;
    let sleep = sleep_ms(runs);
    let warm = sleeper_input(1)?;
    let payload = sleeper_input(sleep)?;

    // One run first, so lazily built state (timers, the first pool slot) is in the baseline.
    tokio.block_on(run_once(&conductor, &prepared, warm))?;
    let held = hold(&tokio, runs, || {
        let (conductor, prepared, payload) = (Arc::clone(&conductor), Arc::clone(&prepared), payload.clone());
        async move { run_once(&conductor, &prepared, payload).await.map(drop) }
    })?;
    Ok(InFlight {
        scenario: Scenario::WorkflowInFlight,
        count: runs,
        baseline_rss_kib: held.resident.baseline_kib,
        peak_rss_kib: held.resident.peak_kib,
        kib_each: held.resident.per_item_kib(runs),
        all_in_flight: held.all_in_flight,
        pooling: runtime.engine().pooling(),
        sleep_ms: sleep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_host::workflow::WorkflowDefinition;

    #[test]
    fn the_held_workflow_is_one_sleeper_step_without_fallback() {
        let definition = WorkflowDefinition::parse(std::path::Path::new("<bench>.toml"), WAIT_WORKFLOW)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(definition.steps.len(), 1);
        assert_eq!(definition.steps[0].spec.extension, SLEEPER);
        assert_eq!(definition.steps[0].spec.fallback.as_deref().map(<[_]>::len), Some(0));
    }
}
