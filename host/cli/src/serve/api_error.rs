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
    /// No API key, or an unknown one (401).
    Unauthenticated,
    /// The tenant may not call this extension (403).
    Forbidden,
    /// The tenant spent its fuel per minute (429, `Retry-After`).
    FuelQuota,
    /// The tenant has as many calls in flight as its quota (429).
    ConcurrencyQuota,
    /// The tenant's calls in flight hold its share of the reservation pool (429).
    ReservationShare,
    /// The tenant may not claim the admission class it asked for (403).
    PriorityNotAllowed,
    /// `Symphony-Priority` is not `optional`, `recommended` or `essential` (400).
    BadPriority,
    /// No such run, or another tenant's (404).
    UnknownRun,
    /// No such workflow (404).
    UnknownWorkflow,
    /// The workflow name is not lowercase letters, digits and `-` (400).
    BadWorkflowName,
    /// The workflow does not pass its check or its extensions do not load (422).
    WorkflowUnusable,
    /// The run is not in a state that allows it (409).
    NotRunning,
    /// The journal cannot be used (503).
    Journal,
    /// A JSON body that does not parse (400).
    BadJson,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Self::UnknownRoute => StatusCode::NOT_FOUND,
            Self::BadExtensionName | Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::PriorityNotAllowed => StatusCode::FORBIDDEN,
            Self::FuelQuota | Self::ConcurrencyQuota | Self::ReservationShare => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::BadPriority => StatusCode::BAD_REQUEST,
            Self::UnknownRun | Self::UnknownWorkflow => StatusCode::NOT_FOUND,
            Self::BadWorkflowName | Self::BadJson => StatusCode::BAD_REQUEST,
            Self::WorkflowUnusable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotRunning => StatusCode::CONFLICT,
            Self::Journal => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Stable snake_case kind.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::UnknownRoute => "unknown_route",
            Self::BadExtensionName => "bad_extension_name",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyUnreadable => "body_unreadable",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::FuelQuota => "fuel_quota",
            Self::ConcurrencyQuota => "concurrency_quota",
            Self::ReservationShare => "reservation_share",
            Self::PriorityNotAllowed => "priority_not_allowed",
            Self::BadPriority => "bad_priority",
            Self::UnknownRun => "unknown_run",
            Self::UnknownWorkflow => "unknown_workflow",
            Self::BadWorkflowName => "bad_workflow_name",
            Self::WorkflowUnusable => "workflow_unusable",
            Self::NotRunning => "not_running",
            Self::Journal => "journal",
            Self::BadJson => "bad_json",
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
        Self::refused_after(refusal, message, None)
    }

    /// [`refused`](Self::refused), saying when to retry.
    pub(crate) fn refused_after(
        refusal: Refusal,
        message: impl Into<String>,
        retry_after_secs: Option<u64>,
    ) -> Self {
        let class = match refusal {
            Refusal::BodyTimeout | Refusal::FuelQuota | Refusal::ConcurrencyQuota => "transient",
            _ => "fatal",
        };
        let mut error =
            json!({"source": "service", "kind": refusal.kind(), "class": class, "message": message.into()});
        if let Some(secs) = retry_after_secs {
            error["retry_after_ms"] = json!(secs.saturating_mul(1_000));
        }
        Self { status: refusal.status(), body: json!({"status": "error", "error": error}), retry_after_secs }
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
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
