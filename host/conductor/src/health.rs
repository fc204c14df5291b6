//! Health events: breaker state changes, anomalies and what was done about them, broadcast to any embedder that
//! subscribes. Sending never blocks: a slow subscriber misses events (and is told how many)
//! rather than slowing calls down.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::anomaly::{Action, Anomaly, AnomalyKind};

/// Events kept for subscribers that fall behind.
pub const DEFAULT_HEALTH_EVENT_CAPACITY: usize = 1024;

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls are refused without running the guest.
    Open,
    /// A limited number of probe calls may run.
    HalfOpen,
}

/// Something about an extension's health changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HealthEvent {
    /// A breaker moved between states.
    BreakerStateChanged {
        /// `name@version`.
        extension: String,
        /// Previous state.
        from: BreakerState,
        /// New state.
        to: BreakerState,
        /// Failure ratio over the window when it changed (0.0..=1.0).
        failure_ratio: f64,
        /// How long it stays open, in milliseconds (when `to` is `open`).
        open_for_ms: Option<u64>,
    },
    /// A detector found something, and the policy's action was taken.
    AnomalyDetected {
        /// `name@version`.
        extension: String,
        /// The finding with its evidence.
        anomaly: Anomaly,
        /// What was done.
        action: Action,
    },
    /// An extension was quarantined: its breaker is forced open for `period_ms`.
    Quarantined {
        /// `name@version`.
        extension: String,
        /// The detector that caused it.
        reason: AnomalyKind,
        /// One line of evidence.
        evidence: String,
        /// How long, in milliseconds.
        period_ms: u64,
        /// This extension's quarantine count, this one included.
        nth: u32,
    },
    /// A quarantine ended: its period passed or an operator lifted it.
    QuarantineLifted {
        /// `name@version`.
        extension: String,
        /// Why.
        reason: String,
    },
    /// A finding about time was put down to the host's own load: the other recently active
    /// extensions slowed down as much, so the extension is not blamed.
    HostContention {
        /// `name@version`.
        extension: String,
        /// The finding that was not raised.
        anomaly: Anomaly,
        /// This extension's recent median over its baseline.
        extension_shift: Option<f64>,
        /// The median of the same ratio over the other active extensions.
        host_shift: f64,
        /// Active extensions compared with.
        peers: usize,
    },
    /// An extension's concurrency was lowered for a while.
    Throttled {
        /// `name@version`.
        extension: String,
        /// Concurrent calls it keeps.
        concurrency: u32,
        /// How long, in milliseconds.
        period_ms: u64,
    },
}

/// The broadcast channel events go through.
#[derive(Debug, Clone)]
pub struct HealthEvents {
    sender: broadcast::Sender<HealthEvent>,
}

impl Default for HealthEvents {
    fn default() -> Self {
        Self { sender: broadcast::channel(DEFAULT_HEALTH_EVENT_CAPACITY).0 }
    }
}

impl HealthEvents {
    /// Subscribe to every event from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<HealthEvent> {
        self.sender.subscribe()
    }

    /// Publish an event (no-op when nobody listens).
    pub fn publish(&self, event: HealthEvent) {
        let _ = self.sender.send(event);
    }
}
