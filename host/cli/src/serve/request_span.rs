//! One `tracing` span per request to `symphony serve`, the root of everything the request
//! does: the conductor's attempt spans and the sandbox-call spans under them open inside it.
//! Attributes follow OpenTelemetry's HTTP conventions (`http.request.method`, `http.route` —
//! the route's template, never the raw path —, `http.response.status_code`), plus who called
//! (`tenant`) and what (`extension`), which the handler records once it knows
//! ([`record_caller`]). Exporting it is the host's telemetry's; without it the span is disabled
//! and nothing here formats anything.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

/// The middleware: the request runs inside its span; the status is recorded when it answers.
pub(crate) async fn traced(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "serve.request",
        otel.name = Empty,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %request.method(),
        http.route = Empty,
        http.response.status_code = Empty,
        tenant = Empty,
        extension = Empty,
    );
    if !span.is_disabled() {
        let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
        span.record("http.route", route);
        span.record("otel.name", format!("{} {route}", request.method()));
    }
    let response = next.run(request).instrument(span.clone()).await;
    if !span.is_disabled() {
        let status = response.status();
        // Signed: the bridge exports an unsigned field as text.
        span.record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            span.record("otel.status_code", "error");
        }
    }
    response
}

/// Record on the current request's span who called (`tenant`, when there are tenants) and
/// which extension (`name` or `name@version`, as asked).
pub(crate) fn record_caller(tenant: Option<&str>, extension: &str) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    if let Some(tenant) = tenant {
        span.record("tenant", tenant);
    }
    span.record("extension", extension);
}
