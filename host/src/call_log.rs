//! Log records a guest emits during one call, kept within the call's log budget.
//!
//! A record's size is its message plus its field keys and values, in bytes. Records are kept
//! whole while they fit, the first that does not fit is truncated to the remaining budget, and
//! everything after is dropped and counted: a guest can never make the host hold more than the
//! budget, and the report always says how much was lost.

use serde::Serialize;

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
    /// Bytes kept.
    pub kept_bytes: u64,
    /// Records kept, in order.
    pub records: Vec<LogRecord>,
    /// Records dropped entirely after the budget ran out.
    pub dropped_records: u64,
    /// Bytes dropped (from truncated and dropped records).
    pub dropped_bytes: u64,
}

impl CallLog {
    /// An empty log with a budget in bytes.
    #[must_use]
    pub fn new(limit_bytes: u64) -> Self {
        Self { limit_bytes, kept_bytes: 0, records: Vec::new(), dropped_records: 0, dropped_bytes: 0 }
    }

    /// Add a record, truncating or dropping it to stay within the budget.
    pub fn push(&mut self, level: LogLevel, message: String, fields: Vec<(String, String)>) {
        let size = record_size(&message, &fields);
        let remaining = self.limit_bytes.saturating_sub(self.kept_bytes);
        if size <= remaining {
            self.kept_bytes += size;
            self.records.push(LogRecord { level, message, fields, truncated: false });
            return;
        }
        if remaining == 0 {
            self.dropped_records += 1;
            self.dropped_bytes = self.dropped_bytes.saturating_add(size);
            return;
        }
        // Keep the start of the message within what is left; fields are dropped.
        let keep = floor_char_boundary(&message, usize::try_from(remaining).unwrap_or(usize::MAX));
        let mut message = message;
        message.truncate(keep);
        let kept = message.len() as u64;
        self.kept_bytes += kept;
        self.dropped_bytes = self.dropped_bytes.saturating_add(size - kept);
        self.records.push(LogRecord { level, message, fields: Vec::new(), truncated: true });
    }

    /// Whether anything was truncated or dropped.
    #[must_use]
    pub fn lost_anything(&self) -> bool {
        self.dropped_bytes > 0
    }
}

fn record_size(message: &str, fields: &[(String, String)]) -> u64 {
    let fields: usize = fields.iter().map(|(k, v)| k.len() + v.len()).sum();
    (message.len() + fields) as u64
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_within_budget_truncates_then_counts_drops() {
        let mut log = CallLog::new(10);
        log.push(LogLevel::Info, "hello".into(), vec![]);
        log.push(LogLevel::Info, "héllo world".into(), vec![("k".into(), "v".into())]);
        log.push(LogLevel::Warn, "more".into(), vec![]);
        assert_eq!(log.records.len(), 2);
        assert_eq!(log.records[1].message, "héll");
        assert!(log.records[1].truncated);
        assert_eq!(log.kept_bytes, 10);
        assert_eq!(log.dropped_records, 1);
        assert_eq!(log.dropped_bytes, (14 - 5) + 4);
        assert!(log.lost_anything());
    }
}
