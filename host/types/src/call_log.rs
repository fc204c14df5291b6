//! Log records a guest emits during one call, kept within the call's log budget.
//!
//! The budget is two limits at once: records kept (`log_records`) and bytes kept (`log_bytes`).
//! A record weighs its message, its field keys and values, and a fixed overhead per record and
//! per field ([`LOG_RECORD_OVERHEAD_BYTES`], [`LOG_FIELD_OVERHEAD_BYTES`]), so a flood of empty
//! records spends the budget like any other. Records are kept whole while they fit, the first
//! that does not fit is truncated to the remaining bytes, and everything after is dropped and
//! counted: a guest can never make the host hold more than the budget, and the report always
//! says how much was lost.

use serde::Serialize;

use crate::limits::{LOG_FIELD_OVERHEAD_BYTES, LOG_RECORD_OVERHEAD_BYTES};
use crate::progress_log::floor_char_boundary;

/// Severity of a guest log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Finest detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// One kept log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// The message (possibly truncated, see `truncated`).
    pub message: String,
    /// Structured key/value fields.
    pub fields: Vec<(String, String)>,
    /// Whether the message or fields were cut to fit the budget.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// The bounded log of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallLog {
    /// Budget, in bytes.
    pub limit_bytes: u64,
    /// Budget, in records.
    pub limit_records: u64,
    /// Bytes kept (record weights, overheads included).
    pub kept_bytes: u64,
    /// Records kept, in order.
    pub records: Vec<LogRecord>,
    /// Records dropped entirely after the budget ran out.
    pub dropped_records: u64,
    /// Bytes dropped (from truncated and dropped records).
    pub dropped_bytes: u64,
}

impl CallLog {
    /// An empty log with a budget in bytes and in records.
    #[must_use]
    pub fn new(limit_bytes: u64, limit_records: u64) -> Self {
        Self {
            limit_bytes,
            limit_records,
            kept_bytes: 0,
            records: Vec::new(),
            dropped_records: 0,
            dropped_bytes: 0,
        }
    }

    /// Add a record, truncating or dropping it to stay within the budget.
    pub fn push(&mut self, level: LogLevel, message: String, fields: Vec<(String, String)>) {
        let size = record_weight(&message, &fields);
        let remaining = self.limit_bytes.saturating_sub(self.kept_bytes);
        let room_for_a_record = (self.records.len() as u64) < self.limit_records;
        if room_for_a_record && size <= remaining {
            self.kept_bytes += size;
            self.records.push(LogRecord { level, message, fields, truncated: false });
            return;
        }
        if !room_for_a_record || remaining <= LOG_RECORD_OVERHEAD_BYTES {
            self.drop_record(size);
            return;
        }
        // Keep the start of the message within what is left; fields are dropped.
        let room = usize::try_from(remaining - LOG_RECORD_OVERHEAD_BYTES).unwrap_or(usize::MAX);
        let keep = floor_char_boundary(&message, room);
        let mut message = message;
        message.truncate(keep);
        let kept = message.len() as u64 + LOG_RECORD_OVERHEAD_BYTES;
        self.kept_bytes += kept;
        self.dropped_bytes = self.dropped_bytes.saturating_add(size - kept);
        self.records.push(LogRecord { level, message, fields: Vec::new(), truncated: true });
    }

    /// Count a record that was never kept (the budget was spent before it arrived).
    pub fn drop_record(&mut self, weight_bytes: u64) {
        self.dropped_records = self.dropped_records.saturating_add(1);
        self.dropped_bytes = self.dropped_bytes.saturating_add(weight_bytes);
    }

    /// Whether another record could still be kept, even in part: once it cannot, the host may
    /// count a record without building it.
    #[must_use]
    pub fn has_room(&self) -> bool {
        (self.records.len() as u64) < self.limit_records
            && self.limit_bytes.saturating_sub(self.kept_bytes) > LOG_RECORD_OVERHEAD_BYTES
    }

    /// Whether anything was truncated or dropped.
    #[must_use]
    pub fn lost_anything(&self) -> bool {
        self.dropped_bytes > 0 || self.dropped_records > 0
    }
}

/// What a record weighs against the byte budget: its text plus the fixed overheads.
#[must_use]
pub fn record_weight(message: &str, fields: &[(String, String)]) -> u64 {
    let fields: u64 = fields.iter().map(|(k, v)| (k.len() + v.len()) as u64 + LOG_FIELD_OVERHEAD_BYTES).sum();
    LOG_RECORD_OVERHEAD_BYTES + message.len() as u64 + fields
}
