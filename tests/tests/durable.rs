//! Durable runs in process, over real components: a run stopped part-way and resumed never
//! calls a completed step's guest again (call counts and fuel say so), and a started step of a
//! non-idempotent extension stops the resume as `indeterminate` until an operator decides.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use symphony_host::config::PlatformConfig;
use symphony_host::state::StateDir;
use symphony_host::types::capability::CapabilityRule;
use symphony_host::workflow::{
    DurableError, DurableOptions, DurableOutcome, JournalStatus, ResumeDecisions, RunControl, RunOptions,
    RunResult, RunStatus, StepPhase, StepStatus, WorkflowDefinition,
};
use symphony_host::{Payload, Platform, Runtime};
use symphony_tests::workspace_root;

/// The sample platform over a state directory of its own (so it has a journal); with
/// `extra_dir`, its extensions are that directory's instead, and sleeper may use the clock.
fn platform(state: &Path, extra_dir: Option<&Path>) -> Platform {
    let mut config = PlatformConfig::load_file(&workspace_root().join("sample-extensions/symphony.toml"))
        .expect("sample config");
    if let Some(dir) = extra_dir {
        config.extension_dirs = vec![dir.to_path_buf()];
        config.capabilities.rules.push(CapabilityRule {
            extensions: vec!["sleeper".into()],
            clocks: true,
            ..CapabilityRule::default()
        });
    }
    let runtime = Runtime::new(config)
        .expect("engine")
        .allow_unpinned()
        .with_state(StateDir::open(state).expect("state"));
    Platform::from_runtime(runtime).expect("platform")
}

fn definition(text: &str) -> WorkflowDefinition {
    WorkflowDefinition::parse(Path::new("durable.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

fn calls(platform: &Platform, id: &str) -> u64 {
    let monitor = platform.conductor().monitor().expect("the platform watches health");
    monitor.report(&[id.to_owned()], None).first().map_or(0, |h| h.calls)
}

fn ran(outcome: Result<DurableOutcome, DurableError>) -> RunResult {
    match outcome {
        Ok(DurableOutcome::Ran(result)) => result,
        other => panic!("expected a run, got {other:?}"),
    }
}

/// Resolves once step `index` is running and its guest has reported progress.
async fn when_reporting(control: &RunControl, index: usize) {
    for _ in 0..4_000 {
        let snapshot = control.progress().snapshot();
        if snapshot.steps[index].phase == StepPhase::Running && snapshot.steps[index].fraction > Some(0.0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("step {index} never reported progress");
}

#[tokio::test]
async fn a_resumed_run_never_calls_a_completed_step_again() {
    let state = tempfile::tempdir().expect("tempdir");
    let platform = platform(state.path(), None);
    let journal = platform.open_journal().expect("journal");
    let workflow = platform
        .prepare_workflow(definition(
            r#"name = "resumable"
[[steps]]
id = "first"
extension = "echo"

[[steps]]
id = "slow"
extension = "batch"
needs = ["first"]
input = { items = 20, item_ms = 20 }

[[steps]]
id = "last"
extension = "echo"
needs = ["first", "slow"]
input = { first = "$steps.first", slow = "$steps.slow/done" }
"#,
        ))
        .expect("prepares");
    let control = RunControl::new(&workflow);
    let options = DurableOptions::default();
    let input = Payload::json(&json!({"n": 1})).expect("input");
    let running =
        platform.run_workflow_durable(&journal, &workflow, input, &control, RunOptions::default(), &options);
    let cancel = async {
        when_reporting(&control, 1).await;
        control.cancel();
    };
    let (outcome, ()) = tokio::join!(running, cancel);
    let stopped = ran(outcome);
    assert_eq!(stopped.status, RunStatus::Cancelled);
    let run_id = stopped.run_id.clone().expect("journaled");
    let first = stopped.step("first").expect("first");
    assert_eq!(first.status, StepStatus::Ok);
    assert_eq!(journal.load(&run_id).expect("intact").run.status, JournalStatus::Cancelled);
    let (echo_calls, batch_calls) = (calls(&platform, "echo@1.0.0"), calls(&platform, "batch@1.0.0"));
    assert_eq!((echo_calls, batch_calls), (1, 1));

    let control = RunControl::new(&workflow);
    let resumed = ran(platform
        .resume_workflow(
            &journal,
            &workflow,
            &run_id,
            &control,
            RunOptions::default(),
            &ResumeDecisions::default(),
        )
        .await);
    assert_eq!(resumed.status, RunStatus::Succeeded, "{resumed:?}");
    let again = resumed.step("first").expect("first");
    assert!(again.resumed && again.attempts.is_empty(), "taken from the journal: {again:?}");
    assert_eq!(again.usage.fuel, first.usage.fuel, "the fuel it burnt the first time, not new fuel");
    assert_eq!(again.output, first.output);
    assert!(!resumed.step("slow").expect("slow").resumed, "a cancelled step runs again");
    assert_eq!(resumed.output, Some(json!({"first": {"n": 1}, "slow": 20})));
    // echo ran once more (for `last`), never again for `first`; batch ran once more.
    assert_eq!((calls(&platform, "echo@1.0.0"), calls(&platform, "batch@1.0.0")), (2, 2));
    let loaded = journal.load(&run_id).expect("intact");
    assert_eq!(loaded.run.status, JournalStatus::Succeeded);
    assert_eq!(loaded.run.resumes, 1);
    let first_started = loaded.started.iter().find(|(s, _)| s == "first").map(|(_, r)| r.attempt);
    assert_eq!(first_started, Some(1), "started once in all");

    // A finished run resumed again answers its committed result and calls nothing.
    let control = RunControl::new(&workflow);
    let finished = platform
        .resume_workflow(
            &journal,
            &workflow,
            &run_id,
            &control,
            RunOptions::default(),
            &ResumeDecisions::default(),
        )
        .await;
    assert!(
        matches!(finished, Ok(DurableOutcome::Finished { status: JournalStatus::Succeeded, .. })),
        "{finished:?}"
    );
    assert_eq!(calls(&platform, "echo@1.0.0"), 2);
}

#[tokio::test]
async fn a_started_non_idempotent_step_stops_the_resume_until_an_operator_decides() {
    let state = tempfile::tempdir().expect("tempdir");
    // The platform sees copies of echo's and sleeper's manifests (their real components),
    // sleeper's saying a second call is not harmless.
    let extra = tempfile::tempdir().expect("tempdir");
    for (name, idempotent) in [("echo", true), ("sleeper", false)] {
        let sample = workspace_root().join("sample-extensions").join(name);
        let text = std::fs::read_to_string(sample.join("extension.toml")).expect("sample manifest");
        let component = sample.join(format!("{name}.wasm"));
        let mut copied: Vec<String> = text
            .lines()
            .map(|line| {
                if line.starts_with("component = ") {
                    format!("component = {:?}", component.display().to_string())
                } else {
                    line.to_owned()
                }
            })
            .collect();
        if !idempotent {
            copied.insert(1, "idempotent = false".to_owned());
        }
        let dir = extra.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("extension.toml"), copied.join("\n")).expect("manifest");
    }
    let platform = platform(state.path(), Some(extra.path()));
    let journal = platform.open_journal().expect("journal");
    let workflow = platform
        .prepare_workflow(definition(
            r#"name = "posting"
[[steps]]
id = "first"
extension = "echo"

[[steps]]
id = "post"
extension = "sleeper"
needs = ["first"]
input = { ms = 400 }
"#,
        ))
        .expect("prepares");

    let run_id = crash_while_posting(&platform, &journal, &workflow).await;
    let resume = |run_id: &str, decisions: ResumeDecisions| {
        let control = RunControl::new(&workflow);
        let (platform, journal, workflow, run_id) = (&platform, &journal, &workflow, run_id.to_owned());
        async move {
            platform
                .resume_workflow(journal, workflow, &run_id, &control, RunOptions::default(), &decisions)
                .await
        }
    };
    let post_attempts = |run_id: &str| {
        let started = journal.load(run_id).expect("intact").started;
        started.iter().find(|(s, _)| s == "post").map(|(_, r)| r.attempt)
    };
    let refused = resume(&run_id, ResumeDecisions::default()).await;
    match refused {
        Err(DurableError::Indeterminate { steps, .. }) => {
            assert_eq!(steps.len(), 1);
            assert_eq!((steps[0].step.as_str(), steps[0].attempt), ("post", 1));
        }
        other => panic!("expected indeterminate, got {other:?}"),
    }
    assert_eq!(post_attempts(&run_id), Some(1), "nothing started it again");
    let wrong = resume(&run_id, ResumeDecisions { rerun: vec!["first".into()], skip: Vec::new() }).await;
    assert!(
        matches!(wrong, Err(DurableError::NotIndeterminate { ref step, .. }) if step == "first"),
        "{wrong:?}"
    );

    let skipped =
        ran(resume(&run_id, ResumeDecisions { rerun: Vec::new(), skip: vec!["post".into()] }).await);
    assert_eq!(skipped.status, RunStatus::Succeeded, "{skipped:?}");
    let post = skipped.step("post").expect("post");
    assert_eq!(
        (post.status, post.served_by.as_deref(), post.resumed),
        (StepStatus::Skipped, Some("operator"), true)
    );
    assert_eq!(post_attempts(&run_id), Some(1), "skipping never calls it");
    assert_eq!(post.usage.fuel, 0);
    assert!(skipped.step("first").expect("first").resumed);

    // Another run, interrupted the same way; this time the operator says a second call is safe.
    let second = crash_while_posting(&platform, &journal, &workflow).await;
    let rerun = ran(resume(&second, ResumeDecisions { rerun: vec!["post".into()], skip: Vec::new() }).await);
    assert_eq!(rerun.status, RunStatus::Succeeded, "{rerun:?}");
    let post = rerun.step("post").expect("post");
    assert_eq!(
        (post.status, post.resumed, post.output.clone()),
        (StepStatus::Ok, false, Some(json!({"slept_ms": 400})))
    );
    assert_eq!((post.attempts.len(), post.usage.fuel > 0), (1, true), "run again, once");
    assert_eq!(post_attempts(&second), Some(2), "started twice in all: once before the crash, once now");
}

#[tokio::test]
async fn finished_runs_beyond_the_configured_retention_are_pruned_and_a_reused_key_is_refused() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = PlatformConfig::load_file(&workspace_root().join("sample-extensions/symphony.toml"))
        .expect("sample config");
    config.workflows.retain_runs = 2;
    config.workflows.retain_for_hours = 2;
    let runtime = Runtime::new(config)
        .expect("engine")
        .allow_unpinned()
        .with_state(StateDir::open(state.path()).expect("state"));
    let platform = Platform::from_runtime(runtime).expect("platform");
    assert_eq!(platform.retention().max_age_ms, 2 * 3_600_000, "retain_for_hours, in milliseconds");
    let journal = platform.open_journal().expect("journal");
    let workflow = platform
        .prepare_workflow(definition("name = \"once\"\n[[steps]]\nid = \"a\"\nextension = \"echo\"\n"))
        .expect("prepares");
    for n in 0..4 {
        let control = RunControl::new(&workflow);
        let options = DurableOptions { idempotency_key: Some(format!("k{n}")), ..DurableOptions::default() };
        let input = Payload::json(&json!({"n": n})).expect("input");
        let result = ran(platform
            .run_workflow_durable(&journal, &workflow, input, &control, RunOptions::default(), &options)
            .await);
        assert_eq!(result.status, RunStatus::Succeeded);
    }
    let kept = journal.runs().expect("runs");
    assert_eq!(kept.len(), 2, "retain_runs = 2: {kept:?}");
    assert_eq!(kept[0].idempotency_key.as_deref(), Some("k3"), "the newest are kept");

    let control = RunControl::new(&workflow);
    let options = DurableOptions { idempotency_key: Some("k3".into()), ..DurableOptions::default() };
    let other = Payload::json(&json!({"n": 99})).expect("input");
    let reused = platform
        .run_workflow_durable(&journal, &workflow, other, &control, RunOptions::default(), &options)
        .await;
    assert!(matches!(reused, Err(DurableError::KeyReused { ref key, .. }) if key == "k3"), "{reused:?}");
}

/// Start a durable run of `workflow` and drop it ("the host dies") while its `post` step is in
/// flight; the run's id.
async fn crash_while_posting(
    platform: &Platform,
    journal: &symphony_host::workflow::Journal,
    workflow: &symphony_host::workflow::PreparedWorkflow,
) -> String {
    let control = RunControl::new(workflow);
    let options = DurableOptions::default();
    let input = Payload::json(&json!({})).expect("input");
    let running =
        platform.run_workflow_durable(journal, workflow, input, &control, RunOptions::default(), &options);
    let crash = async {
        for _ in 0..4_000 {
            if control.progress().snapshot().steps[1].phase == StepPhase::Running {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("post never started");
    };
    tokio::select! {
        outcome = running => panic!("the run should still be in flight: {outcome:?}"),
        () = crash => {}
    }
    let runs = journal.runs().expect("runs");
    let interrupted =
        runs.iter().find(|r| r.status == Some(JournalStatus::Running)).expect("an interrupted run");
    assert_eq!(interrupted.steps_done, 1, "first committed, post not");
    interrupted.run_id.clone()
}
