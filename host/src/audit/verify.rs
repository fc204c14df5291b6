//! Walking an audit log's hash chain: [`verify`] reads the file line by line, checks every
//! record against its own hash, its `seq` and its `prev`, and names the first record that breaks
//! the chain. What a line's hash is, is `record`'s business.
//!
//! The chain proves that no record was edited, inserted, reordered or removed *before the last
//! one*. It cannot see records cut off the end (or the whole file replaced by a freshly hashed
//! one): compare [`VerifyReport::last_hash`] with a copy kept elsewhere for that.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::MAX_AUDIT_RECORD_BYTES;
use super::record::{AuditRecord, ChainHead, check_line};

/// A log whose chain holds from its first record to its last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records in the file.
    pub records: u64,
    /// `hash` of the last record ([`GENESIS_PREV`](super::GENESIS_PREV) for an empty log).
    pub last_hash: String,
    /// `seq` of the last record, `None` for an empty log.
    pub last_seq: Option<u64>,
}

/// Why a record breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainBreak {
    /// The line is not a complete record (bad JSON, missing fields, no trailing hash, too long).
    #[error("unparsable: {detail}")]
    Unparsable {
        /// What is wrong with it.
        detail: String,
    },
    /// The record was written by a host with another record format.
    #[error("unsupported schema {found}")]
    UnsupportedSchema {
        /// The record's `schema`.
        found: u32,
    },
    /// The record's bytes do not hash to its `hash`: it was edited.
    #[error("hash mismatch: the record says {stored}, its bytes hash to {computed}")]
    HashMismatch {
        /// The `hash` written in the record.
        stored: String,
        /// The hash of the record's body as found.
        computed: String,
    },
    /// The record's `prev` is not the previous record's `hash`.
    #[error("prev does not match: expected {expected}, found {found}")]
    PrevMismatch {
        /// The previous record's hash.
        expected: String,
        /// The record's `prev`.
        found: String,
    },
    /// The record's `seq` is not one more than the previous record's.
    #[error("seq gap: expected seq {expected}, found {found}")]
    SeqGap {
        /// One more than the previous record's seq (1 for the first record).
        expected: u64,
        /// The record's `seq`.
        found: u64,
    },
}

impl ChainBreak {
    /// Stable snake_case name of the variant.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unparsable { .. } => "unparsable",
            Self::UnsupportedSchema { .. } => "unsupported_schema",
            Self::HashMismatch { .. } => "hash_mismatch",
            Self::PrevMismatch { .. } => "prev_mismatch",
            Self::SeqGap { .. } => "seq_gap",
        }
    }
}

/// Why an audit log does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditVerifyError {
    /// The file could not be read.
    #[error("cannot read audit log {}: {source}", path.display())]
    Io {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A record breaks the chain; every record before it is intact.
    #[error(
        "audit log {} is broken at line {line}{}: {reason}",
        path.display(),
        seq.map(|s| format!(" (seq {s})")).unwrap_or_default()
    )]
    Broken {
        /// The log file.
        path: PathBuf,
        /// 1-based line number of the first bad record.
        line: u64,
        /// Its `seq`, when the line could be parsed that far.
        seq: Option<u64>,
        /// What is wrong.
        #[source]
        reason: ChainBreak,
    },
}

/// Check the whole chain of the log at `path`.
///
/// # Errors
/// [`AuditVerifyError::Broken`] naming the first record (line and seq) that breaks the chain and
/// why; [`AuditVerifyError::Io`] when the file cannot be read.
pub fn verify(path: &Path) -> Result<VerifyReport, AuditVerifyError> {
    verify_each(path, |_| {})
}

/// [`verify`], handing every intact record to `on_record` in order (for listing a log while
/// checking it). Records after a break are never handed out.
///
/// # Errors
/// As [`verify`].
pub fn verify_each(
    path: &Path,
    mut on_record: impl FnMut(&AuditRecord),
) -> Result<VerifyReport, AuditVerifyError> {
    let io_error = |source| AuditVerifyError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io_error)?;
    // A shared lock keeps writers (which lock exclusively per batch) from appending a record
    // while we read it; they queue meanwhile. Without locking support we read unlocked.
    let _ = file.lock_shared();
    let mut reader = BufReader::new(file);
    let mut expected = ChainHead::genesis();
    let mut report = VerifyReport { records: 0, last_hash: expected.prev.clone(), last_seq: None };
    let mut line = Vec::new();
    let mut line_number = 0u64;
    loop {
        line.clear();
        let cap = u64::try_from(MAX_AUDIT_RECORD_BYTES).unwrap_or(u64::MAX);
        let read = (&mut reader).take(cap).read_until(b'\n', &mut line).map_err(io_error)?;
        if read == 0 {
            return Ok(report);
        }
        line_number += 1;
        let broken = |seq, reason| AuditVerifyError::Broken {
            path: path.to_path_buf(),
            line: line_number,
            seq,
            reason,
        };
        // Without a newline this is either the last line (shorter than the cap: a write that was
        // cut short, checked like any other) or a line longer than any record can be.
        let content = line.strip_suffix(b"\n");
        let Some(content) = content.or((line.len() < MAX_AUDIT_RECORD_BYTES).then_some(&line[..])) else {
            let detail = format!("longer than {MAX_AUDIT_RECORD_BYTES} bytes");
            return Err(broken(None, ChainBreak::Unparsable { detail }));
        };
        let record = check_line(content).map_err(|reason| broken(None, reason))?;
        if record.seq != expected.next_seq {
            let reason = ChainBreak::SeqGap { expected: expected.next_seq, found: record.seq };
            return Err(broken(Some(record.seq), reason));
        }
        if record.prev != expected.prev {
            let reason = ChainBreak::PrevMismatch { expected: expected.prev, found: record.prev };
            return Err(broken(Some(record.seq), reason));
        }
        on_record(&record);
        expected = ChainHead::after(&record);
        report =
            VerifyReport { records: report.records + 1, last_hash: record.hash, last_seq: Some(record.seq) };
    }
}
