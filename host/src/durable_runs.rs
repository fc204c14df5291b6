//! Durable workflow runs on the platform: the journal in the state directory
//! (`journal.redb`), runs checkpointed through it, resumed by id, listed and pruned under the
//! config's retention (`[workflows] retain_runs`, `retain_for_hours`). The journal, the resume
//! rules and the staged outputs are `symphony-workflow`'s; this file finds a run's workflow
//! again and applies the platform's settings.

use symphony_types::payload::Payload;
use symphony_workflow::{
    DurableError, DurableOptions, DurableOutcome, Journal, JournalError, PrepareError, PreparedWorkflow,
    ResumeDecisions, Retention, RunControl, RunOptions, RunSummary,
};

use crate::platform::Platform;
use crate::workflows::WorkflowLookupError;

/// Why a journaled run could not be taken up again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeLookupError {
    /// The journal refused (unknown run, corrupt record, busy).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The run's workflow is no longer found, or its definition is invalid.
    #[error("run `{run_id}`: {source}")]
    Workflow {
        /// The run.
        run_id: String,
        /// Why.
        #[source]
        source: Box<WorkflowLookupError>,
    },
    /// The run's workflow no longer prepares.
    #[error("run `{run_id}`: {source}")]
    Prepare {
        /// The run.
        run_id: String,
        /// Why.
        #[source]
        source: Box<PrepareError>,
    },
}

impl Platform {
    /// Open the journal in the state directory (held exclusively until dropped: one process
    /// runs or resumes this directory's workflows at a time).
    ///
    /// # Errors
    /// [`JournalError::NoStateDir`] for a platform without a state directory;
    /// [`JournalError::Busy`] when another process holds it; [`JournalError::Io`].
    pub fn open_journal(&self) -> Result<Journal, JournalError> {
        self.open_journal_within(std::time::Duration::from_millis(symphony_workflow::journal::OPEN_WAIT_MS))
    }

    /// [`open_journal`](Self::open_journal), waiting at most `wait` for another holder (a
    /// listing need not wait for a whole run).
    ///
    /// # Errors
    /// As [`open_journal`](Self::open_journal).
    pub fn open_journal_within(&self, wait: std::time::Duration) -> Result<Journal, JournalError> {
        let state = self.runtime().state().ok_or(JournalError::NoStateDir)?;
        Journal::open_within(&Journal::default_path(state.path()), wait)
    }

    /// The retention configured for finished runs.
    #[must_use]
    pub fn retention(&self) -> Retention {
        let settings = &self.config().workflows;
        Retention {
            max_age_ms: settings.retain_for_hours.saturating_mul(3_600_000),
            max_runs: settings.retain_runs,
        }
    }

    /// Run `workflow` durably: every step checkpointed in `journal`; with an idempotency key
    /// naming an earlier run, that run goes on instead. Finished runs beyond the retention are
    /// pruned afterwards.
    ///
    /// # Errors
    /// [`DurableError`] as [`PreparedWorkflow::run_durable`].
    pub async fn run_workflow_durable(
        &self,
        journal: &Journal,
        workflow: &PreparedWorkflow,
        input: Payload,
        control: &RunControl,
        options: RunOptions,
        durable: &DurableOptions,
    ) -> Result<DurableOutcome, DurableError> {
        let outcome = workflow.run_durable(self.conductor(), journal, input, control, options, durable).await;
        self.prune_quietly(journal);
        outcome
    }

    /// The workflow run `run_id` belongs to, found and prepared again.
    ///
    /// # Errors
    /// [`ResumeLookupError`] when the run, its workflow or its extensions are not there.
    pub fn workflow_of_run(
        &self,
        journal: &Journal,
        run_id: &str,
    ) -> Result<PreparedWorkflow, ResumeLookupError> {
        let loaded = journal.load(run_id)?;
        let definition = self.find_workflow(&loaded.run.workflow).map_err(|source| {
            ResumeLookupError::Workflow { run_id: run_id.to_owned(), source: Box::new(source) }
        })?;
        self.prepare_workflow(definition).map_err(|source| ResumeLookupError::Prepare {
            run_id: run_id.to_owned(),
            source: Box::new(source),
        })
    }

    /// Resume run `run_id` of `workflow` (see [`PreparedWorkflow::resume`]).
    ///
    /// # Errors
    /// [`DurableError`] as [`PreparedWorkflow::resume`].
    pub async fn resume_workflow(
        &self,
        journal: &Journal,
        workflow: &PreparedWorkflow,
        run_id: &str,
        control: &RunControl,
        options: RunOptions,
        decisions: &ResumeDecisions,
    ) -> Result<DurableOutcome, DurableError> {
        let outcome = workflow.resume(self.conductor(), journal, run_id, control, options, decisions).await;
        self.prune_quietly(journal);
        outcome
    }

    /// Every journaled run, newest first (corrupt ones listed as such).
    ///
    /// # Errors
    /// [`JournalError`].
    pub fn workflow_runs(&self, journal: &Journal) -> Result<Vec<RunSummary>, JournalError> {
        journal.runs()
    }

    /// Prune finished runs under `retention`; the removed run ids.
    ///
    /// # Errors
    /// [`JournalError`].
    pub fn prune_workflow_runs(
        &self,
        journal: &Journal,
        retention: Retention,
    ) -> Result<Vec<String>, JournalError> {
        journal.prune(retention, symphony_workflow::journal::now_ms())
    }

    fn prune_quietly(&self, journal: &Journal) {
        if let Err(error) = self.prune_workflow_runs(journal, self.retention()) {
            tracing::warn!(%error, "finished workflow runs not pruned");
        }
    }
}
