//! What a workflow run ended with: the run's status and output, and per step who served it,
//! how many attempts, whether a fallback or a degraded answer was used, what it consumed, its
//! status, and which steps its failure blocked.

use serde::Serialize;
use serde_json::Value;

use symphony_conductor::Attempt;
use symphony_types::error::{CallError, ErrorReport};
use symphony_types::usage::Usage;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It produced an output that satisfied every contract.
    Ok,
    /// It failed (its error says how).
    Failed,
    /// It failed and `on_failure = "skip"` handed on its default output.
    Skipped,
    /// The run was cancelled while it was in flight.
    Cancelled,
    /// It never started: a step it needs failed, or the run stopped first.
    NotRun,
}

impl StepStatus {
    /// As shown to people and in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::NotRun => "not_run",
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step is ok, skipped, or failed with `on_failure = "continue"`.
    Succeeded,
    /// A step failed with `on_failure = "fail"`, or the input was refused.
    Failed,
    /// The caller cancelled it.
    Cancelled,
    /// A checkpoint could not be written, so it stopped; the journal keeps it resumable.
    Interrupted,
}

impl RunStatus {
    /// As serialised, in metric labels and trace attributes.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }
}

/// Why a step failed: the report every command prints (`source`, `kind`, `class`, `message`,
/// `retry_after_ms`) and, for callers that branch on it, the typed error itself.
#[derive(Debug, Serialize)]
pub struct StepError {
    /// The error as reported (`--json` shape shared with `run`).
    #[serde(flatten)]
    pub report: ErrorReport,
    /// The typed error.
    #[serde(skip)]
    pub error: CallError,
}

impl From<CallError> for StepError {
    fn from(error: CallError) -> Self {
        Self { report: error.report(), error }
    }
}

/// One step's report.
#[derive(Debug, Serialize)]
pub struct StepReport {
    /// Step id.
    pub id: String,
    /// The extension as the definition names it.
    pub extension: String,
    /// How it ended.
    pub status: StepStatus,
    /// `name@version` that produced the output (or was tried last), when it ran.
    pub served_by: Option<String>,
    /// Every attempt, fallbacks included.
    pub attempts: Vec<Attempt>,
    /// Whether a fallback served it.
    pub fallback: bool,
    /// Whether the answer is degraded (static or last good).
    pub degraded: bool,
    /// What its attempts consumed together.
    pub usage: Usage,
    /// Its output (kept for cancelled and failed runs too: finished work is not lost).
    pub output: Option<Value>,
    /// Why it failed.
    pub error: Option<StepError>,
    /// Steps that did not run because this one failed.
    pub blocked: Vec<String>,
    /// For a step that did not run: the failed or cancelled step in its way.
    pub blocked_by: Option<String>,
    /// Time it waited on an open breaker or a quarantine, in milliseconds.
    pub waited_ms: u64,
    /// Wall time from start to end, in milliseconds.
    pub wall_ms: u64,
    /// Taken from the journal's committed record: the step did not run again.
    pub resumed: bool,
}

impl StepReport {
    /// A step that has not run.
    #[must_use]
    pub fn not_run(id: &str, extension: &str) -> Self {
        Self {
            id: id.to_owned(),
            extension: extension.to_owned(),
            status: StepStatus::NotRun,
            served_by: None,
            attempts: Vec::new(),
            fallback: false,
            degraded: false,
            usage: Usage::default(),
            output: None,
            error: None,
            blocked: Vec::new(),
            blocked_by: None,
            waited_ms: 0,
            wall_ms: 0,
            resumed: false,
        }
    }
}

/// The result of one run.
#[derive(Debug, Serialize)]
pub struct RunResult {
    /// The run's id in the journal (durable runs only).
    pub run_id: Option<String>,
    /// Workflow name.
    pub workflow: String,
    /// Workflow version.
    pub version: String,
    /// How it ended.
    pub status: RunStatus,
    /// The output of the final step, or an object of every final step's output by id when
    /// several steps end the workflow; `None` unless it succeeded.
    pub output: Option<Value>,
    /// Why the run did not start, when the input was refused.
    pub input_error: Option<String>,
    /// Every step, in definition order.
    pub steps: Vec<StepReport>,
    /// Everything the run's attempts consumed.
    pub usage: Usage,
    /// Wall time, in milliseconds.
    pub wall_ms: u64,
}

impl RunResult {
    /// The report of step `id`.
    #[must_use]
    pub fn step(&self, id: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.id == id)
    }
}
