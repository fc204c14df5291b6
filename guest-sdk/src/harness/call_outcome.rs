//! [`CallOutcome`]: one call under the [`TestHost`](super::TestHost) — the output or the
//! [`CallError`] (guest errors in the SDK's own type), and what the call consumed, logged,
//! was denied and reported as progress. Measuring all that is the host's; this file only
//! carries it over from the host's outcome.

use symphony_host::types::ProgressLog;
use symphony_host::types::capability::denials::CapabilityDenial;
use symphony_host::{CallLog, Payload, Usage};

use super::CallError;

/// The result of one call with what it consumed and logged.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallOutcome {
    /// The guest's output, or why there is none.
    pub result: Result<Payload, CallError>,
    /// Resources consumed (fuel units, bytes, milliseconds).
    pub usage: Usage,
    /// The guest's log (`host::log` calls and, when granted, stdout/stderr), within its budget.
    pub log: CallLog,
    /// Attempts to use capabilities that were not granted (the guest got an error; nothing
    /// trapped).
    pub denials: Vec<CapabilityDenial>,
    /// Progress the guest reported (`host::progress`).
    pub progress: ProgressLog,
    /// Bytes cut from the guest's error message to fit its budget (0 when it fit).
    pub error_message_cut_bytes: u64,
}

impl From<symphony_host::CallOutcome> for CallOutcome {
    fn from(outcome: symphony_host::CallOutcome) -> Self {
        Self {
            result: outcome.result.map_err(CallError::from),
            usage: outcome.usage,
            log: outcome.log,
            denials: outcome.denials,
            progress: outcome.progress,
            error_message_cut_bytes: outcome.error_message_cut_bytes,
        }
    }
}
