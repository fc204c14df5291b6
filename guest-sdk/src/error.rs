//! [`ExtensionError`]: the typed failures an extension reports to the host.
//!
//! The variants mirror the WIT `extension-error` variant one for one; the conversion lives in
//! `bindings.rs`. How the host reacts (retry, fall back, give up) is the host's business: the guest
//! only says what went wrong and, for transient failures, when trying again may help.

/// A failure an extension returns from [`Extension::invoke`](crate::Extension::invoke).
///
/// Pick the variant for *what* failed; the host decides from it whether a retry can help
/// ([`is_transient`](Self::is_transient)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionError {
    /// The input is wrong; retrying the same input never helps.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A dependency is down or the work timed out inside the guest. Transient.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What is unavailable.
        message: String,
        /// Hint: milliseconds to wait before retrying, if the guest knows.
        retry_after_ms: Option<u64>,
    },
    /// The guest, or something it depends on, is throttling. Transient.
    #[error("rate limited for {retry_after_ms} ms: {message}")]
    RateLimited {
        /// What is throttled.
        message: String,
        /// Milliseconds to wait, at least, before retrying.
        retry_after_ms: u64,
    },
    /// The guest ran out of something it manages itself (a quota, a buffer).
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The guest understood the request but cannot produce a result.
    #[error("unable to complete: {0}")]
    UnableToComplete(String),
    /// A bug or broken invariant inside the guest.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ExtensionError {
    /// [`ExtensionError::InvalidInput`] with `message`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// [`ExtensionError::Unavailable`] with `message` and an optional retry hint in milliseconds.
    pub fn unavailable(message: impl Into<String>, retry_after_ms: Option<u64>) -> Self {
        Self::Unavailable { message: message.into(), retry_after_ms }
    }

    /// [`ExtensionError::RateLimited`] with `message`; retry no sooner than `retry_after_ms`
    /// milliseconds.
    pub fn rate_limited(message: impl Into<String>, retry_after_ms: u64) -> Self {
        Self::RateLimited { message: message.into(), retry_after_ms }
    }

    /// [`ExtensionError::ResourceExhausted`] with `message`.
    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::ResourceExhausted(message.into())
    }

    /// [`ExtensionError::UnableToComplete`] with `message`.
    pub fn unable_to_complete(message: impl Into<String>) -> Self {
        Self::UnableToComplete(message.into())
    }

    /// [`ExtensionError::Internal`] with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// True for failures that may go away if the same request is tried again later:
    /// [`Unavailable`](Self::Unavailable) and [`RateLimited`](Self::RateLimited).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::RateLimited { .. })
    }

    /// The retry hint in milliseconds, for the variants that carry one.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::Unavailable { retry_after_ms, .. } => *retry_after_ms,
            Self::RateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }

    /// The human-readable message, without the variant's prefix.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidInput(message)
            | Self::ResourceExhausted(message)
            | Self::UnableToComplete(message)
            | Self::Internal(message)
            | Self::Unavailable { message, .. }
            | Self::RateLimited { message, .. } => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_and_rate_limited_are_transient() {
        assert!(ExtensionError::unavailable("db down", None).is_transient());
        assert!(ExtensionError::rate_limited("slow down", 50).is_transient());
        assert!(!ExtensionError::invalid_input("bad").is_transient());
        assert!(!ExtensionError::resource_exhausted("quota").is_transient());
        assert!(!ExtensionError::unable_to_complete("no").is_transient());
        assert!(!ExtensionError::internal("bug").is_transient());
    }

    #[test]
    fn retry_hints_come_from_the_variants_that_carry_them() {
        assert_eq!(ExtensionError::unavailable("x", Some(10)).retry_after_ms(), Some(10));
        assert_eq!(ExtensionError::unavailable("x", None).retry_after_ms(), None);
        assert_eq!(ExtensionError::rate_limited("x", 25).retry_after_ms(), Some(25));
        assert_eq!(ExtensionError::internal("x").retry_after_ms(), None);
    }

    #[test]
    fn message_strips_the_variant() {
        assert_eq!(ExtensionError::rate_limited("busy", 5).message(), "busy");
        assert_eq!(ExtensionError::invalid_input("bad").message(), "bad");
    }
}
