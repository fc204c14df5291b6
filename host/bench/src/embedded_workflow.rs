//! Workflows the benchmarks define inline (TOML in the bench source, not files in
//! `workflow_dirs`): parsed, prepared over a runtime's extensions and a conductor's routes, and
//! run with every run required to succeed — a benchmark of failing runs would measure the wrong
//! thing. The definition format and the runner are `symphony-workflow`'s.

use std::path::Path;
use std::sync::Arc;

use super::BenchError;
use symphony_conductor::Conductor;
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_host::workflow::{PreparedWorkflow, RunControl, RunOptions, RunStatus, WorkflowDefinition};
use symphony_host::workflows::RegistryCatalog;
use symphony_types::payload::Payload;

/// Parse `toml` (a definition embedded in the bench) and prepare it over `runtime`'s
/// extensions and `conductor`'s routes.
///
/// # Errors
/// [`BenchError::Workflow`] when it does not parse or prepare.
pub fn prepare(
    toml: &str,
    runtime: &Runtime,
    conductor: &Conductor,
    config: &PlatformConfig,
) -> Result<PreparedWorkflow, BenchError> {
    let definition = WorkflowDefinition::parse(Path::new("<bench>.toml"), toml)
        .map_err(|e| BenchError::Workflow { workflow: "<bench>".to_owned(), reason: e.to_string() })?;
    let name = definition.name.clone();
    PreparedWorkflow::prepare(
        Arc::new(definition),
        &RegistryCatalog::new(runtime),
        conductor.config(),
        &config.workflows,
    )
    .map_err(|e| BenchError::Workflow { workflow: name, reason: e.to_string() })
}

/// One run on `input`, which must succeed.
///
/// # Errors
/// [`BenchError::CallFailed`] naming the first step that did not succeed.
pub async fn run_once(
    conductor: &Conductor,
    workflow: &PreparedWorkflow,
    input: Payload,
) -> Result<serde_json::Value, BenchError> {
    let control = RunControl::new(workflow);
    let result = workflow.run(conductor, input, &control, RunOptions::default()).await;
    if result.status == RunStatus::Succeeded {
        return Ok(result.output.unwrap_or_default());
    }
    let failed = result.steps.iter().find(|s| s.error.is_some());
    Err(BenchError::CallFailed {
        extension: failed.map_or_else(|| result.workflow.clone(), |s| s.extension.clone()),
        path: "workflow",
        message: failed
            .and_then(|s| s.error.as_ref().map(|e| e.report.message.clone()))
            .or(result.input_error)
            .unwrap_or_else(|| format!("run ended {:?}", result.status)),
    })
}
