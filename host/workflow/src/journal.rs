//! [`Journal`]: the checkpoint journal of durable workflow runs, one redb file under the state
//! directory (`journal.redb`).
//!
//! Tables: `runs` (run id → [`RunRecord`]), `inputs` (run id → its input, written once),
//! `started` and `completed` ((run id, step id) →
//! [`StartedRecord`] / [`CompletedRecord`]) and `idempotency` (key → run id). Every value is
//! sealed with a schema version and the sha256 of its body ([`record`]); a damaged record makes
//! its run [`JournalError::Corrupt`], never silently resumed. A `completed` record is committed
//! with an fsync (`Durability::Immediate`) before the runner lets any dependent start, and the
//! (run, step) key is unique: a second completion of the same step is refused inside the
//! transaction, so a duplicate cannot be written. redb holds the file exclusively, so one
//! process at a time runs or resumes the runs of one state directory.

pub mod record;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use symphony_types::store_open::{StoreOpenError, open_waiting};

use self::record::{
    CompletedRecord, JournalStatus, RecordError, RunRecord, StartedRecord, StoredPayload, decode, encode,
};

/// File name under the state directory.
pub const JOURNAL_FILE: &str = "journal.redb";
/// How long opening waits for another process holding the journal, in milliseconds.
pub const OPEN_WAIT_MS: u64 = 30_000;

const RUNS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("runs");
const INPUTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("inputs");
const STARTED: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("started");
const COMPLETED: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("completed");
const IDEMPOTENCY: TableDefinition<'_, &str, &str> = TableDefinition::new("idempotency");

/// Why the journal could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The platform has no state directory to keep a journal in.
    #[error("no state directory: durable runs need one (--state-dir)")]
    NoStateDir,
    /// Another process holds the journal (it is running or resuming a workflow).
    #[error("the journal {} is held by another symphony process (a workflow run in progress); try again when it ends", path.display())]
    Busy {
        /// The journal file.
        path: PathBuf,
    },
    /// The file could not be opened, read or written.
    #[error("journal {}: {reason}", path.display())]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The storage error.
        reason: String,
    },
    /// No run has this id.
    #[error("no workflow run `{run_id}` in the journal")]
    UnknownRun {
        /// As asked.
        run_id: String,
    },
    /// A record of the run is damaged or unreadable: the run is not trusted.
    #[error("run `{run_id}` is corrupt: its {record} record: {damage}")]
    Corrupt {
        /// The run.
        run_id: String,
        /// Which record (`run`, `started step-id`, `completed step-id`).
        record: String,
        /// What is wrong with it.
        damage: RecordError,
    },
    /// The step already has a committed completion.
    #[error("step `{step}` of run `{run_id}` is already completed")]
    AlreadyCompleted {
        /// The run.
        run_id: String,
        /// The step.
        step: String,
    },
    /// The idempotency key already names another run.
    #[error("idempotency key `{key}` already names run `{run_id}`")]
    KeyTaken {
        /// The key.
        key: String,
        /// The run it names.
        run_id: String,
    },
}

/// A run as the journal holds it: its record and its steps' records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledRun {
    /// The run.
    pub run: RunRecord,
    /// Its input.
    pub input: StoredPayload,
    /// `started` records by step id.
    pub started: Vec<(String, StartedRecord)>,
    /// `completed` records by step id.
    pub completed: Vec<(String, CompletedRecord)>,
}

/// One line of `workflow runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The run's id.
    pub run_id: String,
    /// Workflow name (empty when the run record itself is damaged).
    pub workflow: String,
    /// Where it stands; `None` when it is corrupt.
    pub status: Option<JournalStatus>,
    /// Why it is not trusted, when it is corrupt.
    pub corrupt: Option<String>,
    /// Steps with a committed completion.
    pub steps_done: u32,
    /// Steps in its definition.
    pub step_count: u32,
    /// Its idempotency key.
    pub idempotency_key: Option<String>,
    /// When it was created, in ms since the epoch.
    pub created_ms: u64,
    /// Its last checkpoint (run or step record), in ms since the epoch.
    pub last_checkpoint_ms: u64,
}

/// What [`Journal::prune`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Finished runs older than this are removed, in milliseconds.
    pub max_age_ms: u64,
    /// At most this many finished runs are kept (the newest).
    pub max_runs: usize,
}

/// The checkpoint journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    db: Database,
}

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Journal {
    /// The journal's path under `state_dir`.
    #[must_use]
    pub fn default_path(state_dir: &Path) -> PathBuf {
        state_dir.join(JOURNAL_FILE)
    }

    /// Open or create the journal at `path`, waiting up to [`OPEN_WAIT_MS`] for another holder.
    ///
    /// # Errors
    /// [`JournalError::Busy`] or [`JournalError::Io`].
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        Self::open_within(path, Duration::from_millis(OPEN_WAIT_MS))
    }

    /// [`open`](Self::open), waiting at most `wait`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_within(path: &Path, wait: Duration) -> Result<Self, JournalError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| JournalError::Io { path: path.to_path_buf(), reason: e.to_string() })?;
        }
        match open_waiting(path, wait) {
            Ok(db) => Ok(Self { path: path.to_path_buf(), db }),
            Err(StoreOpenError::Busy) => Err(JournalError::Busy { path: path.to_path_buf() }),
            Err(StoreOpenError::Failed(e)) => {
                Err(JournalError::Io { path: path.to_path_buf(), reason: e.to_string() })
            }
        }
    }

    /// The journal file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, e: impl std::fmt::Display) -> JournalError {
        JournalError::Io { path: self.path.clone(), reason: e.to_string() }
    }

    fn corrupt(run_id: &str, record: String, damage: RecordError) -> JournalError {
        JournalError::Corrupt { run_id: run_id.to_owned(), record, damage }
    }

    /// Record a new run (and its idempotency key), fsync'd when `durable`.
    ///
    /// # Errors
    /// [`JournalError::KeyTaken`] when its key names another run; [`JournalError::Io`].
    pub fn begin_run(
        &self,
        run: &RunRecord,
        input: &StoredPayload,
        durable: bool,
    ) -> Result<(), JournalError> {
        let mut write = self.db.begin_write().map_err(|e| self.io(e))?;
        // Unless `durable`, not fsync'd on its own: the first durable commit of the run (a
        // completion, or the start of a non-idempotent step) carries it to disk. A crash before
        // then loses a run that had committed nothing, and its key: running again starts it
        // afresh. A run with a staging directory is durable from the start, so its staging is
        // never left behind by a run the journal forgot.
        if !durable {
            write.set_durability(Durability::None).map_err(|e| self.io(e))?;
        }
        {
            if let Some(key) = &run.idempotency_key {
                let mut keys = write.open_table(IDEMPOTENCY).map_err(|e| self.io(e))?;
                if let Some(existing) = keys.get(key.as_str()).map_err(|e| self.io(e))? {
                    return Err(JournalError::KeyTaken {
                        key: key.clone(),
                        run_id: existing.value().to_owned(),
                    });
                }
                keys.insert(key.as_str(), run.run_id.as_str()).map_err(|e| self.io(e))?;
            }
            let mut runs = write.open_table(RUNS).map_err(|e| self.io(e))?;
            let sealed = encode(run).map_err(|e| self.io(e))?;
            runs.insert(run.run_id.as_str(), sealed.as_slice()).map_err(|e| self.io(e))?;
            let mut inputs = write.open_table(INPUTS).map_err(|e| self.io(e))?;
            let sealed = encode(input).map_err(|e| self.io(e))?;
            inputs.insert(run.run_id.as_str(), sealed.as_slice()).map_err(|e| self.io(e))?;
        }
        write.commit().map_err(|e| self.io(e))
    }

    /// The run an idempotency key names.
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn run_for_key(&self, key: &str) -> Result<Option<String>, JournalError> {
        let read = self.db.begin_read().map_err(|e| self.io(e))?;
        let keys = match read.open_table(IDEMPOTENCY) {
            Ok(keys) => keys,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        Ok(keys.get(key).map_err(|e| self.io(e))?.map(|v| v.value().to_owned()))
    }

    /// Replace a run's record (status, result, publishing state), durably.
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn update_run(&self, run: &RunRecord) -> Result<(), JournalError> {
        self.update_run_with(run, &[])
    }

    /// [`update_run`](Self::update_run) with `completions` committed in the same transaction
    /// (the run's last steps, which nothing waits on), each refused if one exists.
    ///
    /// # Errors
    /// [`JournalError::AlreadyCompleted`]; [`JournalError::Io`].
    pub fn update_run_with(
        &self,
        run: &RunRecord,
        completions: &[(String, CompletedRecord)],
    ) -> Result<(), JournalError> {
        let write = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            if !completions.is_empty() {
                let mut completed = write.open_table(COMPLETED).map_err(|e| self.io(e))?;
                for (step, record) in completions {
                    let key = (run.run_id.as_str(), step.as_str());
                    if completed.get(key).map_err(|e| self.io(e))?.is_some() {
                        return Err(JournalError::AlreadyCompleted {
                            run_id: run.run_id.clone(),
                            step: step.clone(),
                        });
                    }
                    let sealed = encode(record).map_err(|e| self.io(e))?;
                    completed.insert(key, sealed.as_slice()).map_err(|e| self.io(e))?;
                }
            }
            let mut runs = write.open_table(RUNS).map_err(|e| self.io(e))?;
            let sealed = encode(run).map_err(|e| self.io(e))?;
            runs.insert(run.run_id.as_str(), sealed.as_slice()).map_err(|e| self.io(e))?;
        }
        let started = std::time::Instant::now();
        write.commit().map_err(|e| self.io(e))?;
        crate::run_metrics::checkpoint_committed(started.elapsed());
        Ok(())
    }

    /// Record that `step` of `run_id` starts, returning its attempt number (1 the first time).
    /// `durable` fsyncs the commit (for steps that must not run twice unnoticed); otherwise the
    /// record reaches the disk with the next durable commit.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] when the earlier record is damaged; [`JournalError::Io`].
    pub fn record_started(
        &self,
        run_id: &str,
        step: &str,
        input_sha256: &str,
        durable: bool,
    ) -> Result<u32, JournalError> {
        let mut write = self.db.begin_write().map_err(|e| self.io(e))?;
        if !durable {
            write.set_durability(Durability::None).map_err(|e| self.io(e))?;
        }
        let attempt;
        {
            let mut started = write.open_table(STARTED).map_err(|e| self.io(e))?;
            let earlier = match started.get((run_id, step)).map_err(|e| self.io(e))? {
                Some(value) => Some(
                    decode::<StartedRecord>(value.value())
                        .map_err(|d| Self::corrupt(run_id, format!("started {step}"), d))?,
                ),
                None => None,
            };
            attempt = earlier.map_or(1, |e| e.attempt.saturating_add(1));
            let record =
                StartedRecord { attempt, input_sha256: input_sha256.to_owned(), started_ms: now_ms() };
            let sealed = encode(&record).map_err(|e| self.io(e))?;
            started.insert((run_id, step), sealed.as_slice()).map_err(|e| self.io(e))?;
        }
        write.commit().map_err(|e| self.io(e))?;
        Ok(attempt)
    }

    /// Commit `step`'s completion, fsync'd. Refused when one exists: one completion per
    /// (run, step).
    ///
    /// # Errors
    /// [`JournalError::AlreadyCompleted`]; [`JournalError::Io`].
    pub fn record_completed(
        &self,
        run_id: &str,
        step: &str,
        record: &CompletedRecord,
    ) -> Result<(), JournalError> {
        let write = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut completed = write.open_table(COMPLETED).map_err(|e| self.io(e))?;
            if completed.get((run_id, step)).map_err(|e| self.io(e))?.is_some() {
                return Err(JournalError::AlreadyCompleted {
                    run_id: run_id.to_owned(),
                    step: step.to_owned(),
                });
            }
            let sealed = encode(record).map_err(|e| self.io(e))?;
            completed.insert((run_id, step), sealed.as_slice()).map_err(|e| self.io(e))?;
        }
        let started = std::time::Instant::now();
        write.commit().map_err(|e| self.io(e))?;
        crate::run_metrics::checkpoint_committed(started.elapsed());
        Ok(())
    }

    /// Everything the journal holds about `run_id`, every record checked.
    ///
    /// # Errors
    /// [`JournalError::UnknownRun`]; [`JournalError::Corrupt`] when any record of it is
    /// damaged; [`JournalError::Io`].
    pub fn load(&self, run_id: &str) -> Result<JournaledRun, JournalError> {
        let read = self.db.begin_read().map_err(|e| self.io(e))?;
        let unknown = || JournalError::UnknownRun { run_id: run_id.to_owned() };
        let runs = match read.open_table(RUNS) {
            Ok(runs) => runs,
            Err(redb::TableError::TableDoesNotExist(_)) => return Err(unknown()),
            Err(e) => return Err(self.io(e)),
        };
        let stored = runs.get(run_id).map_err(|e| self.io(e))?.ok_or_else(unknown)?;
        let run: RunRecord = decode(stored.value()).map_err(|d| Self::corrupt(run_id, "run".into(), d))?;
        let inputs = read.open_table(INPUTS).map_err(|e| self.io(e))?;
        let stored = inputs
            .get(run_id)
            .map_err(|e| self.io(e))?
            .ok_or_else(|| Self::corrupt(run_id, "input".into(), RecordError::Body("missing".into())))?;
        let input: StoredPayload =
            decode(stored.value()).map_err(|d| Self::corrupt(run_id, "input".into(), d))?;
        let started = self.step_records(&read, STARTED, run_id, "started")?;
        let completed = self.step_records(&read, COMPLETED, run_id, "completed")?;
        Ok(JournaledRun { run, input, started, completed })
    }

    fn step_records<T: for<'de> serde::Deserialize<'de>>(
        &self,
        read: &redb::ReadTransaction,
        table: TableDefinition<'_, (&str, &str), &[u8]>,
        run_id: &str,
        kind: &str,
    ) -> Result<Vec<(String, T)>, JournalError> {
        let table = match read.open_table(table) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut records = Vec::new();
        for entry in table.range((run_id, "")..).map_err(|e| self.io(e))? {
            let (key, value) = entry.map_err(|e| self.io(e))?;
            let (run, step) = key.value();
            if run != run_id {
                break;
            }
            let record =
                decode(value.value()).map_err(|d| Self::corrupt(run_id, format!("{kind} {step}"), d))?;
            records.push((step.to_owned(), record));
        }
        Ok(records)
    }

    /// Every run, newest first; a damaged run is listed as corrupt, not skipped.
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn runs(&self) -> Result<Vec<RunSummary>, JournalError> {
        let ids = self.run_ids()?;
        let mut summaries = Vec::with_capacity(ids.len());
        for run_id in ids {
            summaries.push(match self.load(&run_id) {
                Ok(loaded) => summary(&loaded),
                Err(JournalError::Corrupt { record, damage, .. }) => RunSummary {
                    run_id,
                    workflow: String::new(),
                    status: None,
                    corrupt: Some(format!("its {record} record: {damage}")),
                    steps_done: 0,
                    step_count: 0,
                    idempotency_key: None,
                    created_ms: 0,
                    last_checkpoint_ms: 0,
                },
                Err(other) => return Err(other),
            });
        }
        summaries.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| b.run_id.cmp(&a.run_id)));
        Ok(summaries)
    }

    fn run_ids(&self) -> Result<Vec<String>, JournalError> {
        let read = self.db.begin_read().map_err(|e| self.io(e))?;
        let runs = match read.open_table(RUNS) {
            Ok(runs) => runs,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut ids = Vec::new();
        for entry in runs.iter().map_err(|e| self.io(e))? {
            let (key, _) = entry.map_err(|e| self.io(e))?;
            ids.push(key.value().to_owned());
        }
        Ok(ids)
    }

    /// Remove finished runs (succeeded or failed) older than `retention.max_age_ms` or beyond
    /// the newest `retention.max_runs`, with their step records and key. Unfinished and
    /// corrupt runs are kept. Returns the removed run ids.
    ///
    /// # Errors
    /// [`JournalError::Io`].
    pub fn prune(&self, retention: Retention, now_ms: u64) -> Result<Vec<String>, JournalError> {
        let mut finished: Vec<RunSummary> =
            self.runs()?.into_iter().filter(|r| r.status.is_some_and(JournalStatus::is_final)).collect();
        finished.sort_by_key(|run| std::cmp::Reverse(run.last_checkpoint_ms));
        let doomed: Vec<RunSummary> = finished
            .into_iter()
            .enumerate()
            .filter(|(rank, run)| {
                *rank >= retention.max_runs
                    || now_ms.saturating_sub(run.last_checkpoint_ms) > retention.max_age_ms
            })
            .map(|(_, run)| run)
            .collect();
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let write = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut runs = write.open_table(RUNS).map_err(|e| self.io(e))?;
            let mut started = write.open_table(STARTED).map_err(|e| self.io(e))?;
            let mut completed = write.open_table(COMPLETED).map_err(|e| self.io(e))?;
            let mut keys = write.open_table(IDEMPOTENCY).map_err(|e| self.io(e))?;
            let mut inputs = write.open_table(INPUTS).map_err(|e| self.io(e))?;
            for run in &doomed {
                let id = run.run_id.as_str();
                runs.remove(id).map_err(|e| self.io(e))?;
                inputs.remove(id).map_err(|e| self.io(e))?;
                if let Some(key) = &run.idempotency_key {
                    keys.remove(key.as_str()).map_err(|e| self.io(e))?;
                }
                for table in [&mut started, &mut completed] {
                    let steps: Vec<String> = table
                        .range((id, "")..)
                        .map_err(|e| self.io(e))?
                        .map_while(|entry| {
                            let (key, _) = entry.ok()?;
                            let (run, step) = key.value();
                            (run == id).then(|| step.to_owned())
                        })
                        .collect();
                    for step in steps {
                        table.remove((id, step.as_str())).map_err(|e| self.io(e))?;
                    }
                }
            }
        }
        write.commit().map_err(|e| self.io(e))?;
        Ok(doomed.into_iter().map(|r| r.run_id).collect())
    }
}

fn summary(loaded: &JournaledRun) -> RunSummary {
    let run = &loaded.run;
    let last_step = loaded
        .completed
        .iter()
        .map(|(_, c)| c.completed_ms)
        .chain(loaded.started.iter().map(|(_, s)| s.started_ms))
        .max()
        .unwrap_or(0);
    RunSummary {
        run_id: run.run_id.clone(),
        workflow: run.workflow.clone(),
        status: Some(run.status),
        corrupt: None,
        steps_done: u32::try_from(loaded.completed.len()).unwrap_or(u32::MAX),
        step_count: run.step_count,
        idempotency_key: run.idempotency_key.clone(),
        created_ms: run.created_ms,
        last_checkpoint_ms: run.updated_ms.max(last_step),
    }
}

#[cfg(test)]
mod tests;
