//! The journal's records, as stored: a run, a step's `started` and a step's `completed`. Each
//! is a postcard body sealed with [`JOURNAL_SCHEMA`] and the body's sha256
//! ([`sealed_record`](symphony_types::sealed_record)), so a damaged record is detected.

use serde::{Deserialize, Serialize};

use symphony_types::payload::Payload;
use symphony_types::sealed_record::{RecordDamage, seal, unseal};
use symphony_types::usage::Usage;

/// Schema of every journal record. A record of another schema is reported, never read.
/// 2: runs record their owner.
pub const JOURNAL_SCHEMA: u16 = 2;

/// Where a run stands in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalStatus {
    /// Started and not finished: running now, or interrupted by a crash (resumable).
    Running,
    /// Stopped by a cancel (resumable).
    Cancelled,
    /// Every step done; its staged outputs are being moved into place (resumable: the move
    /// is finished, never redone from scratch).
    Publishing,
    /// Succeeded: its result and outputs are final.
    Succeeded,
    /// Failed: its staging was rolled back.
    Failed,
}

impl JournalStatus {
    /// As shown to people and in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Cancelled => "cancelled",
            Self::Publishing => "publishing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Whether the run is over for good (only these are pruned).
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// A payload as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPayload {
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl From<&Payload> for StoredPayload {
    fn from(payload: &Payload) -> Self {
        Self { content_type: payload.content_type.clone(), bytes: payload.bytes.clone() }
    }
}

impl From<StoredPayload> for Payload {
    fn from(stored: StoredPayload) -> Self {
        Payload::new(stored.content_type, stored.bytes)
    }
}

/// One run: what it runs, on what, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub run_id: String,
    /// Workflow name.
    pub workflow: String,
    /// Workflow version.
    pub version: String,
    /// sha256 of the definition it started with: a resume under a changed definition is refused.
    pub definition_sha256: String,
    /// How many steps the definition has.
    pub step_count: u32,
    /// The caller's idempotency key, when it gave one.
    pub idempotency_key: Option<String>,
    /// Where it stands.
    pub status: JournalStatus,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When this record last changed (the last checkpoint of the run itself), in ms since the epoch.
    pub updated_ms: u64,
    /// How many times it was resumed.
    pub resumes: u32,
    /// The declared output directory, when the workflow has one.
    pub output_dir: Option<String>,
    /// Who started it (a tenant), when the caller said.
    pub owner: Option<String>,
    /// While publishing: the staged tree's inode, which tells whether the move into place
    /// already happened when a crash interrupted it.
    pub staged_inode: Option<u64>,
    /// The run's JSON result, committed with its final status.
    pub result_json: Option<String>,
}

/// A step that began (an attempt of the step, across resumes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedRecord {
    /// How many times the step has been started, this one included.
    pub attempt: u32,
    /// sha256 of the input it was given.
    pub input_sha256: String,
    /// When, in milliseconds since the Unix epoch.
    pub started_ms: u64,
}

/// How a completed step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletedAs {
    /// It produced its output.
    Ok,
    /// It failed and handed on its declared default (`on_failure = "skip"`), or an operator
    /// skipped it (`resume --skip`).
    Skipped,
}

/// A step's committed output: written once per (run, step), before any dependent starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedRecord {
    /// How it ended.
    pub completed_as: CompletedAs,
    /// The output handed on.
    pub output: StoredPayload,
    /// sha256 of the output bytes.
    pub output_sha256: String,
    /// `name@version` that served it (`operator` for `resume --skip`).
    pub served_by: String,
    /// Attempts the conductor made.
    pub attempts: u32,
    /// Whether a fallback served it.
    pub fallback: bool,
    /// Whether the answer was degraded.
    pub degraded: bool,
    /// What it consumed.
    pub usage: Usage,
    /// Its wall time, in milliseconds.
    pub wall_ms: u64,
    /// When it was committed, in milliseconds since the Unix epoch.
    pub completed_ms: u64,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Its envelope is damaged or of another schema.
    #[error(transparent)]
    Damaged(#[from] RecordDamage),
    /// The envelope is sound but the body does not decode.
    #[error("undecodable body: {0}")]
    Body(String),
}

/// `record` sealed for the journal.
///
/// # Errors
/// When the record cannot be encoded (it always can: every field is plain data).
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, RecordError> {
    let body = postcard::to_allocvec(record).map_err(|e| RecordError::Body(e.to_string()))?;
    Ok(seal(JOURNAL_SCHEMA, &body))
}

/// A record read back, checked.
///
/// # Errors
/// [`RecordError`] when it is damaged, of another schema or does not decode.
pub fn decode<T: for<'de> Deserialize<'de>>(stored: &[u8]) -> Result<T, RecordError> {
    let body = unseal(JOURNAL_SCHEMA, stored)?;
    postcard::from_bytes(body).map_err(|e| RecordError::Body(e.to_string()))
}
