//! `GET /`: the live health dashboard, one page compiled into the binary (no CDN, no build
//! step): every extension with its status and breaker in colour and in words, quarantine
//! countdown, success and timeout rates, fuel / memory / guest-time baselines with sparklines of
//! how they moved while the page was open, recent anomalies with their evidence; runs in
//! progress with step progress and ETA; the tenant's quota use; trace export (telemetry ok,
//! degraded with the spans dropped and the last error, or off). Live over `/v1/events`, and
//! polling `/v1/health` every 2 s (the only way with a tenant key: `/?key=…`).

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page.
const PAGE: &str = include_str!("dashboard.html");

pub(crate) async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Everything it needs is on this page and this origin.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
        ],
        PAGE,
    )
        .into_response()
}
