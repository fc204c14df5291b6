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

/// The sample platform over a state directory of its own (so it has a journal).
fn platform(state: &Path, extra_dir: Option<&Path>) -> Platform {
    let mut config = PlatformConfig::load_file(&workspace_root().join("sample-extensions/symphony.toml"))
        .expect("sample config");
    if let Some(dir) = extra_dir {
        config.extension_dirs.push(dir.to_path_buf());
        config.capabilities.rules.push(CapabilityRule {
            extensions: vec!["poster".into()],
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
    // `poster`: the sleeper component under a manifest that says a second call is not harmless.
    let extra = tempfile::tempdir().expect("tempdir");
    let poster = extra.path().join("poster");
    std::fs::create_dir_all(&poster).expect("mkdir");
    let component = workspace_root().join("sample-extensions/sleeper/sleeper.wasm");
    std::fs::write(
        poster.join("extension.toml"),
        format!(
            "name = \"poster\"\nversion = \"1.0.0\"\ncomponent = {:?}\nidempotent = false\n[limits]\nfuel = 10_000_000\ndeadline_ms = 20_000\n[capabilities]\nclocks = true\n",
            component.display().to_string()
        ),
    )
    .expect("manifest");
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
extension = "poster"
needs = ["first"]
input = { ms = 5_000 }
"#,
        ))
        .expect("prepares");

    // The host "dies" while `post` is in flight: the run future is dropped mid-call.
    let control = RunControl::new(&workflow);
    let options = DurableOptions::default();
    let input = Payload::json(&json!({})).expect("input");
    let running =
        platform.run_workflow_durable(&journal, &workflow, input, &control, RunOptions::default(), &options);
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
    let run_id = runs[0].run_id.clone();
    assert_eq!(runs[0].status, Some(JournalStatus::Running), "interrupted, as after a crash");

    let resume = |decisions: ResumeDecisions| {
        let control = RunControl::new(&workflow);
        let (platform, journal, workflow, run_id) = (&platform, &journal, &workflow, run_id.clone());
        async move {
            platform
                .resume_workflow(journal, workflow, &run_id, &control, RunOptions::default(), &decisions)
                .await
        }
    };
    let refused = resume(ResumeDecisions::default()).await;
    match refused {
        Err(DurableError::Indeterminate { steps, .. }) => {
            assert_eq!(steps.len(), 1);
            assert_eq!((steps[0].step.as_str(), steps[0].attempt), ("post", 1));
        }
        other => panic!("expected indeterminate, got {other:?}"),
    }
    assert_eq!(calls(&platform, "poster@1.0.0"), 0, "nothing ran");
    let wrong = resume(ResumeDecisions { rerun: vec!["first".into()], skip: Vec::new() }).await;
    assert!(
        matches!(wrong, Err(DurableError::NotIndeterminate { ref step, .. }) if step == "first"),
        "{wrong:?}"
    );

    let skipped = ran(resume(ResumeDecisions { rerun: Vec::new(), skip: vec!["post".into()] }).await);
    assert_eq!(skipped.status, RunStatus::Succeeded, "{skipped:?}");
    let post = skipped.step("post").expect("post");
    assert_eq!(
        (post.status, post.served_by.as_deref(), post.resumed),
        (StepStatus::Skipped, Some("operator"), true)
    );
    assert_eq!(calls(&platform, "poster@1.0.0"), 0, "skipping never calls it");
    assert!(skipped.step("first").expect("first").resumed);
}
