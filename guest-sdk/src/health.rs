//! [`HealthStatus`]: what an extension answers when the host asks how it is doing
//! ([`Extension::health`](crate::Extension::health)).

/// An extension's own account of its health, reported outside any request.
///
/// The host creates a fresh instance for every question, so the answer can only come from what
/// the extension knows statically (a known limitation) or can check cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthStatus {
    /// Ready to serve every request it handles.
    Ready,
    /// Serving, but with less; says what (shown to operators).
    Degraded(String),
    /// Not serving now; says why. The host may route callers elsewhere.
    Unavailable(String),
}

impl HealthStatus {
    /// [`HealthStatus::Degraded`] with `reason`.
    pub fn degraded(reason: impl Into<String>) -> Self {
        Self::Degraded(reason.into())
    }

    /// [`HealthStatus::Unavailable`] with `reason`.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable(reason.into())
    }
}
