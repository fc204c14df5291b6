//! [`ApiError`]: every error `symphony serve` answers, one JSON shape —
//! `{"status": "error", "error": {"source", "kind", "class", "message"}}` — with the HTTP status
//! of its kind and, when waiting helps, `Retry-After`. Call errors keep the taxonomy's source
//! (`guest`, `host`, `conductor`); what the service itself refuses (an unknown route, a bad
//! name, a body too large or too slow) has source `service`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::http_status::{retry_after_secs, status_of};
use symphony_types::error::CallError;

/// What the service itself refuses, before any extension runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such route (404).
    UnknownRoute,
    /// The extension reference is not a name or `name@version` (400).
    BadExtensionName,
    /// The body is larger than `--max-body-bytes` (413).
    BodyTooLarge,
    /// The body did not arrive within `--body-timeout-ms` (408).
    BodyTimeout,
    /// The body could not be read (400).
    BodyUnreadable,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Self::UnknownRoute => StatusCode::NOT_FOUND,
            Self::BadExtensionName | Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Self::UnknownRoute => "unknown_route",
            Self::BadExtensionName => "bad_extension_name",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyUnreadable => "body_unreadable",
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Value,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// A refusal of the service's own, with a message for people.
    pub(crate) fn refused(refusal: Refusal, message: impl Into<String>) -> Self {
        let class = if refusal == Refusal::BodyTimeout { "transient" } else { "fatal" };
        Self {
            status: refusal.status(),
            body: json!({"status": "error", "error": {
                "source": "service", "kind": refusal.kind(), "class": class, "message": message.into(),
            }}),
            retry_after_secs: None,
        }
    }

    /// A call error before the conductor ran anything (the extension did not load).
    pub(crate) fn call(error: &CallError) -> Self {
        Self::with_body(error, json!({"status": "error", "error": error.report()}))
    }

    /// A call error with the whole answer `body` (the `run --json` object).
    pub(crate) fn with_body(error: &CallError, body: Value) -> Self {
        Self { status: status_of(error), body, retry_after_secs: retry_after_secs(error) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
