//! The tamper-evident audit log: an append-only JSON-lines file (default
//! `<state_dir>/audit.log`) whose records are hash-chained, so editing, inserting, reordering or
//! deleting a record is caught by [`verify`].
//!
//! ```text
//! {"schema":1,"seq":1,"ts_ms":1714000000000,"extension":"echo@1.0.0","event":"limit_breached","details":{"kind":"out_of_fuel","limit":100,"value":100},"prev":"000…0","hash":"9f2c…"}
//! ```
//!
//! [`AuditLog::record`] never blocks and never fails its caller: it puts the record on a bounded
//! queue that a background thread drains, writing and `fdatasync`ing each batch. A full queue or
//! a failed write drops records and counts them ([`AuditLog::dropped`]); [`AuditLog::flush`] and
//! dropping the last handle wait (boundedly) for the queue to drain, so a CLI loses nothing at
//! exit. This file owns the queue and the thread; the byte format and hash are `record`'s, the
//! file handling (locking, tails, corrupt-tail restarts) is `writer`'s, checking is `verify`'s.

mod event;
mod health_bridge;
mod record;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use event::AuditEvent;
pub use health_bridge::audit_health_events;
pub use record::{AUDIT_SCHEMA_VERSION, AuditRecord, GENESIS_PREV};
pub use verify::{AuditVerifyError, ChainBreak, VerifyReport, verify, verify_each};

use writer::{ChainFile, PendingRecord};

/// File name of the audit log inside the state directory.
pub const DEFAULT_AUDIT_FILE_NAME: &str = "audit.log";
/// Records the queue holds before [`AuditLog::record`] starts dropping them, in records.
pub const DEFAULT_AUDIT_QUEUE_RECORDS: usize = 4_096;
/// Longest [`AuditLog::flush`] (and dropping the last handle) waits for the queue to drain, in
/// milliseconds.
pub const DEFAULT_AUDIT_FLUSH_TIMEOUT_MS: u64 = 2_000;
/// Most records written and synced to disk together, in records. Each batch costs one
/// `fdatasync` (milliseconds on a typical disk), so bursts are written in large batches.
pub const DEFAULT_AUDIT_BATCH_RECORDS: usize = 1_024;
/// Longest record line, newline included, in bytes. Part of the format, not a tunable: the
/// writer drops (and counts) longer records and `verify` rejects longer lines.
pub const MAX_AUDIT_RECORD_BYTES: usize = 64 * 1024;

/// How the audit log queues and writes. Plain data with a builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// Queue capacity, in records.
    pub queue_records: usize,
    /// Longest wait in [`AuditLog::flush`] and on drop, in milliseconds.
    pub flush_timeout_ms: u64,
    /// Most records per write and sync, in records.
    pub batch_records: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            queue_records: DEFAULT_AUDIT_QUEUE_RECORDS,
            flush_timeout_ms: DEFAULT_AUDIT_FLUSH_TIMEOUT_MS,
            batch_records: DEFAULT_AUDIT_BATCH_RECORDS,
        }
    }
}

impl AuditOptions {
    /// Set the queue capacity, in records (at least 1).
    #[must_use]
    pub fn queue_records(mut self, records: usize) -> Self {
        self.queue_records = records;
        self
    }
    /// Set the longest flush wait, in milliseconds.
    #[must_use]
    pub fn flush_timeout_ms(mut self, milliseconds: u64) -> Self {
        self.flush_timeout_ms = milliseconds;
        self
    }
    /// Set the most records per write and sync, in records (at least 1).
    #[must_use]
    pub fn batch_records(mut self, records: usize) -> Self {
        self.batch_records = records;
        self
    }
}

/// Why the audit log could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log file (or its directory) could not be created, read, locked or written.
    #[error("cannot open audit log {}: {source}", path.display())]
    Io {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The background writer thread could not be started.
    #[error("cannot start the audit writer thread: {source}")]
    WriterThread {
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
}

/// A handle on the audit log. Cheap to clone and share (`Send + Sync`); the writer thread stops
/// when the last handle is dropped, after draining the queue (within the flush timeout).
#[derive(Debug, Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    sender: Option<SyncSender<PendingRecord>>,
    progress: Arc<Progress>,
    writer: Option<JoinHandle<()>>,
    flush_timeout: Duration,
}

/// Counters shared with the writer thread.
#[derive(Debug, Default)]
struct Progress {
    /// Records put on the queue.
    accepted: AtomicU64,
    /// Records written to the file.
    written: AtomicU64,
    /// Records dropped: queue full, writer gone, too large, or write failed.
    dropped: AtomicU64,
    /// Records taken off the queue and finished with (written or dropped).
    finished: Mutex<u64>,
    finished_changed: Condvar,
}

impl Progress {
    fn finish(&self, written: u64, dropped: u64) {
        self.written.fetch_add(written, Ordering::Relaxed);
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        *finished = finished.saturating_add(written + dropped);
        self.finished_changed.notify_all();
    }

    /// Wait until `target` records are finished or `timeout` passes; whether they were.
    fn wait_for(&self, target: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        while *finished < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            finished =
                self.finished_changed.wait_timeout(finished, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }
}

impl AuditLog {
    /// `<state_dir>/audit.log`.
    #[must_use]
    pub fn default_path(state_dir: &Path) -> PathBuf {
        state_dir.join(DEFAULT_AUDIT_FILE_NAME)
    }

    /// Open (or create) the log at `path` with default options, continuing its chain.
    ///
    /// # Errors
    /// [`AuditError`] when the file cannot be created, read or written, or the writer thread
    /// cannot start.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        Self::open_with(path, AuditOptions::default())
    }

    /// Open (or create) the log at `path`, continuing its chain from the last record. If that
    /// record is corrupt, a `chain_restarted` record starts a new chain after it (see `writer`).
    ///
    /// # Errors
    /// As [`AuditLog::open`].
    pub fn open_with(path: impl AsRef<Path>, options: AuditOptions) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let chain = ChainFile::open(&path).map_err(|source| AuditError::Io { path: path.clone(), source })?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(options.queue_records.max(1));
        let progress = Arc::new(Progress::default());
        let thread_progress = Arc::clone(&progress);
        let batch_records = options.batch_records.max(1);
        let writer = std::thread::Builder::new()
            .name("symphony-audit".into())
            .spawn(move || drain(chain, &receiver, &thread_progress, batch_records))
            .map_err(|source| AuditError::WriterThread { source })?;
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                sender: Some(sender),
                progress,
                writer: Some(writer),
                flush_timeout: Duration::from_millis(options.flush_timeout_ms),
            }),
        })
    }

    /// Queue one record. Never blocks and never fails: when the queue is full the record is
    /// dropped and counted in [`AuditLog::dropped`].
    ///
    /// `extension` is the `name@version` concerned, `None` for platform events.
    pub fn record(&self, extension: Option<&str>, event: AuditEvent) {
        let progress = &self.shared.progress;
        let pending = PendingRecord { ts_ms: now_ms(), extension: extension.map(str::to_owned), event };
        let sent = match &self.shared.sender {
            Some(sender) => sender.try_send(pending),
            None => Err(TrySendError::Disconnected(pending)),
        };
        match sent {
            Ok(()) => progress.accepted.fetch_add(1, Ordering::SeqCst),
            Err(_) => progress.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Wait (at most the flush timeout) until every record queued before this call is written
    /// or dropped. Returns whether the queue drained in time.
    pub fn flush(&self) -> bool {
        let target = self.shared.progress.accepted.load(Ordering::SeqCst);
        self.shared.progress.wait_for(target, self.shared.flush_timeout)
    }

    /// Records dropped so far: queue full, too large, or the write failed.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.shared.progress.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the file so far (by this handle's writer).
    #[must_use]
    pub fn written(&self) -> u64 {
        self.shared.progress.written.load(Ordering::Relaxed)
    }

    /// The log file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.shared.path
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let target = self.progress.accepted.load(Ordering::SeqCst);
        let drained = self.progress.wait_for(target, self.flush_timeout);
        // Closing the queue ends the writer's loop once it is empty.
        drop(self.sender.take());
        let Some(writer) = self.writer.take() else { return };
        if !drained {
            // A writer stuck on the disk must not hang the process: leave it detached.
            tracing::warn!(path = %self.path.display(), "audit log closed before its queue drained");
        } else if writer.join().is_err() {
            tracing::error!("the audit writer thread panicked");
        }
    }
}

/// The writer thread: take a batch off the queue, append it, report, until the queue closes.
fn drain(
    mut chain: ChainFile,
    receiver: &Receiver<PendingRecord>,
    progress: &Progress,
    batch_records: usize,
) {
    let mut batch = Vec::with_capacity(batch_records);
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        while batch.len() < batch_records {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let outcome = chain.append(&batch);
        let unaccounted = (batch.len() as u64).saturating_sub(outcome.written + outcome.dropped);
        progress.finish(outcome.written, outcome.dropped + unaccounted);
        batch.clear();
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
