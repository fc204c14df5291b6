//! `Checkpoints`: what the runner records as a run goes, and what it restores on a resume —
//! the journal's `started` and `completed` records and the run's staging directory. A run
//! without a journal (`PreparedWorkflow::run`) has the same staging, and nothing recorded.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

use symphony_types::payload::Payload;

use crate::journal::record::{CompletedAs, CompletedRecord, StoredPayload};
use crate::journal::{Journal, JournalError, now_ms};
use crate::prepared::{PreparedStep, PreparedWorkflow};
use crate::run_result::{RunResult, RunStatus, StepReport, StepStatus};
use crate::staging::{Staging, StagingError};

/// A fresh run id: the creation time, the process and a counter, in hex (sortable by time,
/// safe in paths and URLs).
#[must_use]
pub fn new_run_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:011x}-{:x}-{n:x}", now_ms(), std::process::id())
}

/// sha256 (hex) of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One run's checkpointing.
pub(crate) struct Checkpoints<'j> {
    journal: Option<&'j Journal>,
    run_id: Option<String>,
    staging: Option<Staging>,
    restored: Vec<(String, CompletedRecord)>,
    /// Completions of idempotent steps nothing depends on: committed with the run's status,
    /// one fsync less per final step (a crash before that runs them again).
    deferred: Mutex<Vec<(String, CompletedRecord)>>,
}

impl<'j> Checkpoints<'j> {
    /// No journal; a staging directory when the workflow declares an output directory.
    pub(crate) fn ephemeral(workflow: &PreparedWorkflow) -> Result<Self, StagingError> {
        let staging = match &workflow.definition.output_dir {
            Some(dir) => {
                let staging = Staging::new(dir, &new_run_id())?;
                staging.prepare()?;
                Some(staging)
            }
            None => None,
        };
        Ok(Self { journal: None, run_id: None, staging, restored: Vec::new(), deferred: Mutex::default() })
    }

    /// Recording run `run_id` in `journal`, with the completions it already holds.
    pub(crate) fn journaled(
        journal: &'j Journal,
        run_id: &str,
        staging: Option<Staging>,
        restored: Vec<(String, CompletedRecord)>,
    ) -> Self {
        Self {
            journal: Some(journal),
            run_id: Some(run_id.to_owned()),
            staging,
            restored,
            deferred: Mutex::default(),
        }
    }

    pub(crate) fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    /// The staging directory steps granted `workflow_output` write into.
    pub(crate) fn staging_dir(&self) -> Option<&Path> {
        self.staging.as_ref().map(Staging::root)
    }

    /// Fill the reports of steps with a committed completion; their outputs, by step index.
    pub(crate) fn restore(&self, reports: &mut [StepReport]) -> Vec<(usize, Payload)> {
        let mut restored = Vec::with_capacity(self.restored.len());
        for (step, record) in &self.restored {
            let Some(index) = reports.iter().position(|r| &r.id == step) else { continue };
            let report = &mut reports[index];
            let payload: Payload = record.output.clone().into();
            report.status = match record.completed_as {
                CompletedAs::Ok => StepStatus::Ok,
                CompletedAs::Skipped => StepStatus::Skipped,
            };
            report.served_by = Some(record.served_by.clone());
            report.fallback = record.fallback;
            report.degraded = record.degraded;
            report.usage = record.usage;
            report.wall_ms = record.wall_ms;
            report.output = Some(payload.to_json().unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&payload.bytes).into_owned())
            }));
            report.resumed = true;
            restored.push((index, payload));
        }
        restored
    }

    /// Record that `step` starts on `input`: fsync'd when running it twice would not be
    /// harmless, so a crash leaves the evidence that it may have run.
    pub(crate) fn started(&self, step: &PreparedStep, input: &Payload) -> Result<(), JournalError> {
        let (Some(journal), Some(run_id)) = (self.journal, &self.run_id) else { return Ok(()) };
        journal.record_started(run_id, &step.id, &sha256_hex(&input.bytes), !step.idempotent).map(drop)
    }

    /// Commit `step`'s output, fsync'd, before anything that needs it starts (for a final
    /// idempotent step: deferred to the run's closing commit).
    pub(crate) fn completed(
        &self,
        step: &PreparedStep,
        report: &StepReport,
        completed_as: CompletedAs,
        output: &Payload,
    ) -> Result<(), JournalError> {
        let (Some(journal), Some(run_id)) = (self.journal, &self.run_id) else { return Ok(()) };
        let record = CompletedRecord {
            completed_as,
            output: StoredPayload::from(output),
            output_sha256: sha256_hex(&output.bytes),
            served_by: report.served_by.clone().unwrap_or_default(),
            attempts: u32::try_from(report.attempts.len()).unwrap_or(u32::MAX),
            fallback: report.fallback,
            degraded: report.degraded,
            usage: report.usage,
            wall_ms: report.wall_ms,
            completed_ms: now_ms(),
        };
        if step.dependents.is_empty() && step.idempotent {
            self.deferred.lock().unwrap_or_else(PoisonError::into_inner).push((step.id.to_string(), record));
            return Ok(());
        }
        journal.record_completed(run_id, &step.id, &record)
    }

    /// The deferred completions, for the transaction that records how the run ended.
    pub(crate) fn take_deferred(&self) -> Vec<(String, CompletedRecord)> {
        std::mem::take(&mut *self.deferred.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Without a journal: publish the staging when the run succeeded, remove it otherwise
    /// (nothing could resume it).
    pub(crate) fn settle_outputs(&self, result: &mut RunResult) -> Result<(), StagingError> {
        let Some(staging) = &self.staging else { return Ok(()) };
        if result.status == RunStatus::Succeeded {
            staging.sync()?;
            if let Err(error) = staging.publish() {
                result.status = RunStatus::Failed;
                staging.rollback()?;
                return Err(error);
            }
            Ok(())
        } else {
            staging.rollback()
        }
    }
}
