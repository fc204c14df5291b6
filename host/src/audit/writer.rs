//! The file side of the audit log: appending batches of records to the chain, and finding where
//! the chain stands (its tail) when the log is opened or another process has appended to it.
//! The queue, the thread and the counters around it are `audit`'s.
//!
//! Every batch is written under an exclusive advisory lock on the file (`flock`), so several
//! processes can share one log: a writer that finds the file longer than it left it re-reads the
//! last record and continues the chain from there. A batch is one `write` plus one `fdatasync`;
//! if either fails the file is cut back to where the batch started and the batch is dropped.
//!
//! **Corrupt tail.** When the last line cannot be continued from (a crash cut it short, or it was
//! edited), the writer does not refuse to log: it ends the fragment with `\n`, leaves it in
//! place, and starts a new chain (seq 1, prev zeros) with a
//! [`ChainRestarted`](AuditEvent::ChainRestarted) record naming the broken line. `verify` still
//! reports the break; records after it are hashed and chained among themselves.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::MAX_AUDIT_RECORD_BYTES;
use super::event::AuditEvent;
use super::record::{ChainHead, check_line, encode_line};
use super::verify::ChainBreak;

/// Bytes read at a time when looking for the start of the last line.
const TAIL_CHUNK_BYTES: usize = 8 * 1024;

/// A record waiting in the queue.
#[derive(Debug)]
pub(crate) struct PendingRecord {
    pub(crate) ts_ms: u64,
    pub(crate) extension: Option<String>,
    pub(crate) event: AuditEvent,
}

/// What happened to one batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchOutcome {
    pub(crate) written: u64,
    pub(crate) dropped: u64,
}

/// The log file and where its chain stands.
#[derive(Debug)]
pub(crate) struct ChainFile {
    path: PathBuf,
    file: File,
    head: ChainHead,
    /// File length after our last write; `None` forces re-reading the tail before the next one.
    known_len: Option<u64>,
}

impl ChainFile {
    /// Open (creating it and its directory if needed) and find the chain's head, writing a
    /// `chain_restarted` record if the tail is corrupt.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        let mut chain = Self { path: path.to_path_buf(), file, head: ChainHead::genesis(), known_len: None };
        chain.with_lock(|chain| {
            let len = chain.file.metadata()?.len();
            let (head, restart) = chain.find_head(len)?;
            chain.commit(len, &restart, head)
        })?;
        Ok(chain)
    }

    /// Append `batch` in one write. Records that cannot be encoded, or encode longer than
    /// [`MAX_AUDIT_RECORD_BYTES`], are dropped; on an I/O error the whole batch is.
    pub(crate) fn append(&mut self, batch: &[PendingRecord]) -> BatchOutcome {
        let all = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        match self.with_lock(|chain| chain.append_locked(batch)) {
            Ok(outcome) => outcome,
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, records = all, "audit records dropped: write failed");
                self.known_len = None;
                BatchOutcome { written: 0, dropped: all }
            }
        }
    }

    fn append_locked(&mut self, batch: &[PendingRecord]) -> io::Result<BatchOutcome> {
        let len = self.file.metadata()?.len();
        let (mut head, mut bytes) = match self.known_len {
            Some(known) if known == len => (self.head.clone(), Vec::new()),
            _ => self.find_head(len)?,
        };
        let mut outcome = BatchOutcome::default();
        for record in batch {
            let mut next = head.clone();
            match encode_line(&mut next, record.ts_ms, record.extension.as_deref(), &record.event) {
                Ok(line) if line.len() <= MAX_AUDIT_RECORD_BYTES => {
                    bytes.extend_from_slice(&line);
                    head = next;
                    outcome.written += 1;
                }
                Ok(line) => {
                    tracing::warn!(
                        event = record.event.kind(),
                        size_bytes = line.len(),
                        "audit record dropped: too large"
                    );
                    outcome.dropped += 1;
                }
                Err(err) => {
                    tracing::warn!(event = record.event.kind(), error = %err, "audit record dropped: cannot encode");
                    outcome.dropped += 1;
                }
            }
        }
        self.commit(len, &bytes, head)?;
        Ok(outcome)
    }

    /// Write `bytes` at the end of a file of length `len` and make `head` current; on failure cut
    /// the file back to `len` so no half record stays behind.
    fn commit(&mut self, len: u64, bytes: &[u8], head: ChainHead) -> io::Result<()> {
        if !bytes.is_empty() {
            let written = self.file.write_all(bytes).and_then(|()| self.file.sync_data());
            if let Err(err) = written {
                self.known_len = None;
                if let Err(cut) = self.file.set_len(len) {
                    tracing::warn!(path = %self.path.display(), error = %cut, "cannot cut back a failed audit write");
                }
                return Err(err);
            }
        }
        let appended = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.known_len = Some(len.saturating_add(appended));
        self.head = head;
        Ok(())
    }

    /// Run `f` holding the file's exclusive lock. A filesystem without locks still gets the
    /// write (one process per log is then the operator's job).
    fn with_lock<T>(&mut self, f: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        let locked = match self.file.lock() {
            Ok(()) => true,
            Err(err) => {
                tracing::debug!(path = %self.path.display(), error = %err, "audit log not locked");
                false
            }
        };
        let result = f(self);
        if locked && let Err(err) = self.file.unlock() {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot unlock the audit log");
        }
        result
    }

    /// Where the chain in a file of length `len` continues, and the bytes to write before the
    /// next record: a `\n` ending a cut-short line, and a `chain_restarted` record when the last
    /// line cannot be continued from.
    fn find_head(&mut self, len: u64) -> io::Result<(ChainHead, Vec<u8>)> {
        if len == 0 {
            return Ok((ChainHead::genesis(), Vec::new()));
        }
        let tail = self.read_tail(len)?;
        let mut bytes = Vec::new();
        if !tail.terminated {
            bytes.push(b'\n');
        }
        let checked = match &tail.line {
            Some(line) => check_line(line),
            None => {
                Err(ChainBreak::Unparsable { detail: format!("longer than {MAX_AUDIT_RECORD_BYTES} bytes") })
            }
        };
        match checked {
            Ok(record) => Ok((ChainHead::after(&record), bytes)),
            Err(reason) => {
                let broken_line = self.count_lines_before(tail.start)?.saturating_add(1);
                tracing::warn!(path = %self.path.display(), line = broken_line, %reason, "audit chain restarted after a corrupt record");
                let mut head = ChainHead::genesis();
                let event = AuditEvent::ChainRestarted { broken_line, reason: reason.to_string() };
                let line = encode_line(&mut head, super::now_ms(), None, &event).map_err(io::Error::other)?;
                bytes.extend_from_slice(&line);
                Ok((head, bytes))
            }
        }
    }

    /// The last line of a non-empty file of length `len`.
    fn read_tail(&mut self, len: u64) -> io::Result<Tail> {
        let mut last = [0u8; 1];
        self.file.seek(SeekFrom::Start(len - 1))?;
        self.file.read_exact(&mut last)?;
        let terminated = last[0] == b'\n';
        let end = if terminated { len - 1 } else { len };
        let mut start = end;
        let mut chunk = vec![0u8; TAIL_CHUNK_BYTES];
        while start > 0 {
            let n = usize::try_from(start).map_or(TAIL_CHUNK_BYTES, |s| s.min(TAIL_CHUNK_BYTES));
            let from = start - n as u64;
            self.file.seek(SeekFrom::Start(from))?;
            self.file.read_exact(&mut chunk[..n])?;
            if let Some(i) = chunk[..n].iter().rposition(|b| *b == b'\n') {
                start = from + i as u64 + 1;
                break;
            }
            start = from;
        }
        let line_len = end - start;
        let line = if line_len < MAX_AUDIT_RECORD_BYTES as u64 {
            let mut line = vec![0u8; line_len as usize];
            self.file.seek(SeekFrom::Start(start))?;
            self.file.read_exact(&mut line)?;
            Some(line)
        } else {
            None
        };
        Ok(Tail { start, line, terminated })
    }

    /// Newlines in the first `offset` bytes of the file.
    fn count_lines_before(&mut self, offset: u64) -> io::Result<u64> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut reader = (&mut self.file).take(offset);
        let mut chunk = vec![0u8; TAIL_CHUNK_BYTES];
        let mut lines = 0u64;
        loop {
            let n = reader.read(&mut chunk)?;
            if n == 0 {
                return Ok(lines);
            }
            lines += chunk[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
    }
}

/// The last line of the file.
struct Tail {
    /// Byte offset where it starts.
    start: u64,
    /// Its bytes without the `\n`; `None` when it is longer than any record can be.
    line: Option<Vec<u8>>,
    /// Whether the file ends with `\n`.
    terminated: bool,
}
