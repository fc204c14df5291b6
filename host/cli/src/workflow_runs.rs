//! The journal's commands: `symphony workflow resume RUN [--rerun STEP]… [--skip STEP]…
//! [--json]`, `workflow runs [--json]` and `workflow prune [--keep N] [--older-than-hours H]`,
//! and how `run` and `resume` drive a durable run (Ctrl-C cancels, progress on a terminal) and
//! report its outcome.
//!
//! Exit codes: 0 when the run succeeded (now or before); 1 when it failed, was cancelled or
//! stopped at an indeterminate step; 2 when the command could not run (unknown or corrupt run,
//! a journal held by another process, a changed definition).

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::table::{Align, Table};
use super::{EXIT_UNUSABLE, workflow, workflow_progress};
use symphony_host::Platform;
use symphony_host::workflow::journal::now_ms;
use symphony_host::workflow::{
    DurableError, DurableOutcome, JournalStatus, ResumeDecisions, Retention, RunControl, RunOptions,
    RunStatus,
};

/// How long `runs` and `prune` wait for a journal another process holds (a run in progress).
const LISTING_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// The run's id (`symphony workflow runs` lists them).
    run: String,
    /// Run this indeterminate step again (you checked a second run is harmless).
    #[arg(long, value_name = "STEP")]
    rerun: Vec<String>,
    /// Count this indeterminate step as done, with its declared default output.
    #[arg(long, value_name = "STEP")]
    skip: Vec<String>,
    /// Print the run result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Keep at most this many finished runs (default: the config's `retain_runs`).
    #[arg(long, value_name = "N")]
    keep: Option<usize>,
    /// Remove finished runs older than this, in hours (default: `retain_for_hours`).
    #[arg(long, value_name = "HOURS")]
    older_than_hours: Option<u64>,
}

/// Await a durable run with Ctrl-C cancelling it, showing progress unless `quiet`.
pub(crate) async fn drive<F: std::future::Future>(
    control: &RunControl,
    quiet: bool,
    running: F,
) -> F::Output {
    let on_interrupt = control.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling: in-flight steps are asked to stop; finished steps are kept");
            on_interrupt.cancel();
        }
    });
    let outcome =
        if quiet { running.await } else { workflow_progress::watch(control.progress(), running).await };
    interrupt.abort();
    outcome
}

/// Print how a durable run came out; the exit code.
pub(crate) fn report(
    platform: &Platform,
    outcome: Result<DurableOutcome, DurableError>,
    as_json: bool,
) -> ExitCode {
    if let Err(e) = platform.flush() {
        eprintln!("warning: {e}");
    }
    match outcome {
        Ok(DurableOutcome::Ran(result)) => {
            if as_json {
                println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
            } else {
                workflow::print_result(&result);
                if let (Some(run), RunStatus::Cancelled | RunStatus::Interrupted) =
                    (&result.run_id, result.status)
                {
                    println!("resume it with: symphony workflow resume {run}");
                }
            }
            if result.status == RunStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Ok(DurableOutcome::Finished { run_id, status, result_json }) => {
            if as_json {
                println!("{result_json}");
            } else {
                println!("run {run_id} had already {}; its committed result:", status.as_str());
                let output = serde_json::from_str::<serde_json::Value>(&result_json)
                    .ok()
                    .and_then(|r| r.get("output").cloned())
                    .unwrap_or_default();
                println!("output: {}", serde_json::to_string_pretty(&output).unwrap_or_default());
            }
            if status == JournalStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(DurableError::Indeterminate { run_id, steps }) => {
            let message =
                DurableError::Indeterminate { run_id: run_id.clone(), steps: steps.clone() }.to_string();
            if as_json {
                println!(
                    "{}",
                    json!({"status": "indeterminate", "run_id": run_id, "steps": steps, "message": message})
                );
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::FAILURE
        }
        Err(error) => {
            if as_json {
                println!("{}", json!({"status": "unusable", "message": error.to_string()}));
            } else {
                eprintln!("error: {error}");
            }
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

pub(crate) async fn resume(platform: &Platform, args: ResumeArgs) -> ExitCode {
    let unusable = |message: String| {
        if args.json {
            println!("{}", json!({"status": "unusable", "message": message}));
        } else {
            eprintln!("error: {message}");
        }
        ExitCode::from(EXIT_UNUSABLE)
    };
    let journal = match platform.open_journal() {
        Ok(journal) => journal,
        Err(e) => return unusable(e.to_string()),
    };
    let prepared = match platform.workflow_of_run(&journal, &args.run) {
        Ok(prepared) => prepared,
        Err(e) => return unusable(e.to_string()),
    };
    let decisions = ResumeDecisions { rerun: args.rerun, skip: args.skip };
    let control = RunControl::new(&prepared);
    let running =
        platform.resume_workflow(&journal, &prepared, &args.run, &control, RunOptions::default(), &decisions);
    let outcome = drive(&control, args.json, running).await;
    report(platform, outcome, args.json)
}

pub(crate) fn runs(platform: &Platform, as_json: bool) -> ExitCode {
    let listed =
        platform.open_journal_within(LISTING_WAIT).and_then(|journal| platform.workflow_runs(&journal));
    let runs = match listed {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&runs).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let now = now_ms();
    let mut table = Table::new(&[
        ("run", Align::Left),
        ("workflow", Align::Left),
        ("status", Align::Left),
        ("steps done", Align::Right),
        ("last checkpoint", Align::Right),
        ("key", Align::Left),
    ]);
    for run in &runs {
        let status = match (run.status, &run.corrupt) {
            // This process holds the journal: a run marked running is not running anywhere.
            (Some(JournalStatus::Running), _) => "interrupted".to_owned(),
            (Some(status), _) => status.as_str().to_owned(),
            (None, Some(why)) => format!("CORRUPT ({why})"),
            (None, None) => "CORRUPT".to_owned(),
        };
        table.row(vec![
            run.run_id.clone(),
            run.workflow.clone(),
            status,
            format!("{}/{}", run.steps_done, run.step_count),
            if run.last_checkpoint_ms == 0 {
                "-".into()
            } else {
                age(now.saturating_sub(run.last_checkpoint_ms))
            },
            run.idempotency_key.clone().unwrap_or_default(),
        ]);
    }
    if runs.is_empty() {
        table.note("no journaled runs".to_owned());
    }
    table.print();
    ExitCode::SUCCESS
}

pub(crate) fn prune(platform: &Platform, args: &PruneArgs) -> ExitCode {
    let configured = platform.retention();
    let retention = Retention {
        max_runs: args.keep.unwrap_or(configured.max_runs),
        max_age_ms: args.older_than_hours.map_or(configured.max_age_ms, |h| h.saturating_mul(3_600_000)),
    };
    match platform
        .open_journal_within(LISTING_WAIT)
        .and_then(|journal| platform.prune_workflow_runs(&journal, retention))
    {
        Ok(removed) => {
            println!(
                "pruned {} finished run(s){}",
                removed.len(),
                if removed.is_empty() { String::new() } else { format!(": {}", removed.join(", ")) }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

/// `3 s ago`, `4 min ago`, `2 h ago`, `5 d ago`.
fn age(ms: u64) -> String {
    let s = ms / 1_000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3_600 => format!("{} min ago", s / 60),
        3_600..86_400 => format!("{} h ago", s / 3_600),
        _ => format!("{} d ago", s / 86_400),
    }
}
