//! What a runtime does with a component no pin vouches for: refuse it (the default, with or
//! without a state directory) or, when the embedder opts out by name with
//! [`Runtime::allow_unpinned`](crate::Runtime::allow_unpinned), load it and leave a trace: an
//! `unpinned_allowed` audit record with the component's sha256 when there is a state directory,
//! a warning in the log when there is none. A pin that exists and differs (`hash_mismatch`) is
//! refused either way: opting out of pins is not opting out of tamper detection.

/// Whether components without a pin may load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnpinnedComponents {
    /// Refuse them as `component_unpinned` (the default).
    #[default]
    Refuse,
    /// Load them, audited (or logged, without a state directory).
    Allow,
}
