//! Workflows over real components on the real platform: a data contract broken between two real
//! extensions is caught before the consumer runs (its fuel stays 0), counts against the
//! producer's health and is routed to the fallback; a cancel stops a run with finished outputs
//! kept, in-flight guests seeing `cancelled()`, and the reservation pool empty afterwards.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use symphony_host::config::PlatformConfig;
use symphony_host::workflow::{
    RunControl, RunOptions, RunResult, RunStatus, StepPhase, StepStatus, WorkflowDefinition,
};
use symphony_host::{CallError, ConductorError, Payload, Platform, Runtime};
use symphony_tests::workspace_root;

/// The sample platform (its policy grants `batch` the clock), health in memory.
fn platform() -> Platform {
    let config = PlatformConfig::load_file(&workspace_root().join("sample-extensions/symphony.toml"))
        .expect("sample config");
    let runtime = Runtime::new(config).expect("engine").allow_unpinned();
    Platform::from_runtime(runtime).expect("platform")
}

fn definition(text: &str) -> WorkflowDefinition {
    WorkflowDefinition::parse(Path::new("inline.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// extract → summarize (release 2 first) → format-report, with the given fallback chain.
fn report_workflow(fallback: &str) -> WorkflowDefinition {
    definition(&format!(
        r#"name = "edge"
[[steps]]
id = "extract"
extension = "extract"

[[steps]]
id = "summarize"
extension = "summarize@2.0.0"
needs = ["extract"]
input = {{ text = "$steps.extract/body" }}
fallback = {fallback}

[[steps]]
id = "format"
extension = "format-report"
needs = ["extract", "summarize"]
input = {{ title = "$steps.extract/title", summary = "$steps.summarize" }}
"#
    ))
}

async fn run(platform: &Platform, workflow: WorkflowDefinition, input: Value) -> RunResult {
    let prepared = platform.prepare_workflow(workflow).unwrap_or_else(|e| panic!("{e}"));
    let control = RunControl::new(&prepared);
    let input = Payload::json(&input).expect("input");
    platform.run_workflow(&prepared, input, &control, RunOptions::default()).await
}

/// A document whose body has no keyword: summarize 2.0.0 answers `"keywords": null`.
fn edge_document() -> Value {
    json!({"document": "# Memo\nIt is on. We go at six."})
}

#[tokio::test]
async fn a_broken_contract_never_reaches_the_consumer_and_counts_against_the_producer() {
    let platform = platform();
    let result = run(&platform, report_workflow("[]"), edge_document()).await;
    assert_eq!(result.status, RunStatus::Failed);
    let summarize = result.step("summarize").expect("summarize");
    assert_eq!(summarize.status, StepStatus::Failed);
    assert_eq!(summarize.served_by.as_deref(), Some("summarize@2.0.0"));
    assert!(summarize.usage.fuel > 0, "the producer ran");
    match summarize.error.as_ref().map(|e| &e.error) {
        Some(CallError::Conductor(ConductorError::ContractViolation { from, to, pointer, .. })) => {
            assert_eq!((from.as_str(), to.as_str(), pointer.as_str()), ("summarize", "format", "/keywords"));
        }
        other => panic!("expected a contract violation, got {other:?}"),
    }
    assert_eq!(summarize.blocked, ["format"]);
    let format = result.step("format").expect("format");
    assert_eq!(format.status, StepStatus::NotRun);
    assert_eq!(format.usage.fuel, 0, "the consumer guest never ran");
    assert_eq!(format.attempts.len(), 0);
    assert_eq!(format.blocked_by.as_deref(), Some("summarize"));

    let health = platform.monitor().expect("monitor").report(&["summarize@2.0.0".to_owned()], None);
    let producer = health.iter().find(|h| h.extension == "summarize@2.0.0").expect("producer health");
    assert_eq!((producer.calls, producer.failures), (1, 1));
    assert_eq!(producer.errors.get("contract_violation"), Some(&1));
}

#[tokio::test]
async fn a_broken_contract_is_routed_to_the_fallback_which_serves() {
    let platform = platform();
    let result =
        run(&platform, report_workflow(r#"[{ extension = "summarize@1.0.0" }]"#), edge_document()).await;
    assert_eq!(result.status, RunStatus::Succeeded, "{result:?}");
    let summarize = result.step("summarize").expect("summarize");
    assert_eq!(summarize.served_by.as_deref(), Some("summarize@1.0.0"));
    assert!(summarize.fallback);
    let kinds: Vec<Option<&str>> = summarize.attempts.iter().map(|a| a.error_kind).collect();
    assert_eq!(kinds, [Some("contract_violation"), None]);
    let format = result.step("format").expect("format");
    assert_eq!(format.status, StepStatus::Ok);
    assert_eq!(format.attempts.len(), 1, "the consumer ran once, on the fallback's output");
    assert_eq!(
        result.output.as_ref().and_then(|o| o["report"].as_str()),
        Some("# Memo\n\nIt is on.\n\nWords: 7\n")
    );
}

#[tokio::test]
async fn a_cancel_keeps_finished_outputs_stops_guests_and_empties_the_pool() {
    let platform = platform();
    let workflow = definition(
        r#"name = "long"
[[steps]]
id = "quick"
extension = "echo"

[[steps]]
id = "left"
extension = "batch"
needs = ["quick"]
input = { items = 500, item_ms = 20 }

[[steps]]
id = "right"
extension = "batch"
needs = ["quick"]
input = { items = 500, item_ms = 20 }

[[steps]]
id = "after"
extension = "echo"
needs = ["left", "right"]
input = { left = "$steps.left", right = "$steps.right" }
"#,
    );
    let prepared = platform.prepare_workflow(workflow).unwrap_or_else(|e| panic!("{e}"));
    let control = RunControl::new(&prepared);
    let input = Payload::json(&json!({"hello": "world"})).expect("input");
    let watcher = control.clone();
    let cancel_when_both_report = async move {
        // Wait until both long steps' guests have reported progress, then cancel.
        for _ in 0..2_000 {
            let snapshot = watcher.progress().snapshot();
            let reporting =
                snapshot.steps.iter().filter(|s| s.phase == StepPhase::Running && s.fraction > Some(0.0));
            if reporting.count() == 2 {
                let left = &snapshot.steps[1];
                assert!(left.message.starts_with("item "), "the guest's own message: {left:?}");
                assert_eq!(left.estimate_ms, Some(500), "the manifest's expected latency until a baseline");
                watcher.cancel();
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the long steps never reported progress");
    };
    let (result, ()) = tokio::join!(
        platform.run_workflow(&prepared, input, &control, RunOptions::default()),
        cancel_when_both_report
    );

    assert_eq!(result.status, RunStatus::Cancelled);
    let quick = result.step("quick").expect("quick");
    assert_eq!(quick.status, StepStatus::Ok);
    assert_eq!(quick.output, Some(json!({"hello": "world"})), "finished output kept");
    for id in ["left", "right"] {
        let step = result.step(id).expect("long step");
        assert_eq!(step.status, StepStatus::Cancelled, "{step:?}");
        let output = step.output.as_ref().expect("what the guest returned when it saw the cancel");
        assert_eq!(output["cancelled"], true, "the guest saw cancelled(): {output}");
        assert!(output["done"].as_u64() < Some(500), "{output}");
    }
    let after = result.step("after").expect("after");
    assert_eq!((after.status, after.usage.fuel), (StepStatus::NotRun, 0));
    let pool = platform.conductor().pool().expect("the platform reserves from a pool");
    assert_eq!(pool.in_use(), (0, 0), "every reservation was released");
}
