//! Retry of transient errors (being written).
