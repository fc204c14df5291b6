//! The routes of `symphony serve`, over one shared [`Platform`]:
//!
//! - with `[[tenants]]`, every `/v1` request is authenticated and admitted by the
//!   [`TenantGate`] first;
//! - `POST /v1/extensions/{ext}/invoke`: the body is the input (its `Content-Type` kept,
//!   `application/json` when none; `Symphony-Priority: optional|recommended|essential` claims
//!   an admission class, within the tenant's `max_priority`); the answer is the `run --json`
//!   object (output, usage, served_by, attempts, fallback, degraded, error), with the status of
//!   the error's kind;
//! - `GET /v1/health`: every configured extension's health (status, breaker, quarantine,
//!   baselines, recent anomalies), as `symphony health --json`, and how trace export is doing
//!   (`telemetry`: off, ok or degraded, with its counts);
//! - `GET /`: the live dashboard ([`dashboard`](super::dashboard));
//! - `GET /v1/events`: Server-Sent Events ([`events`](super::events));
//! - `GET /healthz` (the process answers) and `GET /readyz` (the platform is open and not
//!   draining);
//! - `GET /metrics`: Prometheus text ([`metrics_route`](super::metrics_route));
//! - anything else: `404` in the one error shape.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::api_error::{ApiError, Refusal};
use super::runs::Runs;
use super::tenant_gate::{Tenant, TenantGate};
use crate::run::conducted_json;
use symphony_host::telemetry::Telemetry;
use symphony_host::workflow::Journal;
use symphony_host::{LoadedExtension, Platform};
use symphony_types::error::CallError;
use symphony_types::manifest::{ExtensionManifest, Priority};
use symphony_types::payload::{CallRequest, JSON_CONTENT_TYPE, Payload};

/// The request header a call claims its admission class in.
pub(crate) const PRIORITY_HEADER: &str = "symphony-priority";

/// What every request may send and how long it may take to send it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestLimits {
    /// Largest body, in bytes.
    pub(crate) max_body_bytes: usize,
    /// Time the whole body may take to arrive, in milliseconds.
    pub(crate) body_timeout_ms: u64,
}

/// What the handlers share.
pub(crate) struct AppState {
    platform: Platform,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Extensions loaded once, by the reference callers use.
    loaded: Mutex<HashMap<String, Arc<LoadedExtension>>>,
    limits: RequestLimits,
    draining: AtomicBool,
    gate: TenantGate,
    journal: Option<Journal>,
    runs: Runs,
    telemetry: Telemetry,
}

impl AppState {
    pub(crate) fn new(
        platform: Platform,
        metrics: metrics_exporter_prometheus::PrometheusHandle,
        limits: RequestLimits,
        journal: Option<Journal>,
        telemetry: Telemetry,
    ) -> Self {
        let audit = platform.runtime().state().map(symphony_host::state::StateDir::audit);
        let gate = TenantGate::new(&platform.config().tenants, audit);
        Self {
            platform,
            metrics,
            loaded: Mutex::default(),
            limits,
            draining: AtomicBool::new(false),
            gate,
            journal,
            runs: Runs::default(),
            telemetry,
        }
    }

    pub(crate) fn platform(&self) -> &Platform {
        &self.platform
    }

    pub(crate) fn metrics(&self) -> &metrics_exporter_prometheus::PrometheusHandle {
        &self.metrics
    }

    pub(crate) fn gate(&self) -> &TenantGate {
        &self.gate
    }

    pub(crate) fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    pub(crate) fn runs(&self) -> &Runs {
        &self.runs
    }

    /// The process's trace export (off when `[telemetry]` names no collector).
    pub(crate) fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The request limits, with `tenant`'s body quota when it is smaller.
    pub(crate) fn limits_for(&self, tenant: Option<&Tenant>) -> RequestLimits {
        let mut limits = self.limits;
        if let Some(tenant) = tenant {
            let quota = usize::try_from(tenant.max_body_bytes()).unwrap_or(usize::MAX);
            limits.max_body_bytes = limits.max_body_bytes.min(quota);
        }
        limits
    }

    /// The reservation pool's budgets: memory bytes, fuel units.
    pub(crate) fn reservation_budgets(&self) -> (u64, u64) {
        let policy = &self.platform.config().reservation;
        (policy.memory_budget_bytes, policy.fuel_budget)
    }

    /// Every configured extension's `name@version`, so never-called ones are reported too.
    pub(crate) fn extension_ids(&self) -> Vec<String> {
        self.platform
            .runtime()
            .manifest_paths()
            .iter()
            .filter_map(|path| ExtensionManifest::load(path).ok())
            .map(|m| m.id())
            .collect()
    }

    /// Stop answering ready: a load balancer stops sending while in-flight calls finish.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    fn extension(&self, reference: &str) -> Result<Arc<LoadedExtension>, CallError> {
        if let Some(loaded) = self.loaded.lock().unwrap_or_else(PoisonError::into_inner).get(reference) {
            return Ok(Arc::clone(loaded));
        }
        let loaded = Arc::new(self.platform.load(reference)?);
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(reference.to_owned(), Arc::clone(&loaded));
        Ok(loaded)
    }
}

/// The service's router.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(super::dashboard::page))
        .route("/v1/extensions/{ext}/invoke", post(invoke))
        .route("/v1/health", get(health))
        .route("/v1/events", get(super::events::events))
        .route("/v1/workflows/{name}/runs", post(super::runs::start))
        .route("/v1/runs/{id}", get(super::runs::show))
        .route("/v1/runs/{id}/cancel", post(super::runs::cancel))
        .route("/v1/runs/{id}/resume", post(super::runs::resume))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(super::metrics_route::scrape))
        .fallback(|| async { ApiError::refused(Refusal::UnknownRoute, "no such route") })
        .layer(axum::middleware::from_fn(super::request_span::traced))
        .with_state(state)
}

/// Whether `name` is lowercase letters, digits and `-` (at most 64): nothing that could be a path.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether `reference` is a name (`[a-z0-9-]`) or `name@version`: nothing that could be a path.
fn valid_reference(reference: &str) -> bool {
    let (name, version) = reference.split_once('@').map_or((reference, None), |(n, v)| (n, Some(v)));
    let name_ok = valid_name(name);
    let version_ok = version.is_none_or(|v| {
        !v.is_empty()
            && v.len() <= 64
            && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
    });
    name_ok && version_ok
}

/// The body, within the size and time limits.
pub(crate) async fn read_body(body: Body, limits: RequestLimits) -> Result<Vec<u8>, ApiError> {
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    match tokio::time::timeout(Duration::from_millis(limits.body_timeout_ms), read).await {
        Err(_) => Err(ApiError::refused(
            Refusal::BodyTimeout,
            format!("the body did not arrive within {} ms", limits.body_timeout_ms),
        )),
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(error)) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                ApiError::refused(
                    Refusal::BodyTooLarge,
                    format!("the body is larger than {} bytes", limits.max_body_bytes),
                )
            } else {
                ApiError::refused(Refusal::BodyUnreadable, format!("cannot read the body: {error}"))
            })
        }
    }
}

async fn invoke(
    State(state): State<Arc<AppState>>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !valid_reference(&reference) {
        return Err(ApiError::refused(
            Refusal::BadExtensionName,
            "an extension is named by `name` or `name@version` (lowercase letters, digits, `-`)",
        ));
    }
    let tenant = state.gate.authenticate(&headers)?;
    super::request_span::record_caller(tenant.map(Tenant::id), &reference);
    let name = reference.split('@').next().unwrap_or(&reference);
    // Refused here, before the body is read or anything loads: the guest never runs.
    let admission = tenant.map(|t| t.admit(name)).transpose()?;
    let bytes = read_body(body, state.limits_for(tenant)).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(JSON_CONTENT_TYPE)
        .to_owned();
    let extension = state.extension(&reference).map_err(|e| ApiError::call(&e))?;
    let mut request = CallRequest::new(Payload::new(content_type, bytes));
    let claimed = claimed_priority(&headers)?;
    let mut admission = admission;
    if let Some(admission) = &mut admission {
        let demand = extension.demand();
        request = request.priority(admission.priority(claimed, demand.priority)?);
        admission.hold_share(demand, state.reservation_budgets())?;
    } else if let Some(claimed) = claimed {
        request = request.priority(claimed);
    }
    let outcome = state.platform.call(&extension, request).await;
    if let Some(admission) = &admission {
        admission.charge(outcome.usage.fuel);
    }
    let mut body = conducted_json(&outcome);
    if let Some(tenant) = tenant {
        body["tenant"] = json!(tenant.id());
    }
    match &outcome.result {
        Ok(_) => Ok((StatusCode::OK, Json(body)).into_response()),
        Err(error) => Err(ApiError::with_body(error, body)),
    }
}

/// The admission class a request claims in `Symphony-Priority`, if any.
fn claimed_priority(headers: &HeaderMap) -> Result<Option<Priority>, ApiError> {
    let Some(value) = headers.get(PRIORITY_HEADER) else { return Ok(None) };
    let claimed = value.to_str().map(str::trim).ok();
    match Priority::ALL.into_iter().find(|priority| Some(priority.as_str()) == claimed) {
        Some(priority) => Ok(Some(priority)),
        None => Err(ApiError::refused(
            Refusal::BadPriority,
            format!("`{PRIORITY_HEADER}` is `optional`, `recommended` or `essential`"),
        )),
    }
}

async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let tenant = state.gate.authenticate(&headers)?;
    let Some(monitor) = state.platform.monitor() else {
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "error"}))).into_response());
    };
    let ids = state.extension_ids();
    let conductor = state.platform.conductor();
    let mut extensions = json!(monitor.report(&ids, Some(conductor.breakers())));
    // Beside each report: its fallback tally and its breaker's recovery record (mean time to
    // recovery), which the conductor keeps across every caller.
    for entry in extensions.as_array_mut().into_iter().flatten() {
        let Some(id) = entry["extension"].as_str().map(str::to_owned) else { continue };
        entry["fallback"] = json!(conductor.fallbacks().get(&id));
        entry["recovery"] = json!(conductor.breakers().get(&id).map(|breaker| breaker.recovery()));
    }
    let mut body = json!({"extensions": extensions});
    let mut telemetry = state.telemetry.snapshot();
    // A tenant sees its own use, nobody else's, and not where the platform's traces go.
    if let Some(tenant) = tenant {
        body["tenant"] = tenant.report();
        telemetry.endpoint = None;
        telemetry.last_error = None;
    }
    body["telemetry"] = json!(telemetry);
    Ok(Json(body).into_response())
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "draining"}))).into_response()
    } else {
        Json(json!({"status": "ready"})).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::valid_reference;

    #[test]
    fn only_names_and_versions_are_references() {
        for good in ["echo", "summarize@1.0.0", "format-report", "a@1.0.0-rc.1+b"] {
            assert!(valid_reference(good), "{good}");
        }
        for bad in ["", "..", "../etc", "Echo", "echo@", "echo/..", "echo@1.0/..", "a b", "%2e%2e"] {
            assert!(!valid_reference(bad), "{bad}");
        }
    }
}
