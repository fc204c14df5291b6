//! The workflow runs API of `symphony serve`, every run durable in the platform's journal
//! (which serve holds for its lifetime):
//!
//! - `POST /v1/workflows/{name}/runs` (body: the input; optional `Idempotency-Key`, scoped to the
//!   tenant) → `202 {"run_id", "status": "running"}`; the same key again answers the same run;
//! - `GET /v1/runs/{id}` → live progress while it runs, its result once it ended (from memory,
//!   or from the journal for runs of an earlier process);
//! - `POST /v1/runs/{id}/cancel` → `202`; the run is journaled `cancelled`, resumable;
//! - `POST /v1/runs/{id}/resume` (optional body `{"rerun": [..], "skip": [..]}`) → `202`.
//!
//! A tenant sees only its own runs: another tenant's run id answers `404`, exactly like an
//! unknown one. On SIGTERM every live run is cancelled (checkpointed), so it resumes later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api_error::{ApiError, Refusal};
use super::routes::{AppState, read_body, valid_name};
use super::tenant_gate::{RunSlot, Tenant};
use symphony_host::workflow::checkpoints::new_run_id;
use symphony_host::workflow::{
    DurableError, DurableOptions, DurableOutcome, JournalError, PreparedWorkflow, ResumeDecisions,
    RunControl, RunOptions,
};
use symphony_types::payload::{JSON_CONTENT_TYPE, Payload};

/// A run this process is running, or ran.
struct LiveRun {
    owner: Option<String>,
    workflow: String,
    control: RunControl,
    /// Its result, once it ended.
    result: Option<Value>,
}

/// The runs of this process.
#[derive(Default)]
pub(crate) struct Runs {
    live: Mutex<HashMap<String, LiveRun>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Runs {
    /// Whether run `id` is going on in this process.
    fn is_running(&self, id: &str) -> bool {
        self.live.lock().unwrap_or_else(PoisonError::into_inner).get(id).is_some_and(|r| r.result.is_none())
    }

    /// The progress of `owner`'s running runs.
    pub(crate) fn progress_of(&self, owner: Option<&str>) -> Vec<Value> {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, run)| run.result.is_none() && run.owner.as_deref() == owner)
            .map(|(id, run)| json!({"run_id": id, "workflow": run.workflow, "progress": run.control.progress().snapshot()}))
            .collect()
    }

    /// Cancel every run still going (each is journaled `cancelled` and resumable), and hand back
    /// their tasks to wait on.
    pub(crate) fn cancel_all(&self) -> Vec<tokio::task::JoinHandle<()>> {
        for run in self.live.lock().unwrap_or_else(PoisonError::into_inner).values() {
            if run.result.is_none() {
                run.control.cancel();
            }
        }
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The calling tenant (none when the gate is open) and its id, which runs are owned by.
fn caller<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
) -> Result<(Option<&'s Tenant>, Option<String>), ApiError> {
    let tenant = state.gate().authenticate(headers)?;
    Ok((tenant, tenant.map(|t| t.id().to_owned())))
}

fn refused(refusal: Refusal, message: impl Into<String>) -> ApiError {
    ApiError::refused(refusal, message)
}

fn unknown_run(id: &str) -> ApiError {
    refused(Refusal::UnknownRun, format!("no run `{id}`"))
}

fn journal_error(error: &JournalError) -> ApiError {
    match error {
        JournalError::UnknownRun { run_id } => unknown_run(run_id),
        other => refused(Refusal::Journal, other.to_string()),
    }
}

/// The JSON a finished run answers with.
fn outcome_json(outcome: Result<DurableOutcome, DurableError>) -> Value {
    match outcome {
        Ok(DurableOutcome::Ran(result)) => serde_json::to_value(&result).unwrap_or(Value::Null),
        Ok(DurableOutcome::Finished { result_json, .. }) => {
            serde_json::from_str(&result_json).unwrap_or(Value::Null)
        }
        Err(error) => {
            json!({"status": "error", "error": {"source": "service", "kind": "durable", "class": "fatal", "message": error.to_string()}})
        }
    }
}

/// Run (or resume) `workflow` in a task; its result lands in the live table.
fn spawn(
    state: &Arc<AppState>,
    run_id: String,
    owner: Option<String>,
    workflow: PreparedWorkflow,
    start: Start,
    slot: Option<RunSlot>,
) {
    let control = RunControl::new(&workflow);
    let name = workflow.definition().name.clone();
    state.runs().live.lock().unwrap_or_else(PoisonError::into_inner).insert(
        run_id.clone(),
        LiveRun { owner: owner.clone(), workflow: name, control: control.clone(), result: None },
    );
    let shared = Arc::clone(state);
    let task = tokio::spawn(async move {
        // The tenant's slot is held until the run ends.
        let _slot = slot;
        let state = shared;
        let Some(journal) = state.journal() else { return };
        let platform = state.platform();
        // A tenant's run's steps are admitted no higher than the tenant may claim.
        let priority_cap = owner
            .as_deref()
            .and_then(|id| state.gate().tenant(id))
            .map(super::tenant_gate::Tenant::max_priority);
        let run_options = RunOptions { priority_cap, ..RunOptions::default() };
        let outcome = match start {
            Start::Run { input, key } => {
                let options = DurableOptions {
                    idempotency_key: key,
                    run_id: Some(run_id.clone()),
                    owner: owner.clone(),
                    ..DurableOptions::default()
                };
                platform
                    .run_workflow_durable(journal, &workflow, input, &control, run_options, &options)
                    .await
            }
            Start::Resume(decisions) => {
                platform.resume_workflow(journal, &workflow, &run_id, &control, run_options, &decisions).await
            }
        };
        let fuel = match &outcome {
            Ok(DurableOutcome::Ran(result)) => result.usage.fuel,
            _ => 0,
        };
        if let Some(tenant) = owner.as_deref().and_then(|id| state.gate().tenant(id)) {
            tenant.charge_run(fuel);
        }
        let result = outcome_json(outcome);
        if let Some(run) = state.runs().live.lock().unwrap_or_else(PoisonError::into_inner).get_mut(&run_id) {
            run.result = Some(result);
        }
    });
    state.runs().tasks.lock().unwrap_or_else(PoisonError::into_inner).push(task);
}

enum Start {
    Run { input: Payload, key: Option<String> },
    Resume(ResumeDecisions),
}

pub(crate) async fn start(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !valid_name(&name) {
        return Err(refused(
            Refusal::BadWorkflowName,
            "a workflow is named by lowercase letters, digits and `-`",
        ));
    }
    let (tenant, owner) = caller(&state, &headers)?;
    let slot = match tenant {
        Some(tenant) => Some(tenant.admit_run(&name)?.for_run(&state)),
        None => None,
    };
    let journal = state.journal().ok_or_else(|| refused(Refusal::Journal, "this server has no journal"))?;
    let input = Payload::new(JSON_CONTENT_TYPE, read_body(body, state.limits_for(tenant)).await?);
    // Keys are scoped to the tenant: one tenant's key never names another's run.
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("{}:{k}", owner.as_deref().unwrap_or("")));
    let existing = match &key {
        Some(key) => journal.run_for_key(key).map_err(|e| journal_error(&e))?,
        None => None,
    };
    let run_id = existing.clone().unwrap_or_else(new_run_id);
    let running = state.runs().is_running(&run_id);
    if !running {
        let definition = state
            .platform()
            .find_named_workflow(&name)
            .map_err(|e| refused(Refusal::UnknownWorkflow, e.to_string()))?;
        let workflow = state
            .platform()
            .prepare_workflow(definition)
            .map_err(|e| refused(Refusal::WorkflowUnusable, e.to_string()))?;
        spawn(&state, run_id.clone(), owner, workflow, Start::Run { input, key }, slot);
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"run_id": run_id, "status": "running"}))).into_response())
}

pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, owner) = caller(&state, &headers)?;
    if let Some(run) = state.runs().live.lock().unwrap_or_else(PoisonError::into_inner).get(&id) {
        if run.owner != owner {
            return Err(unknown_run(&id));
        }
        let body = match &run.result {
            Some(result) => result.clone(),
            None => {
                json!({"run_id": id, "workflow": run.workflow, "status": "running", "progress": run.control.progress().snapshot()})
            }
        };
        return Ok(Json(body).into_response());
    }
    let journal = state.journal().ok_or_else(|| unknown_run(&id))?;
    let loaded = journal.load(&id).map_err(|e| journal_error(&e))?;
    if loaded.run.owner != owner {
        return Err(unknown_run(&id));
    }
    let result = loaded.run.result_json.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok());
    Ok(Json(json!({
        "run_id": id,
        "workflow": loaded.run.workflow,
        "status": loaded.run.status.as_str(),
        "steps_done": loaded.completed.len(),
        "step_count": loaded.run.step_count,
        "result": result,
    }))
    .into_response())
}

pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, owner) = caller(&state, &headers)?;
    let live = state.runs().live.lock().unwrap_or_else(PoisonError::into_inner);
    match live.get(&id) {
        Some(run) if run.owner == owner && run.result.is_none() => {
            run.control.cancel();
            Ok((StatusCode::ACCEPTED, Json(json!({"run_id": id, "status": "cancelling"}))).into_response())
        }
        Some(run) if run.owner == owner => {
            Err(refused(Refusal::NotRunning, format!("run `{id}` is not running")))
        }
        _ => Err(unknown_run(&id)),
    }
}

pub(crate) async fn resume(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, owner) = caller(&state, &headers)?;
    let journal = state.journal().ok_or_else(|| unknown_run(&id))?;
    let loaded = journal.load(&id).map_err(|e| journal_error(&e))?;
    if loaded.run.owner != owner {
        return Err(unknown_run(&id));
    }
    let slot = match tenant {
        Some(tenant) => Some(tenant.admit_run(&loaded.run.workflow)?.for_run(&state)),
        None => None,
    };
    let running = state.runs().is_running(&id);
    if running {
        return Err(refused(Refusal::NotRunning, format!("run `{id}` is running already")));
    }
    let bytes = read_body(body, state.limits_for(tenant)).await?;
    let decisions: Value = if bytes.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| refused(Refusal::BadJson, format!("the body is not JSON: {e}")))?
    };
    let list = |field: &str| -> Vec<String> {
        decisions[field]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let decisions = ResumeDecisions { rerun: list("rerun"), skip: list("skip") };
    let workflow = state
        .platform()
        .workflow_of_run(journal, &id)
        .map_err(|e| refused(Refusal::WorkflowUnusable, e.to_string()))?;
    spawn(&state, id.clone(), owner, workflow, Start::Resume(decisions), slot);
    Ok((StatusCode::ACCEPTED, Json(json!({"run_id": id, "status": "running"}))).into_response())
}
