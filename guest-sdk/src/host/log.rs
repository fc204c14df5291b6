//! Structured logging through the host: [`log`] with a [`LogLevel`], or the per-level
//! shorthands [`info`], [`warn`], ...
//!
//! Fields are key/value pairs; values are anything [`Display`]:
//!
//! ```
//! use symphony_guest_sdk::host::log;
//!
//! let words = 3;
//! log::info("counted", &[("words", &words), ("source", &"request")]);
//! ```

use core::fmt::Display;

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected the extension handled.
    Warn,
    /// Something failed.
    Error,
}

/// A log field: a key and a value shown with [`Display`].
pub type Field<'a> = (&'a str, &'a dyn Display);

/// Records a structured log line at `level` with `fields`.
///
/// The host caps log volume per call (bytes); lines over the cap are dropped and counted.
pub fn log(level: LogLevel, message: &str, fields: &[Field<'_>]) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::bindings::symphony::extension::host as wit;
        let level = match level {
            LogLevel::Trace => wit::LogLevel::Trace,
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        };
        let fields: Vec<wit::LogField> = fields
            .iter()
            .map(|(key, value)| wit::LogField { key: (*key).to_owned(), value: value.to_string() })
            .collect();
        wit::log(level, message, &fields);
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message, fields);
}

/// [`log`] at [`LogLevel::Trace`].
pub fn trace(message: &str, fields: &[Field<'_>]) {
    log(LogLevel::Trace, message, fields);
}

/// [`log`] at [`LogLevel::Debug`].
pub fn debug(message: &str, fields: &[Field<'_>]) {
    log(LogLevel::Debug, message, fields);
}

/// [`log`] at [`LogLevel::Info`].
pub fn info(message: &str, fields: &[Field<'_>]) {
    log(LogLevel::Info, message, fields);
}

/// [`log`] at [`LogLevel::Warn`].
pub fn warn(message: &str, fields: &[Field<'_>]) {
    log(LogLevel::Warn, message, fields);
}

/// [`log`] at [`LogLevel::Error`].
pub fn error(message: &str, fields: &[Field<'_>]) {
    log(LogLevel::Error, message, fields);
}
