//! [`CallOutcome`]: one call under the [`TestHost`](super::TestHost) — the host's outcome
//! (output, usage, log, denials, progress, error-message cut) with its error as the harness's
//! [`CallError`], whose guest errors are the SDK's own type.

use super::CallError;

/// The result of one call with what it consumed and logged.
pub type CallOutcome = symphony_host::CallOutcome<CallError>;
