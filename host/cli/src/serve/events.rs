//! `GET /v1/events`: Server-Sent Events, live. Every health event the conductor publishes —
//! `breaker_state_changed`, `anomaly_detected`, `quarantined`, `quarantine_lifted`,
//! `throttled`, `host_contention` — as it happens (the event name is its kind, the data its
//! JSON), and every `PROGRESS_EVERY_MS` a `runs` event with the progress of the caller's
//! running workflows (a tenant sees only its own). A slow reader that falls behind the broadcast
//! gets a `lagged` event saying how many it missed, then goes on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::api_error::ApiError;
use super::routes::AppState;

/// How often running workflows' progress is sent, in milliseconds.
pub(crate) const PROGRESS_EVERY_MS: u64 = 500;

pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let tenant = state.gate().authenticate(&headers)?;
    let owner = tenant.map(|t| t.id().to_owned());
    let receiver = state.platform().conductor().health().subscribe();
    let ticks = tokio::time::interval(Duration::from_millis(PROGRESS_EVERY_MS));
    let stream = futures_util::stream::unfold(
        (receiver, ticks, state, owner),
        |(mut receiver, mut ticks, state, owner)| async move {
            loop {
                let event = tokio::select! {
                    received = receiver.recv() => match received {
                        Ok(event) => {
                            let data = serde_json::to_value(&event).unwrap_or_default();
                            let name = data["event"].as_str().unwrap_or("health").to_owned();
                            Event::default().event(name).data(data.to_string())
                        }
                        Err(RecvError::Lagged(missed)) => Event::default().event("lagged").data(json!({"missed": missed}).to_string()),
                        Err(RecvError::Closed) => return None,
                    },
                    _ = ticks.tick() => {
                        let runs = state.runs().progress_of(owner.as_deref());
                        if runs.is_empty() {
                            continue;
                        }
                        Event::default().event("runs").data(json!({"runs": runs}).to_string())
                    }
                };
                return Some((Ok(event), (receiver, ticks, state, owner)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
