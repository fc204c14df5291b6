//! Durable runs: [`PreparedWorkflow::run_durable`] and [`PreparedWorkflow::resume`] run a
//! workflow with every step checkpointed in the [`Journal`], so a run interrupted by a crash,
//! a kill or a cancel goes on where it stopped.
//!
//! Guarantees: a step with a committed completion is never run again (its output comes from the
//! journal); a step that was started but not completed is run again when it is idempotent
//! (at-least-once), and otherwise stops the resume with [`DurableError::Indeterminate`] until an
//! operator says `rerun` or `skip` it. The staged outputs move into the output directory in one
//! rename when the run succeeds, and the run's result is committed with its `succeeded` status.

use std::path::PathBuf;

use symphony_conductor::Conductor;
use symphony_types::payload::Payload;

use crate::checkpoints::{Checkpoints, new_run_id, sha256_hex};
use crate::journal::record::{CompletedAs, CompletedRecord, JournalStatus, RunRecord, StoredPayload};
use crate::journal::{Journal, JournalError, JournaledRun, now_ms};
use crate::prepared::PreparedWorkflow;
use crate::run_result::{RunResult, RunStatus};
use crate::runner::{RunControl, RunOptions};
use crate::staging::{Staging, StagingError};

/// What a durable run is started with, beyond its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurableOptions {
    /// The caller's key: a second `run_durable` with the same key resumes (or returns) the run
    /// it names instead of starting another.
    pub idempotency_key: Option<String>,
    /// Where the run's files go, instead of the definition's `output_dir`.
    pub output_dir: Option<PathBuf>,
    /// The id for the new run (default: a fresh one), for a caller that must answer with it
    /// before the run ends.
    pub run_id: Option<String>,
    /// Who started it (a tenant): recorded with the run, for callers that keep runs apart.
    pub owner: Option<String>,
}

/// An operator's decisions about steps a resume found indeterminate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeDecisions {
    /// Run these again (the operator checked a second run is safe).
    pub rerun: Vec<String>,
    /// Count these as done with their declared `default` output (or `null`).
    pub skip: Vec<String>,
}

/// A step that was started and never recorded as completed, whose extension is not idempotent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndeterminateStep {
    /// The step.
    pub step: String,
    /// Its extension as the definition names it.
    pub extension: String,
    /// How many times it was started.
    pub attempt: u32,
}

/// How a durable run or resume came out.
#[derive(Debug)]
pub enum DurableOutcome {
    /// It ran (or went on) in this process.
    Ran(RunResult),
    /// It had finished before: its committed result, as JSON.
    Finished {
        /// The run.
        run_id: String,
        /// `succeeded` or `failed`.
        status: JournalStatus,
        /// The result committed with that status.
        result_json: String,
    },
}

/// Why a durable run or resume did not go ahead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableError {
    /// The journal could not be read or written (the run, if started, stays resumable).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The staging directory could not be prepared or published.
    #[error("run `{run_id}`: {source}")]
    Staging {
        /// The run.
        run_id: String,
        /// What failed.
        #[source]
        source: StagingError,
    },
    /// The run belongs to another workflow.
    #[error("run `{run_id}` is of workflow `{recorded}`, not `{given}`")]
    WrongWorkflow {
        /// The run.
        run_id: String,
        /// Its workflow.
        recorded: String,
        /// The workflow given.
        given: String,
    },
    /// The definition changed since the run started: its steps may mean something else now.
    #[error(
        "run `{run_id}` started under another definition of `{workflow}` (sha256 {recorded}, now {current})"
    )]
    DefinitionChanged {
        /// The run.
        run_id: String,
        /// The workflow.
        workflow: String,
        /// The definition's hash when it started.
        recorded: String,
        /// The hash now.
        current: String,
    },
    /// Steps that may have run, whose extension is not idempotent: an operator decides.
    #[error("run `{run_id}` stopped at {}: started, never recorded as completed, and not idempotent; resume with --rerun STEP or --skip STEP", steps.iter().map(|s| format!("`{}`", s.step)).collect::<Vec<_>>().join(", "))]
    Indeterminate {
        /// The run.
        run_id: String,
        /// The steps.
        steps: Vec<IndeterminateStep>,
    },
    /// The idempotency key names a run started with another input.
    #[error("idempotency key `{key}` names run `{run_id}`, which was started with another input")]
    KeyReused {
        /// The key.
        key: String,
        /// The run it names.
        run_id: String,
    },
    /// A decision names a step that is not indeterminate in this run.
    #[error("run `{run_id}`: step `{step}` is not indeterminate (nothing to decide)")]
    NotIndeterminate {
        /// The run.
        run_id: String,
        /// The step.
        step: String,
    },
}

impl PreparedWorkflow {
    /// Run the workflow with every step checkpointed in `journal`. With an idempotency key that
    /// names an earlier run, that run is resumed (or its result returned) instead.
    ///
    /// # Errors
    /// [`DurableError`]: the journal or staging failed, or (for a key naming an earlier run)
    /// what [`resume`](Self::resume) refuses.
    pub async fn run_durable(
        &self,
        conductor: &Conductor,
        journal: &Journal,
        input: Payload,
        control: &RunControl,
        options: RunOptions,
        durable: &DurableOptions,
    ) -> Result<DurableOutcome, DurableError> {
        if let Some(key) = &durable.idempotency_key
            && let Some(run_id) = journal.run_for_key(key)?
        {
            // The key names one request: the same key with another input is a caller's mistake,
            // not a resume.
            let earlier = journal.load(&run_id)?;
            if earlier.input != StoredPayload::from(&input) {
                return Err(DurableError::KeyReused { key: key.clone(), run_id });
            }
            return self
                .resume(conductor, journal, &run_id, control, options, &ResumeDecisions::default())
                .await;
        }
        let run_id = durable.run_id.clone().unwrap_or_else(new_run_id);
        let output_dir = durable.output_dir.clone().or_else(|| self.definition.output_dir.clone());
        let now = now_ms();
        let record = RunRecord {
            run_id: run_id.clone(),
            workflow: self.definition.name.clone(),
            version: self.definition.version.clone(),
            definition_sha256: self.definition.sha256.clone(),
            step_count: u32::try_from(self.steps.len()).unwrap_or(u32::MAX),
            idempotency_key: durable.idempotency_key.clone(),
            status: JournalStatus::Running,
            created_ms: now,
            updated_ms: now,
            resumes: 0,
            output_dir: output_dir.as_ref().map(|d| d.display().to_string()),
            owner: durable.owner.clone(),
            staged_inode: None,
            result_json: None,
        };
        let input = StoredPayload::from(&input);
        // Recorded before the staging exists: a crash in between leaves nothing unaccounted for.
        journal.begin_run(&record, &input, record.output_dir.is_some())?;
        let staging = self.staging(&record)?;
        let loaded = JournaledRun { run: record, input, started: Vec::new(), completed: Vec::new() };
        self.go_on(conductor, journal, loaded, staging, control, options).await
    }

    /// Go on with run `run_id` where the journal says it stopped: completed steps are not run
    /// again, started ones are run again when idempotent and decided by `decisions` otherwise.
    /// A finished run returns its committed result; one interrupted while publishing finishes
    /// publishing.
    ///
    /// # Errors
    /// [`DurableError`]: unknown or corrupt run, another workflow's run, a changed definition,
    /// indeterminate steps without a decision, or a journal or staging failure.
    pub async fn resume(
        &self,
        conductor: &Conductor,
        journal: &Journal,
        run_id: &str,
        control: &RunControl,
        options: RunOptions,
        decisions: &ResumeDecisions,
    ) -> Result<DurableOutcome, DurableError> {
        let mut loaded = journal.load(run_id)?;
        let run = &loaded.run;
        if run.workflow != self.definition.name {
            return Err(DurableError::WrongWorkflow {
                run_id: run_id.to_owned(),
                recorded: run.workflow.clone(),
                given: self.definition.name.clone(),
            });
        }
        if run.status.is_final() {
            return Ok(DurableOutcome::Finished {
                run_id: run_id.to_owned(),
                status: run.status,
                result_json: run.result_json.clone().unwrap_or_default(),
            });
        }
        if run.definition_sha256 != self.definition.sha256 {
            return Err(DurableError::DefinitionChanged {
                run_id: run_id.to_owned(),
                workflow: run.workflow.clone(),
                recorded: run.definition_sha256.clone(),
                current: self.definition.sha256.clone(),
            });
        }
        let staging = self.staging(&loaded.run)?;
        if run.status == JournalStatus::Publishing {
            return self.finish_publishing(journal, loaded.run, staging.as_ref(), &[]);
        }
        self.decide(journal, &mut loaded, decisions)?;
        loaded.run.resumes = loaded.run.resumes.saturating_add(1);
        loaded.run.status = JournalStatus::Running;
        loaded.run.updated_ms = now_ms();
        journal.update_run(&loaded.run)?;
        self.go_on(conductor, journal, loaded, staging, control, options).await
    }

    /// Apply `decisions` to the run's indeterminate steps; refuse when one is left undecided.
    fn decide(
        &self,
        journal: &Journal,
        loaded: &mut JournaledRun,
        decisions: &ResumeDecisions,
    ) -> Result<(), DurableError> {
        let run_id = loaded.run.run_id.clone();
        let indeterminate: Vec<IndeterminateStep> = loaded
            .started
            .iter()
            .filter(|(step, _)| !loaded.completed.iter().any(|(done, _)| done == step))
            .filter_map(|(step, started)| {
                let prepared = self.steps.iter().find(|s| &*s.id == step)?;
                (!prepared.idempotent).then(|| IndeterminateStep {
                    step: step.clone(),
                    extension: prepared.extension.clone(),
                    attempt: started.attempt,
                })
            })
            .collect();
        for step in decisions.rerun.iter().chain(&decisions.skip) {
            if !indeterminate.iter().any(|i| &i.step == step) {
                return Err(DurableError::NotIndeterminate { run_id, step: step.clone() });
            }
        }
        let undecided: Vec<IndeterminateStep> = indeterminate
            .into_iter()
            .filter(|i| !decisions.rerun.contains(&i.step) && !decisions.skip.contains(&i.step))
            .collect();
        if !undecided.is_empty() {
            return Err(DurableError::Indeterminate { run_id, steps: undecided });
        }
        for step in &decisions.skip {
            let default = self
                .steps
                .iter()
                .find(|s| &*s.id == step)
                .and_then(|s| s.default.clone())
                .unwrap_or(serde_json::Value::Null);
            let output = Payload::json(&default)
                .unwrap_or_else(|_| Payload::new("application/json", b"null".to_vec()));
            let record = CompletedRecord {
                completed_as: CompletedAs::Skipped,
                output_sha256: sha256_hex(&output.bytes),
                output: StoredPayload::from(&output),
                served_by: "operator".to_owned(),
                attempts: 0,
                fallback: false,
                degraded: false,
                usage: Default::default(),
                wall_ms: 0,
                completed_ms: now_ms(),
            };
            journal.record_completed(&run_id, step, &record)?;
            loaded.completed.push((step.clone(), record));
        }
        Ok(())
    }

    /// The run's staging, prepared (kept as it is when it exists).
    fn staging(&self, run: &RunRecord) -> Result<Option<Staging>, DurableError> {
        let staging_error = |source| DurableError::Staging { run_id: run.run_id.clone(), source };
        let Some(dir) = &run.output_dir else { return Ok(None) };
        let staging = Staging::new(std::path::Path::new(dir), &run.run_id).map_err(staging_error)?;
        if run.status != JournalStatus::Publishing {
            staging.prepare().map_err(staging_error)?;
        }
        Ok(Some(staging))
    }

    /// Run what is left and record how it ended.
    async fn go_on(
        &self,
        conductor: &Conductor,
        journal: &Journal,
        loaded: JournaledRun,
        staging: Option<Staging>,
        control: &RunControl,
        options: RunOptions,
    ) -> Result<DurableOutcome, DurableError> {
        let JournaledRun { mut run, input, completed, .. } = loaded;
        let input: Payload = input.into();
        let checkpoints = Checkpoints::journaled(journal, &run.run_id, staging.clone(), completed);
        let (result, interrupted) = self.run_with(conductor, &input, control, options, &checkpoints).await;
        if let Some(error) = interrupted {
            return Err(error.into());
        }
        // Committed with the first record of how the run ended.
        let deferred = checkpoints.take_deferred();
        let result_json = serde_json::to_string(&result).unwrap_or_default();
        run.updated_ms = now_ms();
        let staging_error = |source| DurableError::Staging { run_id: run.run_id.clone(), source };
        match result.status {
            RunStatus::Succeeded => {
                run.result_json = Some(result_json);
                if let Some(staging) = &staging {
                    // Publishing is recorded first, with the staged tree's inode: a crash
                    // during the move is finished by the resume, never redone.
                    staging.sync().map_err(staging_error)?;
                    run.staged_inode = Some(staging.staged_inode().map_err(staging_error)?);
                    run.status = JournalStatus::Publishing;
                    journal.update_run_with(&run, &deferred)?;
                    self.finish_publishing(journal, run, Some(staging), &[])?;
                } else {
                    self.finish_publishing(journal, run, None, &deferred)?;
                }
                return Ok(DurableOutcome::Ran(result));
            }
            RunStatus::Failed => {
                if let Some(staging) = &staging {
                    staging.rollback().map_err(staging_error)?;
                }
                run.status = JournalStatus::Failed;
            }
            // Kept for a resume, staging and all.
            RunStatus::Cancelled => run.status = JournalStatus::Cancelled,
            // (A journal failure returned above; should one be reported here, it stays resumable.)
            RunStatus::Interrupted => run.status = JournalStatus::Running,
        }
        run.result_json = Some(result_json);
        journal.update_run_with(&run, &deferred)?;
        Ok(DurableOutcome::Ran(result))
    }

    /// Move the staged tree into place (unless a crash came after the move) and commit the
    /// run as succeeded with its result.
    fn finish_publishing(
        &self,
        journal: &Journal,
        mut run: RunRecord,
        staging: Option<&Staging>,
        deferred: &[(String, CompletedRecord)],
    ) -> Result<DurableOutcome, DurableError> {
        let staging_error = |source| DurableError::Staging { run_id: run.run_id.clone(), source };
        if let Some(staging) = staging {
            let moved = run.staged_inode.is_some_and(|inode| staging.is_published(inode));
            if moved {
                staging.clear_leftovers().map_err(staging_error)?;
            } else {
                staging.publish().map_err(staging_error)?;
            }
        }
        run.status = JournalStatus::Succeeded;
        run.updated_ms = now_ms();
        journal.update_run_with(&run, deferred)?;
        Ok(DurableOutcome::Finished {
            run_id: run.run_id.clone(),
            status: run.status,
            result_json: run.result_json.unwrap_or_default(),
        })
    }
}
