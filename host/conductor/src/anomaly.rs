//! Anomaly detection and health: every attempt's usage report is compared with the extension's
//! manifest (declared profile, declared capabilities, effective limits) and with its own robust
//! baseline; findings become typed [`Anomaly`] events with evidence, and the policy decides
//! whether to record, warn, throttle or quarantine.
//!
//! - [`sample`]: what one attempt tells the monitor, and what the extension is judged against;
//! - [`robust`]: median/MAD, moving averages, trends;
//! - [`history`]: the bounded per-extension memory and its baseline;
//! - [`detector`]: the five detectors;
//! - [`contention`]: telling the host's load from an extension's own slowdown;
//! - [`policy`]: thresholds and actions (`[anomaly]` in `symphony.toml`);
//! - [`monitor`]: the shared [`HealthMonitor`] that acts on findings;
//! - [`history_store`]: where histories are remembered across restarts (the host keeps them
//!   crash-safe under its state directory);
//! - [`report`]: what `symphony health` shows.
//!
//! The conductor puts [`Monitored`] innermost, right around the extension, so every attempt
//! that ran the guest is observed and the conductor's own refusals never are.

pub mod contention;
pub mod detector;
pub mod history;
pub mod history_store;
pub mod monitor;
pub mod policy;
pub mod report;
pub mod robust;
pub mod sample;
#[cfg(test)]
mod tests;

pub use detector::{Anomaly, AnomalyKind};
pub use history::{AnomalyRecord, ExtensionHistory, Quarantine};
pub use history_store::{HealthStoreError, HistoryStore, MemoryHistoryStore};
pub use monitor::{HealthEventSink, HealthMonitor};
pub use policy::{Action, AnomalyPolicy, QuarantinePolicy, Thresholds, ThrottlePolicy};
pub use report::{ExtensionHealth, HealthState};
pub use sample::{CapabilitySet, Expectations, Metric, Observation, Sample};

use crate::invoke::{Invoke, InvokeFuture};
use symphony_types::payload::CallRequest;

/// An extension whose every attempt the monitor observes.
#[derive(Debug)]
pub struct Monitored<'m, I> {
    inner: I,
    monitor: &'m HealthMonitor,
    id: String,
}

impl<'m, I: Invoke> Monitored<'m, I> {
    /// Observe `inner`'s attempts with `monitor`; `id` is `inner.id()`, computed once by the
    /// caller that already has it.
    #[must_use]
    pub fn new(inner: I, monitor: &'m HealthMonitor, id: String) -> Self {
        Self { inner, monitor, id }
    }
}

impl<I: Invoke> Invoke for Monitored<'_, I> {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn expectations(&self) -> Expectations {
        self.inner.expectations()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        Box::pin(async move {
            let observed = self.inner.invoke_observed(request).await;
            let outcome = observed.outcome;
            let output_bytes = outcome.result.as_ref().map_or(0, |p| p.bytes.len() as u64);
            let observation = Observation {
                usage: outcome.usage,
                output_bytes,
                error: outcome.result.as_ref().err(),
                denials: &observed.denials,
            };
            self.monitor.observe(&self.id, &self.inner.expectations(), &observation);
            outcome
        })
    }
}
