//! [`Request`] and [`RequestContext`]: what the host hands an extension for one call.

use crate::Payload;

/// One invocation of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// Facts about this call (id, attempt number, time left).
    pub context: RequestContext,
    /// The caller's input.
    pub input: Payload,
}

impl Request {
    /// A request carrying `input` under `context`.
    pub fn new(context: RequestContext, input: Payload) -> Self {
        Self { context, input }
    }
}

/// Facts about the call the guest may use to decide what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestContext {
    /// Unique per logical request; the same across retry attempts.
    pub request_id: String,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
    /// Wall-clock time left for this attempt, in milliseconds.
    pub deadline_remaining_ms: u64,
}

impl RequestContext {
    /// A context for attempt `attempt` (1-based) of request `request_id`, with
    /// `deadline_remaining_ms` milliseconds left.
    pub fn new(request_id: impl Into<String>, attempt: u32, deadline_remaining_ms: u64) -> Self {
        Self { request_id: request_id.into(), attempt, deadline_remaining_ms }
    }

    /// True on the first attempt of a request, false on retries.
    pub fn is_first_attempt(&self) -> bool {
        self.attempt <= 1
    }
}
