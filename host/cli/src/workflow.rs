//! `symphony workflow …`: `check [WORKFLOW…]` (static validation, every finding as
//! `file:line: severity: step: …`), `run WORKFLOW [--input JSON | --input-file F] [--json]
//! [--idempotency-key K] [--output-dir D]` (checkpointed in the state directory's journal, live
//! progress on stderr, Ctrl-C cancels with finished steps kept), `list`, and the journal's
//! commands in `workflow_runs`: `resume`, `runs`, `prune`.
//! A WORKFLOW is a definition file or the name of one in the configured `workflow_dirs`.
//!
//! Exit codes: 0 when the check is clean (warnings allowed) or the run succeeded; 1 when the
//! check found errors or the run failed or was cancelled; 2 when the command could not run (no
//! such workflow, an invalid definition, input that is not JSON, a platform that cannot open).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::table::{Align, Table};
use super::{EXIT_UNUSABLE, display, workflow_runs};
use symphony_host::Platform;
use symphony_host::config::PlatformConfig;
use symphony_host::workflow::{
    DurableOptions, PrepareError, RunControl, RunOptions, RunResult, RunStatus, Severity, StepStatus,
};
use symphony_host::workflows::{WorkflowLookupError, workflow_paths};
use symphony_types::payload::Payload;

#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowAction {
    /// Check workflows statically (default: every one in the workflow directories).
    Check {
        /// Definition files or workflow names.
        workflows: Vec<String>,
        /// Print a JSON array of findings.
        #[arg(long)]
        json: bool,
    },
    /// Run a workflow through the conductor, showing progress; Ctrl-C cancels it.
    Run(RunArgs),
    /// List the workflows in the workflow directories.
    List,
    /// Go on with a journaled run where it stopped (crash, kill, cancel).
    Resume(workflow_runs::ResumeArgs),
    /// List journaled runs: status, steps done, age of the last checkpoint.
    Runs {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove finished runs from the journal (defaults: the config's retention).
    Prune(workflow_runs::PruneArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// A definition file or a workflow name.
    workflow: String,
    /// Input as JSON text (default `{}`).
    #[arg(long, conflicts_with = "input_file", value_name = "JSON")]
    input: Option<String>,
    /// Read the JSON input from a file.
    #[arg(long, value_name = "FILE")]
    input_file: Option<PathBuf>,
    /// Print the run result as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// A key naming this run: running again with the same key resumes it (or returns its
    /// result) instead of starting over.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Publish the run's files here instead of the definition's `output_dir`.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
}

pub(crate) async fn run(config: PlatformConfig, state_dir: &Path, action: WorkflowAction) -> ExitCode {
    let platform = match Platform::open(config, state_dir) {
        Ok(platform) => platform,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    match action {
        WorkflowAction::Check { workflows, json } => check(&platform, &workflows, json),
        WorkflowAction::Run(args) => run_one(&platform, args).await,
        WorkflowAction::List => list(&platform),
        WorkflowAction::Resume(args) => workflow_runs::resume(&platform, args).await,
        WorkflowAction::Runs { json } => workflow_runs::runs(&platform, json),
        WorkflowAction::Prune(args) => workflow_runs::prune(&platform, &args),
    }
}

/// Check `references` (every workflow when empty), print the findings; the exit code says
/// whether any is an error. Also used by `symphony check`.
pub(crate) fn check(platform: &Platform, references: &[String], as_json: bool) -> ExitCode {
    let references: Vec<String> = if references.is_empty() {
        workflow_paths(&platform.config().workflow_dirs).iter().map(|p| p.display().to_string()).collect()
    } else {
        references.to_vec()
    };
    let mut findings = Vec::new();
    let mut unusable = false;
    for reference in &references {
        match platform.find_workflow(reference) {
            Ok(definition) => {
                let report = platform.check_workflow(&definition);
                if !as_json {
                    let errors = report.errors().count();
                    let warnings = report.findings.len() - errors;
                    println!(
                        "workflow {} ({}): {}",
                        definition.name,
                        definition.origin.path.display(),
                        if report.findings.is_empty() {
                            "ok".to_owned()
                        } else {
                            format!(
                                "{}, {}",
                                display::plural(errors, "error", "errors"),
                                display::plural(warnings, "warning", "warnings")
                            )
                        }
                    );
                    for finding in &report.findings {
                        println!("  {finding}");
                    }
                }
                findings.extend(report.findings);
            }
            Err(error) => {
                unusable = true;
                if as_json {
                    findings_unusable(reference, &error);
                } else {
                    eprintln!("error: {error}");
                }
            }
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&findings).unwrap_or_default());
    }
    if unusable {
        ExitCode::from(EXIT_UNUSABLE)
    } else if findings.iter().any(|f| f.severity == Severity::Error) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A workflow that could not be checked, as one JSON object on stderr: the file, line and field
/// of an invalid definition, or the closest name of a missing one.
fn findings_unusable(reference: &str, error: &WorkflowLookupError) {
    let place = match error {
        WorkflowLookupError::Invalid(invalid) => {
            json!({"path": invalid.path, "line": invalid.line, "field": invalid.field})
        }
        WorkflowLookupError::NotFound { did_you_mean, .. } => json!({"did_you_mean": did_you_mean}),
    };
    eprintln!(
        "{}",
        json!({"status": "unusable", "workflow": reference, "message": error.to_string(), "at": place})
    );
}

fn list(platform: &Platform) -> ExitCode {
    let mut table = Table::new(&[
        ("workflow", Align::Left),
        ("steps", Align::Right),
        ("file", Align::Left),
        ("description", Align::Left),
    ]);
    for path in workflow_paths(&platform.config().workflow_dirs) {
        match symphony_host::workflow::WorkflowDefinition::load(&path) {
            Ok(wf) => table.row(vec![
                format!("{}@{}", wf.name, wf.version),
                wf.steps.len().to_string(),
                path.display().to_string(),
                wf.description.clone(),
            ]),
            Err(e) => table.note(format!("unreadable: {e}")),
        }
    }
    table.print();
    ExitCode::SUCCESS
}

async fn run_one(platform: &Platform, args: RunArgs) -> ExitCode {
    let unusable_with = |message: String, did_you_mean: Option<String>| {
        if args.json {
            println!("{}", json!({"status": "unusable", "message": message, "did_you_mean": did_you_mean}));
        } else {
            eprintln!("error: {message}");
        }
        ExitCode::from(EXIT_UNUSABLE)
    };
    let unusable = |message: String| unusable_with(message, None);
    let definition = match platform.find_workflow(&args.workflow) {
        Ok(definition) => definition,
        Err(e) => {
            let did_you_mean = match &e {
                WorkflowLookupError::NotFound { did_you_mean, .. } => did_you_mean.clone(),
                WorkflowLookupError::Invalid(_) => None,
            };
            return unusable_with(e.to_string(), did_you_mean);
        }
    };
    let input = match read_input(args.input.as_deref(), args.input_file.as_deref()) {
        Ok(input) => input,
        Err(message) => return unusable(message),
    };
    let prepared = match platform.prepare_workflow(definition) {
        Ok(prepared) => prepared,
        Err(PrepareError::Invalid { report, .. }) => {
            for finding in &report.findings {
                eprintln!("{finding}");
            }
            return unusable(format!("workflow `{}` does not pass its check", args.workflow));
        }
        Err(e) => return unusable(e.to_string()),
    };
    for warning in &prepared.warnings().findings {
        eprintln!("{warning}");
    }
    let journal = match platform.open_journal() {
        Ok(journal) => journal,
        Err(e) => return unusable(e.to_string()),
    };
    let durable = DurableOptions {
        idempotency_key: args.idempotency_key,
        output_dir: args.output_dir,
        ..DurableOptions::default()
    };
    let control = RunControl::new(&prepared);
    let running =
        platform.run_workflow_durable(&journal, &prepared, input, &control, RunOptions::default(), &durable);
    let outcome = workflow_runs::drive(&control, args.json, running).await;
    workflow_runs::report(platform, outcome, args.json)
}

pub(crate) fn read_input(inline: Option<&str>, file: Option<&Path>) -> Result<Payload, String> {
    let text = match (inline, file) {
        (Some(text), _) => text.to_owned(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        (None, None) => "{}".to_owned(),
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the input is not JSON: {e}"))?;
    Payload::json(&value).map_err(|e| e.to_string())
}

/// The run as a table of steps, then its output.
pub(crate) fn print_result(result: &RunResult) {
    let status = match result.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "FAILED",
        RunStatus::Cancelled => "CANCELLED",
        RunStatus::Interrupted => "INTERRUPTED",
    };
    let run = result.run_id.as_ref().map(|id| format!(" (run {id})")).unwrap_or_default();
    println!("workflow {}@{}{run}: {status} in {} ms", result.workflow, result.version, result.wall_ms);
    if let Some(reason) = &result.input_error {
        println!("  input refused: {reason}");
    }
    let mut table = Table::new(&[
        ("step", Align::Left),
        ("status", Align::Left),
        ("served by", Align::Left),
        ("attempts", Align::Right),
        ("fuel", Align::Right),
        ("ms", Align::Right),
        ("note", Align::Left),
    ]);
    for step in &result.steps {
        let mut note = Vec::new();
        if step.fallback {
            let failed: Vec<String> = step
                .attempts
                .iter()
                .filter_map(|a| a.error_kind.map(|kind| format!("{} {kind}", a.extension)))
                .collect();
            note.push(format!("fallback after {}", failed.join(", ")));
        }
        if step.degraded {
            note.push("degraded".to_owned());
        }
        if let Some(error) = &step.error {
            note.push(format!("{}: {}", error.report.kind, error.report.message));
        }
        if !step.blocked.is_empty() {
            note.push(format!("blocked {}", step.blocked.join(", ")));
        }
        if let Some(blocker) = &step.blocked_by {
            note.push(format!("blocked by {blocker}"));
        }
        if step.waited_ms > 0 {
            note.push(format!("waited {} ms for recovery", step.waited_ms));
        }
        if step.resumed {
            note.push("from the journal (not run again)".to_owned());
        }
        let status = match step.status {
            StepStatus::Ok => "ok",
            other => other.as_str(),
        };
        table.row(vec![
            step.id.clone(),
            status.to_owned(),
            step.served_by.clone().unwrap_or_else(|| "-".into()),
            step.attempts.len().to_string(),
            display::count(step.usage.fuel),
            step.wall_ms.to_string(),
            note.join("; "),
        ]);
    }
    table.print();
    if let Some(output) = &result.output {
        println!("output: {}", serde_json::to_string_pretty(output).unwrap_or_default());
    }
}
