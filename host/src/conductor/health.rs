//! Health events: breaker state changes (and later quarantine) broadcast to any embedder that
//! subscribes. Sending never blocks: a slow subscriber misses events (and is told how many)
//! rather than slowing calls down.

use serde::Serialize;
use tokio::sync::broadcast;

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
