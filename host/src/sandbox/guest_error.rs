//! Turning what a guest returns (its typed error, its health status) into Symphony's types,
//! with every guest-chosen string cut to the call's `error_message_bytes`.
//!
//! The canonical ABI has already copied the string out of guest memory when this runs (its
//! size bounded by the guest's memory limit and paid for in fuel); the copy is cut here, right
//! after lifting, so what travels on through the conductor, the audit log and the JSON report
//! is at most the limit plus a marker saying how many bytes were cut.

use crate::bindings::v1_1_0::symphony::extension::types;
use symphony_types::error::ExtensionError;
use symphony_types::health_status::HealthStatus;
use symphony_types::progress_log::floor_char_boundary;

/// Cut `message` to at most `limit_bytes` (on a char boundary) and append a marker naming what
/// was cut. Returns the bytes cut (0 when it fit).
pub(crate) fn cut_message(message: &mut String, limit_bytes: u64) -> u64 {
    let limit = usize::try_from(limit_bytes).unwrap_or(usize::MAX);
    if message.len() <= limit {
        return 0;
    }
    let keep = floor_char_boundary(message, limit);
    let cut = (message.len() - keep) as u64;
    message.truncate(keep);
    message.shrink_to_fit();
    message.push_str(&format!("… [{cut} bytes cut]"));
    cut
}

/// The guest's error in Symphony's taxonomy, its message cut to `limit_bytes`; with the bytes
/// cut.
pub(crate) fn guest_error(err: types::ExtensionError, limit_bytes: u64) -> (ExtensionError, u64) {
    use types::ExtensionError as E;
    let mut error = match err {
        E::InvalidInput(message) => ExtensionError::InvalidInput { message },
        E::Unavailable(u) => {
            ExtensionError::Unavailable { message: u.message, retry_after_ms: u.retry_after_ms }
        }
        E::RateLimited(r) => {
            ExtensionError::RateLimited { message: r.message, retry_after_ms: r.retry_after_ms }
        }
        E::ResourceExhausted(message) => ExtensionError::ResourceExhausted { message },
        E::UnableToComplete(message) => ExtensionError::UnableToComplete { message },
        E::Internal(message) => ExtensionError::Internal { message },
    };
    let cut = match &mut error {
        ExtensionError::InvalidInput { message }
        | ExtensionError::Unavailable { message, .. }
        | ExtensionError::RateLimited { message, .. }
        | ExtensionError::ResourceExhausted { message }
        | ExtensionError::UnableToComplete { message }
        | ExtensionError::Internal { message } => cut_message(message, limit_bytes),
    };
    (error, cut)
}

/// The guest's health in Symphony's type, its reason cut to `limit_bytes`.
pub(crate) fn health_status(status: types::HealthStatus, limit_bytes: u64) -> HealthStatus {
    match status {
        types::HealthStatus::Ready => HealthStatus::Ready,
        types::HealthStatus::Degraded(mut reason) => {
            cut_message(&mut reason, limit_bytes);
            HealthStatus::Degraded(reason)
        }
        types::HealthStatus::Unavailable(mut reason) => {
            cut_message(&mut reason, limit_bytes);
            HealthStatus::Unavailable(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_with_a_marker_and_counted() {
        let (error, cut) = guest_error(types::ExtensionError::Internal("é".repeat(3_000)), 4_096);
        assert_eq!(cut, 6_000 - 4_096);
        let ExtensionError::Internal { message } = error else { panic!("kind changed") };
        assert!(message.starts_with("éé"));
        assert!(message.ends_with(&format!("[{cut} bytes cut]")));
        assert!(message.len() <= 4_096 + 32);
    }

    #[test]
    fn short_messages_are_untouched() {
        let (error, cut) = guest_error(types::ExtensionError::InvalidInput("nope".into()), 4_096);
        assert_eq!((error, cut), (ExtensionError::InvalidInput { message: "nope".into() }, 0));
    }

    #[test]
    fn health_reasons_are_cut_too() {
        let status = health_status(types::HealthStatus::Degraded("x".repeat(100)), 10);
        assert!(matches!(status, HealthStatus::Degraded(reason) if reason.starts_with("xxxxxxxxxx…")));
    }
}
