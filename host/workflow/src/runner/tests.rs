//! The runner's settings over scripted extensions: `on_failure`, a step's `profile`,
//! `timeout_ms`, `requires` on the fallback chain, the cancel grace period, and waiting for an
//! open breaker. Each test fails when its setting is ignored.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use symphony_conductor::scripted::ScriptedInvoke;
use symphony_conductor::{
    BreakerPolicy, Conductor, ConductorConfig, Invoke, ResilienceProfile, RetryPolicy, SystemClock,
};
use symphony_types::error::{CallError, ConductorError, ExtensionError};
use symphony_types::manifest::Priority;
use symphony_types::payload::Payload;

use crate::catalog::{CallTarget, Catalog, CatalogError, ExtensionInfo};
use crate::check::WorkflowLimits;
use crate::definition::WorkflowDefinition;
use crate::prepared::PreparedWorkflow;
use crate::run_result::{RunResult, RunStatus, StepStatus};
use crate::runner::{RunControl, RunOptions};

/// Scripted extensions by name, each with its features.
#[derive(Default)]
struct Fakes(HashMap<String, (Arc<ScriptedInvoke>, Vec<String>)>);

impl Fakes {
    fn with(mut self, name: &str, features: &[&str], fake: ScriptedInvoke) -> Self {
        let features = features.iter().map(|f| (*f).to_owned()).collect();
        self.0.insert(name.to_owned(), (Arc::new(fake), features));
        self
    }

    fn get(&self, name: &str) -> Arc<ScriptedInvoke> {
        self.0.get(name).map(|(f, _)| Arc::clone(f)).unwrap_or_else(|| panic!("no fake {name}"))
    }
}

impl Catalog for Fakes {
    fn describe(&self, reference: &str) -> Result<Arc<ExtensionInfo>, CatalogError> {
        let (fake, features) = self
            .0
            .get(reference)
            .ok_or_else(|| CatalogError::NotFound { reference: reference.to_owned(), did_you_mean: None })?;
        Ok(Arc::new(ExtensionInfo {
            id: fake.id(),
            name: reference.to_owned(),
            features: features.clone(),
            input_schema: None,
            output_schema: None,
            expected_latency_ms: None,
            idempotent: true,
        }))
    }

    fn load(&self, reference: &str) -> Result<CallTarget, CatalogError> {
        let info = self.describe(reference)?;
        let (fake, _) = &self.0[reference];
        // Declared essential: what a run's priority cap lowers (no test conductor has a pool).
        let demand = Some(symphony_conductor::Demand::new(1, 1, Priority::Essential));
        Ok(CallTarget { info, invoker: Arc::clone(fake) as Arc<dyn Invoke>, demand })
    }
}

fn ok(value: Value) -> Result<Payload, CallError> {
    Ok(Payload::json(&value).unwrap_or_else(|e| panic!("{e}")))
}

fn fails(error: ExtensionError) -> impl Fn() -> Result<Payload, CallError> + Send + Sync + 'static {
    move || Err(CallError::Guest(error.clone()))
}

fn unavailable() -> ExtensionError {
    ExtensionError::Unavailable { message: "down".into(), retry_after_ms: None }
}

fn fatal() -> ExtensionError {
    ExtensionError::Internal { message: "bug".into() }
}

fn conductor(config: ConductorConfig) -> Conductor {
    Conductor::from_config(Arc::new(SystemClock::default()), config)
}

fn quick_retries() -> ConductorConfig {
    let mut config = ConductorConfig::default();
    for profile in config.profiles.values_mut() {
        profile.retry = profile.retry.base_backoff_ms(1).max_backoff_ms(2);
    }
    config
}

async fn run_with(
    fakes: &Fakes,
    conductor: &Conductor,
    text: &str,
    options: RunOptions,
    during: impl FnOnce(RunControl),
) -> RunResult {
    let definition = WorkflowDefinition::parse(Path::new("wf.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    let prepared = PreparedWorkflow::prepare(
        Arc::new(definition),
        fakes,
        conductor.config(),
        &WorkflowLimits::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let control = RunControl::new(&prepared);
    during(control.clone());
    let input = Payload::json(&json!({"in": 1})).unwrap_or_else(|e| panic!("{e}"));
    prepared.run(conductor, input, &control, options).await
}

async fn run(fakes: &Fakes, conductor: &Conductor, text: &str) -> RunResult {
    run_with(fakes, conductor, text, RunOptions::default(), |_| {}).await
}

fn status(result: &RunResult, id: &str) -> StepStatus {
    result.step(id).map_or_else(|| panic!("no step {id}"), |s| s.status)
}

#[tokio::test]
async fn skip_hands_on_the_default_and_continue_only_marks_the_step_failed() {
    let fakes = Fakes::default()
        .with("broken", &[], ScriptedInvoke::new("broken@1.0.0").otherwise(fails(fatal())))
        .with("echo", &[], ScriptedInvoke::new("echo@1.0.0").otherwise(|| ok(json!({"echoed": true}))));
    let text = r#"name = "w"
[[steps]]
id = "a"
extension = "broken"
on_failure = "skip"
default = { x = 1 }
[[steps]]
id = "b"
extension = "echo"
needs = ["a"]
[[steps]]
id = "c"
extension = "broken"
on_failure = "continue"
"#;
    let result = run(&fakes, &conductor(quick_retries()), text).await;
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(status(&result, "a"), StepStatus::Skipped);
    assert_eq!(result.step("a").and_then(|s| s.output.clone()), Some(json!({"x": 1})));
    assert_eq!(status(&result, "b"), StepStatus::Ok);
    assert_eq!(status(&result, "c"), StepStatus::Failed);
    assert_eq!(fakes.get("echo").calls(), 1);
}

#[tokio::test]
async fn fail_stops_the_run_and_says_what_it_blocked() {
    let fakes = Fakes::default()
        .with("broken", &[], ScriptedInvoke::new("broken@1.0.0").otherwise(fails(fatal())))
        .with("echo", &[], ScriptedInvoke::new("echo@1.0.0").otherwise(|| ok(json!({}))));
    let text = "name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"broken\"\n[[steps]]\nid = \"b\"\nextension = \"echo\"\nneeds = [\"a\"]\n[[steps]]\nid = \"c\"\nextension = \"echo\"\nneeds = [\"b\"]\n";
    let result = run(&fakes, &conductor(quick_retries()), text).await;
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.step("a").map(|s| s.blocked.clone()), Some(vec!["b".to_owned(), "c".to_owned()]));
    assert_eq!(result.step("c").and_then(|s| s.blocked_by.clone()).as_deref(), Some("a"));
    assert_eq!(fakes.get("echo").calls(), 0);
}

#[tokio::test]
async fn a_steps_profile_decides_its_retries() {
    let text =
        |profile: &str| format!("name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"flaky\"\n{profile}\n");
    for (profile, attempts) in [("", 3), ("profile = \"tolerant\"", 2), ("profile = \"critical\"", 5)] {
        let fakes = Fakes::default().with(
            "flaky",
            &[],
            ScriptedInvoke::new("flaky@1.0.0").otherwise(fails(unavailable())),
        );
        let result = run(&fakes, &conductor(quick_retries()), &text(profile)).await;
        assert_eq!(fakes.get("flaky").calls(), attempts, "{profile:?}");
        assert_eq!(result.step("a").map(|s| s.attempts.len()), Some(attempts as usize), "{profile:?}");
    }
}

#[tokio::test]
async fn timeout_ms_bounds_the_whole_step() {
    let closed = Arc::new(Semaphore::new(0));
    let fakes = Fakes::default().with("stuck", &[], ScriptedInvoke::new("stuck@1.0.0").gate(closed));
    let text = "name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"stuck\"\ntimeout_ms = 30\n";
    let result = run(&fakes, &conductor(quick_retries()), text).await;
    assert_eq!(status(&result, "a"), StepStatus::Failed);
    let error = result.step("a").and_then(|s| s.error.as_ref()).map(|e| &e.error);
    assert!(
        matches!(
            error,
            Some(CallError::Conductor(ConductorError::RequestDeadlineExceeded { limit_ms: 30, .. }))
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn requires_skips_fallbacks_without_the_feature() {
    let cannot = ExtensionError::UnableToComplete { message: "no".into() };
    let fakes = Fakes::default()
        .with("primary", &["f"], ScriptedInvoke::new("primary@1.0.0").otherwise(fails(cannot)))
        .with("lacking", &[], ScriptedInvoke::new("lacking@1.0.0").otherwise(|| ok(json!("lacking"))))
        .with("capable", &["f"], ScriptedInvoke::new("capable@1.0.0").otherwise(|| ok(json!("capable"))));
    let text = r#"name = "w"
[[steps]]
id = "a"
extension = "primary"
requires = ["f"]
fallback = [{ extension = "lacking" }, { extension = "capable" }]
"#;
    let result = run(&fakes, &conductor(quick_retries()), text).await;
    assert_eq!(result.step("a").and_then(|s| s.served_by.clone()).as_deref(), Some("capable@1.0.0"));
    assert_eq!((fakes.get("lacking").calls(), fakes.get("capable").calls()), (0, 1));
    assert_eq!(result.output, Some(json!("capable")));
}

#[tokio::test]
async fn a_step_ignoring_the_cancel_is_dropped_after_the_grace_period() {
    let closed = Arc::new(Semaphore::new(0));
    let fakes = Fakes::default().with("stuck", &[], ScriptedInvoke::new("stuck@1.0.0").gate(closed));
    let text = "name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"stuck\"\n";
    let options = RunOptions { cancel_grace_ms: 5, ..RunOptions::default() };
    let result = run_with(&fakes, &conductor(quick_retries()), text, options, |control| {
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            control.cancel();
        });
    })
    .await;
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(status(&result, "a"), StepStatus::Cancelled);
    assert_eq!(result.step("a").map(|s| s.output.is_none()), Some(true));
}

#[tokio::test]
async fn a_step_with_a_timeout_waits_for_an_open_breaker_and_then_succeeds() {
    let mut config = quick_retries();
    let breaker =
        BreakerPolicy::default().minimum_calls(2).failure_ratio(0.5).open_ms(40).half_open_probes(1);
    config.profiles.insert(
        "fragile".into(),
        ResilienceProfile { retry: RetryPolicy::default().max_attempts(1), breaker },
    );
    let fake = ScriptedInvoke::new("fragile@1.0.0")
        .replies([fails(unavailable())(), fails(unavailable())()])
        .otherwise(|| ok(json!("recovered")));
    let fakes = Fakes::default().with("fragile", &[], fake);
    let conductor = conductor(config);
    let target = fakes.get("fragile");
    for _ in 0..2 {
        let request =
            symphony_types::payload::CallRequest::json(&json!({})).unwrap_or_else(|e| panic!("{e}"));
        let _ = conductor.call_profile("fragile", target.as_ref(), None, request).await;
    }
    let text = "name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"fragile\"\nprofile = \"fragile\"\ntimeout_ms = 5000\n";
    let result = run(&fakes, &conductor, text).await;
    let step = result.step("a").unwrap_or_else(|| panic!("step a"));
    assert_eq!(step.status, StepStatus::Ok, "{step:?}");
    assert_eq!(step.attempts.first().and_then(|a| a.error_kind), Some("circuit_open"));
    assert!(step.waited_ms > 0);
    assert_eq!(result.output, Some(json!("recovered")));
}

#[tokio::test]
async fn a_runs_priority_cap_lowers_each_steps_declared_class_to_it() {
    let fakes = Fakes::default().with("e", &[], ScriptedInvoke::new("e@1.0.0").otherwise(|| ok(json!(1))));
    let text = "name = \"w\"\n[[steps]]\nid = \"a\"\nextension = \"e\"\n";
    let conductor = conductor(quick_retries());
    for (cap, seen) in [
        (None, None),
        (Some(Priority::Optional), Some(Priority::Optional)),
        (Some(Priority::Recommended), Some(Priority::Recommended)),
        (Some(Priority::Essential), Some(Priority::Essential)),
    ] {
        let options = RunOptions { priority_cap: cap, ..RunOptions::default() };
        let result = run_with(&fakes, &conductor, text, options, |_| {}).await;
        assert_eq!(result.status, RunStatus::Succeeded);
        let last = fakes.get("e").seen().last().map(|call| call.priority);
        assert_eq!(last, Some(seen), "cap {cap:?}");
    }
}
