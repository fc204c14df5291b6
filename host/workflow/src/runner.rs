//! The DAG runner: every step goes through the conductor (retry, the breakers every caller
//! shares, fallbacks, reservation, anomaly detection); steps with no path between them run
//! concurrently inside the run's one task, admitted by the reservation pool. Outputs are
//! checked against data contracts before they are handed on ([`Contracted`](crate::contracted)),
//! a failure follows the step's `on_failure`, and a cancel stops the run with finished steps'
//! outputs kept: in-flight guests see `cancelled()`, unstarted steps never start, and whatever
//! does not stop within the grace period is dropped (its reservation released with it).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;

use symphony_conductor::{ConductedOutcome, Conductor};
use symphony_types::error::{CallError, ConductorError};
use symphony_types::manifest::Priority;
use symphony_types::payload::{CallRequest, CancelToken, Payload};

use crate::checkpoints::Checkpoints;
use crate::contracted::check_output;
use crate::definition::OnFailure;
use crate::journal::JournalError;
use crate::journal::record::CompletedAs;
use crate::prepared::PreparedWorkflow;
use crate::progress::{RunProgress, StepPhase, Waiting};
use crate::run_result::{RunResult, RunStatus, StepError, StepReport, StepStatus};

/// How long in-flight steps get to stop after a cancel before they are dropped, in
/// milliseconds.
pub const DEFAULT_CANCEL_GRACE_MS: u64 = 2_000;

/// Settings of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Grace after a cancel, in milliseconds (see [`DEFAULT_CANCEL_GRACE_MS`]).
    pub cancel_grace_ms: u64,
    /// The highest admission class the run's steps get (a service passes its tenant's
    /// `max_priority`): each step is admitted as its extension's class or this, whichever is
    /// lower. `None`: the extensions' classes.
    pub priority_cap: Option<Priority>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { cancel_grace_ms: DEFAULT_CANCEL_GRACE_MS, priority_cap: None }
    }
}

/// A run's cancel switch and live progress, shared between the runner and whoever watches or
/// cancels it (a Ctrl-C handler, a service request).
#[derive(Debug, Clone)]
pub struct RunControl {
    cancel: CancelToken,
    signal: Arc<watch::Sender<bool>>,
    progress: Arc<RunProgress>,
}

impl RunControl {
    /// Control for one run of `workflow`.
    #[must_use]
    pub fn new(workflow: &PreparedWorkflow) -> Self {
        Self {
            cancel: CancelToken::new(),
            signal: Arc::new(watch::channel(false).0),
            progress: Arc::new(RunProgress::new(
                Arc::clone(workflow.step_ids()),
                Arc::clone(workflow.needs()),
            )),
        }
    }

    /// Stop the run: in-flight guests see `cancelled()`, no new step starts.
    pub fn cancel(&self) {
        self.cancel.cancel();
        self.signal.send_replace(true);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The run's live progress.
    #[must_use]
    pub fn progress(&self) -> &Arc<RunProgress> {
        &self.progress
    }

    async fn cancelled(&self) {
        let mut signal = self.signal.subscribe();
        // The sender lives as long as `self`: this returns only on a cancel.
        let _ = signal.wait_for(|cancelled| *cancelled).await;
    }
}

/// The run's bookkeeping a settled step updates.
struct Settling<'s> {
    reports: &'s mut [StepReport],
    payloads: &'s mut [Option<Payload>],
    unmet: &'s mut [usize],
    ready: &'s mut VecDeque<usize>,
}

/// A step that came back from the conductor.
struct Finished {
    index: usize,
    outcome: ConductedOutcome,
    waited_ms: u64,
    wall_ms: u64,
}

impl PreparedWorkflow {
    /// Run the workflow on `input` through `conductor`, without a journal: nothing survives the
    /// process (see [`run_durable`](Self::run_durable)). A declared output directory is still
    /// staged and published whole on success, and rolled back otherwise.
    pub async fn run(
        &self,
        conductor: &Conductor,
        input: Payload,
        control: &RunControl,
        options: RunOptions,
    ) -> RunResult {
        let checkpoints = match Checkpoints::ephemeral(self) {
            Ok(checkpoints) => checkpoints,
            Err(error) => {
                let reports = self.steps.iter().map(|s| StepReport::not_run(&s.id, &s.extension)).collect();
                let reason = format!("cannot stage the output directory: {error}");
                return self.finish(
                    reports,
                    RunStatus::Failed,
                    Some(reason),
                    Instant::now(),
                    control.progress(),
                );
            }
        };
        let (mut result, _) = self.run_with(conductor, &input, control, options, &checkpoints).await;
        if let Err(error) = checkpoints.settle_outputs(&mut result) {
            tracing::warn!(workflow = %self.definition.name, %error, "staged outputs not published");
        }
        result
    }

    /// The run itself, checkpointing through `checkpoints`: steps it already holds
    /// completions for are not run again. Also returns the journal error that stopped it, if
    /// one did (the run then stays resumable). Runs inside the run's span.
    pub(crate) async fn run_with(
        &self,
        conductor: &Conductor,
        input: &Payload,
        control: &RunControl,
        options: RunOptions,
        checkpoints: &Checkpoints<'_>,
    ) -> (RunResult, Option<JournalError>) {
        let definition = &self.definition;
        let span = run_span::run_span(&definition.name, &definition.version, checkpoints.run_id());
        let run = self.run_steps(conductor, input, control, options, checkpoints);
        let (result, journal_error) = run.instrument(span.clone()).await;
        run_span::record_run(&span, result.status);
        (result, journal_error)
    }

    async fn run_steps(
        &self,
        conductor: &Conductor,
        input: &Payload,
        control: &RunControl,
        options: RunOptions,
        checkpoints: &Checkpoints<'_>,
    ) -> (RunResult, Option<JournalError>) {
        let started = Instant::now();
        let progress = control.progress();
        let count = self.steps.len();
        let mut reports: Vec<StepReport> =
            self.steps.iter().map(|s| StepReport::not_run(&s.id, &s.extension)).collect();
        for (index, step) in self.steps.iter().enumerate() {
            let typical = conductor.monitor().and_then(|m| m.typical_guest_us(&step.info.id));
            progress
                .set_estimate(index, typical.map(|us| us.div_ceil(1_000)).or(step.info.expected_latency_ms));
        }
        let input_json = match step_input::parse_input(input, self.definition.input_schema.as_ref()) {
            Ok(json) => json,
            Err(reason) => {
                let mut result = self.finish(reports, RunStatus::Failed, Some(reason), started, progress);
                result.run_id = checkpoints.run_id().map(str::to_owned);
                return (result, None);
            }
        };
        let mut payloads: Vec<Option<Payload>> = (0..count).map(|_| None).collect();
        let mut unmet: Vec<usize> = self.steps.iter().map(|s| s.needs.len()).collect();
        // Steps the journal holds completions for count as done and release their dependents.
        for (index, payload) in checkpoints.restore(&mut reports) {
            progress.set_phase(index, phase_of(reports[index].status));
            payloads[index] = Some(payload);
            for &dependent in &self.steps[index].dependents {
                unmet[dependent] = unmet[dependent].saturating_sub(1);
            }
        }
        let mut ready: VecDeque<usize> =
            (0..count).filter(|&i| unmet[i] == 0 && payloads[i].is_none()).collect();
        let mut running = vec![false; count];
        let mut in_flight = FuturesUnordered::new();
        let mut failed = false;
        let mut journal_error: Option<JournalError> = None;
        // Built once for the whole run, not per loop turn: the cancel wait and the grace timer
        // (armed when the cancel comes).
        let cancelled = control.cancelled();
        tokio::pin!(cancelled);
        let grace = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(grace);
        let mut grace_armed = false;
        loop {
            while !failed && journal_error.is_none() && !control.is_cancelled() {
                let Some(index) = ready.pop_front() else { break };
                match self.build_input(index, input, &input_json, &payloads, &reports) {
                    Ok(payload) => {
                        if let Err(error) = checkpoints.started(&self.steps[index], &payload) {
                            journal_error = Some(error);
                            break;
                        }
                        progress.set_phase(index, StepPhase::Running);
                        running[index] = true;
                        in_flight.push(self.execute(
                            index,
                            payload,
                            conductor,
                            control,
                            checkpoints.staging_dir(),
                            options.priority_cap,
                        ));
                    }
                    Err(error) => {
                        let outcome = refused(&self.steps[index].info.id, error);
                        let finished = Finished { index, outcome, waited_ms: 0, wall_ms: 0 };
                        let mut state = Settling {
                            reports: &mut reports,
                            payloads: &mut payloads,
                            unmet: &mut unmet,
                            ready: &mut ready,
                        };
                        match self.settle(finished, control, checkpoints, &mut state) {
                            Ok(stop) => failed |= stop,
                            Err(error) => journal_error = Some(error),
                        }
                    }
                }
            }
            if in_flight.is_empty() {
                break;
            }
            tokio::select! {
                Some(finished) = in_flight.next() => {
                    running[finished.index] = false;
                    let mut state = Settling { reports: &mut reports, payloads: &mut payloads, unmet: &mut unmet, ready: &mut ready };
                    match self.settle(finished, control, checkpoints, &mut state) {
                        Ok(stop) => failed |= stop,
                        Err(error) => journal_error = journal_error.or(Some(error)),
                    }
                }
                () = &mut cancelled, if !grace_armed => {
                    grace.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(options.cancel_grace_ms));
                    grace_armed = true;
                }
                () = &mut grace, if grace_armed => break,
            }
        }
        drop(in_flight);
        for (index, still) in running.iter().enumerate() {
            if *still {
                // Dropped after the grace period: its reservation went with it.
                reports[index].status = StepStatus::Cancelled;
                progress.set_phase(index, StepPhase::Cancelled);
            }
        }
        let status = if control.is_cancelled() {
            RunStatus::Cancelled
        } else if failed {
            RunStatus::Failed
        } else if journal_error.is_some() {
            // Stopped because a checkpoint could not be written: resumable, not failed.
            RunStatus::Interrupted
        } else {
            RunStatus::Succeeded
        };
        let mut result = self.finish(reports, status, None, started, progress);
        result.run_id = checkpoints.run_id().map(str::to_owned);
        crate::run_metrics::run_finished(&self.definition.name, status);
        (result, journal_error)
    }

    /// One step through the conductor, waiting for an open breaker or a quarantine when it
    /// ends within the step's `timeout_ms`.
    async fn execute(
        &self,
        index: usize,
        payload: Payload,
        conductor: &Conductor,
        control: &RunControl,
        staging: Option<&std::path::Path>,
        priority_cap: Option<Priority>,
    ) -> Finished {
        let step = &self.steps[index];
        let span = run_span::step_span(&step.id, &step.info.id);
        let call = self.call_step(index, payload, conductor, control, staging, priority_cap);
        let finished = call.instrument(span.clone()).await;
        let outcome = &finished.outcome;
        run_span::record_step(
            &span,
            outcome.result.is_ok(),
            outcome.attempts.len(),
            &outcome.served_by,
            outcome.fallback,
        );
        finished
    }

    async fn call_step(
        &self,
        index: usize,
        payload: Payload,
        conductor: &Conductor,
        control: &RunControl,
        staging: Option<&std::path::Path>,
        priority_cap: Option<Priority>,
    ) -> Finished {
        let step = &self.steps[index];
        let progress = control.progress();
        // The step's class, never above what the run may claim.
        let priority = priority_cap.map(|cap| step.demand.map_or(cap, |demand| demand.priority.min(cap)));
        let started = Instant::now();
        let deadline = step.timeout_ms.map(|ms| started + Duration::from_millis(ms));
        let mut earlier: Option<ConductedOutcome> = None;
        let mut waited = Duration::ZERO;
        let mut input = payload;
        loop {
            // Only a step with a deadline waits for a recovery and calls again: the others hand
            // their input over instead of copying it.
            let again = deadline.map(|_| input.clone());
            let mut request = CallRequest::new(input).cancel_token(control.cancel.clone());
            if let Some(live) = progress.live(index) {
                request = request.live_progress(live.clone());
            }
            if let Some(dir) = staging {
                request = request.workflow_output(dir.to_path_buf());
            }
            if let Some(priority) = priority {
                request = request.priority(priority);
            }
            if let Some(deadline) = deadline {
                request = request.deadline_cap_ms(millis(deadline.saturating_duration_since(Instant::now())));
            }
            let call = conductor.call_with_fallback(
                &step.profile,
                step.primary.as_ref(),
                step.demand,
                &step.chain,
                &step.requires,
                request,
            );
            let outcome = match (deadline, step.timeout_ms) {
                (Some(deadline), Some(limit_ms)) => {
                    match tokio::time::timeout_at(deadline.into(), call).await {
                        Ok(outcome) => outcome,
                        Err(_) => refused(
                            &step.info.id,
                            ConductorError::RequestDeadlineExceeded { limit_ms, attempts: 0 },
                        ),
                    }
                }
                _ => call.await,
            };
            let outcome = merge(earlier.take(), outcome);
            let wait = match (&outcome.result, deadline, again) {
                (Err(CallError::Conductor(refusal)), Some(deadline), Some(again))
                    if !control.is_cancelled() =>
                {
                    recovery_wait(refusal, deadline).map(|wait| (wait, again))
                }
                _ => None,
            };
            let Some(((reason, extension, after), again)) = wait else {
                return Finished {
                    index,
                    outcome,
                    waited_ms: millis(waited),
                    wall_ms: millis(started.elapsed()),
                };
            };
            let mean_recovery_ms =
                conductor.breakers().get(&extension).and_then(|breaker| breaker.recovery().mean_recovery_ms);
            let until_ms = progress.elapsed_ms().saturating_add(millis(after));
            progress.set_waiting(index, Some(Waiting { reason, extension, until_ms, mean_recovery_ms }));
            let slept = Instant::now();
            tokio::select! {
                () = tokio::time::sleep(after) => {}
                () = control.cancelled() => {}
            }
            waited += slept.elapsed();
            progress.set_waiting(index, None);
            earlier = Some(outcome);
            input = again;
        }
    }

    /// Record a finished step, commit its completion (durably, when journaled) and only then
    /// release its dependents; `Ok(true)` when the run must stop.
    fn settle(
        &self,
        finished: Finished,
        control: &RunControl,
        checkpoints: &Checkpoints<'_>,
        state: &mut Settling<'_>,
    ) -> Result<bool, JournalError> {
        let Settling { reports, payloads, unmet, ready } = state;
        let Finished { index, outcome, waited_ms, wall_ms } = finished;
        let step = &self.steps[index];
        let report = &mut reports[index];
        report.served_by = Some(outcome.served_by.clone());
        report.attempts = outcome.attempts;
        report.fallback = outcome.fallback;
        report.degraded = outcome.degraded;
        report.usage = outcome.usage;
        report.waited_ms = waited_ms;
        report.wall_ms = wall_ms;
        // The contract layer hands its parse of the output on: parse only what it did not.
        let mut parsed = outcome.json;
        let result = outcome.result.and_then(|payload| {
            // Static and last-good answers did not pass through the contract layer.
            if outcome.degraded {
                parsed = check_output(&step.id, &outcome.served_by, None, &step.consumers, &payload)
                    .map_err(CallError::Conductor)?;
            }
            Ok(payload)
        });
        let mut output_json = |payload: &Payload| parsed.take().unwrap_or_else(|| as_json(payload));
        let mut stop = false;
        let handed_on = match result {
            // Finished after the cancel: possibly cut short by it. Kept in the report, neither
            // handed on nor committed, so a resume runs it again.
            Ok(payload) if control.is_cancelled() => {
                report.status = StepStatus::Cancelled;
                report.output = Some(output_json(&payload));
                None
            }
            Ok(payload) => {
                report.status = StepStatus::Ok;
                report.output = Some(output_json(&payload));
                Some(payload)
            }
            Err(error) if control.is_cancelled() => {
                report.status = StepStatus::Cancelled;
                report.error = Some(StepError::from(error));
                None
            }
            Err(error) => {
                report.error = Some(StepError::from(error));
                match step.on_failure {
                    OnFailure::Fail => {
                        report.status = StepStatus::Failed;
                        stop = true;
                        None
                    }
                    OnFailure::Continue => {
                        report.status = StepStatus::Failed;
                        None
                    }
                    OnFailure::Skip => {
                        report.status = StepStatus::Skipped;
                        let default = step.default.clone().unwrap_or(Value::Null);
                        let payload = Payload::json(&default).ok();
                        report.output = Some(default);
                        payload
                    }
                }
            }
        };
        control.progress().set_phase(index, phase_of(report.status));
        if let Some(payload) = handed_on {
            let completed_as =
                if report.status == StepStatus::Skipped { CompletedAs::Skipped } else { CompletedAs::Ok };
            // Durable before any dependent is released.
            checkpoints.completed(step, report, completed_as, &payload)?;
            payloads[index] = Some(payload);
            for &dependent in &step.dependents {
                unmet[dependent] = unmet[dependent].saturating_sub(1);
                if unmet[dependent] == 0 {
                    ready.push_back(dependent);
                }
            }
        }
        Ok(stop)
    }

    /// Mark what never ran, with what blocked it, and build the result.
    fn finish(
        &self,
        mut reports: Vec<StepReport>,
        status: RunStatus,
        input_error: Option<String>,
        started: Instant,
        progress: &RunProgress,
    ) -> RunResult {
        for index in 0..reports.len() {
            if reports[index].status != StepStatus::NotRun {
                continue;
            }
            progress.set_phase(index, StepPhase::NotRun);
            if let Some(blocker) = self.blocker(index, &reports) {
                reports[index].blocked_by = Some(reports[blocker].id.clone());
                let id = reports[index].id.clone();
                reports[blocker].blocked.push(id);
            }
        }
        let usage =
            reports.iter().fold(symphony_types::usage::Usage::default(), |total, r| total.combined(r.usage));
        let output = (status == RunStatus::Succeeded).then(|| match self.sinks.as_slice() {
            [one] => reports[*one].output.clone().unwrap_or(Value::Null),
            many => Value::Object(
                many.iter()
                    .map(|&i| (reports[i].id.clone(), reports[i].output.clone().unwrap_or(Value::Null)))
                    .collect(),
            ),
        });
        RunResult {
            run_id: None,
            workflow: self.definition.name.clone(),
            version: self.definition.version.clone(),
            status,
            output,
            input_error,
            steps: reports,
            usage,
            wall_ms: millis(started.elapsed()),
        }
    }

    /// The nearest failed or cancelled step among `index`'s ancestors.
    fn blocker(&self, index: usize, reports: &[StepReport]) -> Option<usize> {
        let mut todo: VecDeque<usize> = self.steps[index].needs.iter().copied().collect();
        let mut seen = vec![false; reports.len()];
        while let Some(node) = todo.pop_front() {
            if std::mem::replace(&mut seen[node], true) {
                continue;
            }
            if matches!(reports[node].status, StepStatus::Failed | StepStatus::Cancelled) {
                return Some(node);
            }
            todo.extend(self.steps[node].needs.iter().copied());
        }
        None
    }
}

fn as_json(payload: &Payload) -> Value {
    payload.to_json().unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload.bytes).into_owned()))
}

fn phase_of(status: StepStatus) -> StepPhase {
    match status {
        StepStatus::Ok => StepPhase::Ok,
        StepStatus::Failed => StepPhase::Failed,
        StepStatus::Skipped => StepPhase::Skipped,
        StepStatus::Cancelled => StepPhase::Cancelled,
        StepStatus::NotRun => StepPhase::NotRun,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

mod run_span;
mod step_input;
mod step_outcome;

use step_outcome::{merge, recovery_wait, refused};

#[cfg(test)]
mod tests;
