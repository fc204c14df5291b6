//! [`TenantGate`]: who is calling and whether they may. With `[[tenants]]` configured every `/v1`
//! request carries `Authorization: Bearer KEY`, checked against the stored sha256 (a missing or
//! wrong key is `401`); a tenant calls only the extensions it is allowed (`403`, the guest never
//! runs) within its quotas: calls in flight, fuel per minute (a token bucket charged with what
//! each call actually burnt; an empty bucket refuses with `429` and `Retry-After` until it has
//! refilled), its share of the reservation pool (the limits of its calls in flight, counted as
//! the pool counts them, against that share of the pool's memory and fuel budgets: `429`), and
//! the largest body. A call's admission class is the one it claims (`Symphony-Priority`) or its
//! manifest's, never above the tenant's `max_priority` (a higher claim is `403`). Without
//! tenants the gate is open (serve is on loopback) and a claim is taken as it is.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use super::api_error::{ApiError, Refusal};
use symphony_conductor::Demand;
use symphony_host::audit::{AuditEvent, AuditLog};
use symphony_host::tenants::TenantConfig;
use symphony_types::manifest::Priority;

/// Per-tenant counters in `/metrics`.
const TENANT_CALLS_TOTAL: &str = "symphony_tenant_calls_total";
const TENANT_FUEL_TOTAL: &str = "symphony_tenant_fuel_total";
const TENANT_REFUSALS_TOTAL: &str = "symphony_tenant_refusals_total";

/// Fuel a tenant may still burn: `fuel_per_minute` at most, refilled continuously; a call's
/// actual fuel is charged after it ran, so the level may go below zero (the debt is waited off).
#[derive(Debug)]
struct FuelBucket {
    level: f64,
    capacity: f64,
    per_second: f64,
    at: Instant,
}

impl FuelBucket {
    #[allow(clippy::cast_precision_loss)] // fuel per minute fits an f64 well enough for a quota
    fn new(fuel_per_minute: u64) -> Self {
        let capacity = fuel_per_minute as f64;
        Self { level: capacity, capacity, per_second: capacity / 60.0, at: Instant::now() }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        self.level =
            (self.level + now.duration_since(self.at).as_secs_f64() * self.per_second).min(self.capacity);
        self.at = now;
    }

    /// Seconds until the level is above zero again; `None` when it is now.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a positive, small count of seconds
    fn wait_secs(&mut self) -> Option<u64> {
        self.refill();
        (self.level <= 0.0).then(|| ((-self.level + 1.0) / self.per_second).ceil().max(1.0) as u64)
    }

    #[allow(clippy::cast_precision_loss)]
    fn charge(&mut self, fuel: u64) {
        self.refill();
        self.level -= fuel as f64;
    }
}

/// One tenant and what it uses.
#[derive(Debug)]
pub(crate) struct Tenant {
    config: TenantConfig,
    in_flight: AtomicU32,
    bucket: Mutex<FuelBucket>,
    calls: AtomicU64,
    fuel_used: AtomicU64,
    refusals: AtomicU64,
    /// Memory bytes and fuel units its calls in flight reserve.
    held: Mutex<(u64, u64)>,
    /// Where its refusals and usage are recorded.
    audit: Option<AuditLog>,
    /// Calls, fuel and refusals as of its last usage record, and when that was.
    reported: Mutex<(u64, u64, u64, Instant)>,
}

/// A call admitted for a tenant: holds its in-flight slot, and its part of the tenant's
/// reservation share once [`hold_share`](Self::hold_share) took it, until dropped.
#[derive(Debug)]
pub(crate) struct Admission<'t> {
    tenant: &'t Tenant,
    share: Option<(u64, u64)>,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.tenant.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some((memory, fuel)) = self.share.take() {
            let mut held = self.tenant.held.lock().unwrap_or_else(PoisonError::into_inner);
            held.0 = held.0.saturating_sub(memory);
            held.1 = held.1.saturating_sub(fuel);
        }
    }
}

/// A tenant's call slot held by a workflow run for as long as the run goes: owned, so the
/// run's task carries it, and given back when the task ends (or when the request that took it
/// answers without starting a run).
pub(crate) struct RunSlot {
    state: std::sync::Arc<super::routes::AppState>,
    tenant: usize,
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        if let Some(tenant) = self.state.gate().tenants.get(self.tenant) {
            tenant.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Admission<'_> {
    /// Hand the slot to a workflow run of the server `state`.
    pub(crate) fn for_run(self, state: &std::sync::Arc<super::routes::AppState>) -> RunSlot {
        let id = self.tenant.config.id.clone();
        // The slot moves to the run: this admission must not give it back.
        std::mem::forget(self);
        let tenant = state.gate().tenants.iter().position(|t| t.config.id == id).unwrap_or(usize::MAX);
        RunSlot { state: std::sync::Arc::clone(state), tenant }
    }

    /// Take `demand`'s memory and fuel from the tenant's share of a pool with `budgets`
    /// (memory bytes, fuel units), or refuse the call before it runs.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)] // budgets scaled by a share in (0, 1]
    pub(crate) fn hold_share(&mut self, demand: Demand, budgets: (u64, u64)) -> Result<(), ApiError> {
        let tenant = self.tenant;
        let share = tenant.config.quotas.reservation_share;
        if share >= 1.0 {
            // The whole pool: nothing to bound beyond the pool's own admission and queue.
            return Ok(());
        }
        let (memory_cap, fuel_cap) = ((budgets.0 as f64 * share) as u64, (budgets.1 as f64 * share) as u64);
        let mut held = tenant.held.lock().unwrap_or_else(PoisonError::into_inner);
        let memory = held.0.saturating_add(demand.memory_bytes);
        let fuel = held.1.saturating_add(demand.fuel);
        if memory > memory_cap || fuel > fuel_cap {
            drop(held);
            let message = format!(
                "tenant `{}` holds its share ({share}) of the reservation pool: {memory} of {memory_cap} \
                 bytes and {fuel} of {fuel_cap} fuel units with this call",
                tenant.config.id
            );
            return Err(tenant.refuse(Refusal::ReservationShare, message, Some(1)));
        }
        *held = (memory, fuel);
        self.share = Some((demand.memory_bytes, demand.fuel));
        Ok(())
    }

    /// The class to admit the call as: `claimed`, or the manifest's `declared` class, capped
    /// at the tenant's `max_priority`; a claim above it is refused.
    pub(crate) fn priority(
        &self,
        claimed: Option<Priority>,
        declared: Priority,
    ) -> Result<Priority, ApiError> {
        let tenant = self.tenant;
        let most = tenant.config.max_priority;
        match claimed {
            Some(claimed) if claimed > most => Err(tenant.refuse(
                Refusal::PriorityNotAllowed,
                format!("tenant `{}` may claim at most `{most}`, not `{claimed}`", tenant.config.id),
                None,
            )),
            Some(claimed) => Ok(claimed),
            None => Ok(declared.min(most)),
        }
    }

    /// Charge what the call burnt.
    pub(crate) fn charge(&self, fuel: u64) {
        let tenant = self.tenant;
        tenant.bucket.lock().unwrap_or_else(PoisonError::into_inner).charge(fuel);
        tenant.calls.fetch_add(1, Ordering::Relaxed);
        tenant.fuel_used.fetch_add(fuel, Ordering::Relaxed);
        let id = tenant.config.id.clone();
        metrics::counter!(TENANT_CALLS_TOTAL, "tenant" => id.clone()).increment(1);
        metrics::counter!(TENANT_FUEL_TOTAL, "tenant" => id).increment(fuel);
    }
}

impl Tenant {
    /// Its id.
    pub(crate) fn id(&self) -> &str {
        &self.config.id
    }

    /// Highest admission class its calls and runs' steps get.
    pub(crate) fn max_priority(&self) -> Priority {
        self.config.max_priority
    }

    /// Largest body it may send, in bytes.
    pub(crate) fn max_body_bytes(&self) -> u64 {
        self.config.quotas.max_body_bytes
    }

    fn refuse(&self, refusal: Refusal, message: String, retry_after_secs: Option<u64>) -> ApiError {
        self.refusals.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(TENANT_REFUSALS_TOTAL, "tenant" => self.config.id.clone(), "reason" => refusal.kind())
            .increment(1);
        if let Some(audit) = &self.audit {
            let event = AuditEvent::TenantRefused {
                tenant: self.config.id.clone(),
                reason: refusal.kind().to_owned(),
                message: message.clone(),
            };
            audit.record(None, event);
        }
        ApiError::refused_after(refusal, message, retry_after_secs)
    }

    /// Record what it used since its last usage record, when it used anything.
    fn audit_usage(&self) {
        let Some(audit) = &self.audit else { return };
        let now = (
            self.calls.load(Ordering::Relaxed),
            self.fuel_used.load(Ordering::Relaxed),
            self.refusals.load(Ordering::Relaxed),
        );
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        let (calls, fuel, refusals, since) = *reported;
        if now == (calls, fuel, refusals) {
            return;
        }
        audit.record(
            None,
            AuditEvent::TenantUsage {
                tenant: self.config.id.clone(),
                calls: now.0 - calls,
                fuel: now.1 - fuel,
                refusals: now.2 - refusals,
                period_ms: u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
        );
        *reported = (now.0, now.1, now.2, Instant::now());
    }

    /// Admit a call of the extension named `name`, or refuse it before anything runs.
    pub(crate) fn admit(&self, name: &str) -> Result<Admission<'_>, ApiError> {
        if !self.config.allows(name) {
            return Err(self.refuse(
                Refusal::Forbidden,
                format!("tenant `{}` may not call `{name}`", self.config.id),
                None,
            ));
        }
        let wait = self.bucket.lock().unwrap_or_else(PoisonError::into_inner).wait_secs();
        if let Some(secs) = wait {
            let message = format!(
                "tenant `{}` spent its {} fuel per minute; retry in {secs} s",
                self.config.id, self.config.quotas.fuel_per_minute
            );
            return Err(self.refuse(Refusal::FuelQuota, message, Some(secs)));
        }
        self.take_slot()
    }

    /// One of its `concurrent_calls` slots, or the refusal.
    fn take_slot(&self) -> Result<Admission<'_>, ApiError> {
        let limit = self.config.quotas.concurrent_calls;
        let taken =
            self.in_flight.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < limit).then_some(n + 1));
        if taken.is_err() {
            let message =
                format!("tenant `{}` has {limit} calls and runs in flight, its quota", self.config.id);
            return Err(self.refuse(Refusal::ConcurrencyQuota, message, Some(1)));
        }
        Ok(Admission { tenant: self, share: None })
    }

    /// Admit a run of the workflow named `name` (allowed, fuel left, a call slot free), or
    /// refuse it. The run holds the slot while it runs ([`Admission::for_run`]); its fuel is
    /// charged to the tenant when it ends.
    pub(crate) fn admit_run(&self, name: &str) -> Result<Admission<'_>, ApiError> {
        if !self.config.allows_workflow(name) {
            return Err(self.refuse(
                Refusal::Forbidden,
                format!("tenant `{}` may not run `{name}`", self.config.id),
                None,
            ));
        }
        let wait = self.bucket.lock().unwrap_or_else(PoisonError::into_inner).wait_secs();
        if let Some(secs) = wait {
            let message = format!("tenant `{}` spent its fuel per minute; retry in {secs} s", self.config.id);
            return Err(self.refuse(Refusal::FuelQuota, message, Some(secs)));
        }
        self.take_slot()
    }

    /// Charge a finished run's fuel.
    pub(crate) fn charge_run(&self, fuel: u64) {
        self.bucket.lock().unwrap_or_else(PoisonError::into_inner).charge(fuel);
        self.fuel_used.fetch_add(fuel, Ordering::Relaxed);
        metrics::counter!(TENANT_FUEL_TOTAL, "tenant" => self.config.id.clone()).increment(fuel);
    }

    /// What it uses, for `/v1/health`.
    pub(crate) fn report(&self) -> Value {
        let (held_memory, held_fuel) = *self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        bucket.refill();
        json!({
            "id": self.config.id,
            "in_flight": self.in_flight.load(Ordering::SeqCst),
            "calls": self.calls.load(Ordering::Relaxed),
            "fuel_used": self.fuel_used.load(Ordering::Relaxed),
            "fuel_available": bucket.level.max(0.0).floor(),
            "refusals": self.refusals.load(Ordering::Relaxed),
            "reserved_memory_bytes": held_memory,
            "reserved_fuel": held_fuel,
            "max_priority": self.config.max_priority,
            "quotas": {
                "concurrent_calls": self.config.quotas.concurrent_calls,
                "fuel_per_minute": self.config.quotas.fuel_per_minute,
                "reservation_share": self.config.quotas.reservation_share,
                "max_body_bytes": self.config.quotas.max_body_bytes,
            },
        })
    }
}

/// The configured tenants.
#[derive(Debug)]
pub(crate) struct TenantGate {
    tenants: Vec<Tenant>,
}

impl TenantGate {
    pub(crate) fn new(configs: &[TenantConfig], audit: Option<&AuditLog>) -> Self {
        let tenants = configs
            .iter()
            .map(|config| Tenant {
                bucket: Mutex::new(FuelBucket::new(config.quotas.fuel_per_minute)),
                config: config.clone(),
                in_flight: AtomicU32::new(0),
                calls: AtomicU64::new(0),
                fuel_used: AtomicU64::new(0),
                refusals: AtomicU64::new(0),
                held: Mutex::new((0, 0)),
                audit: audit.cloned(),
                reported: Mutex::new((0, 0, 0, Instant::now())),
            })
            .collect();
        Self { tenants }
    }

    /// The tenant with `id`.
    pub(crate) fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.config.id == id)
    }

    /// Record every tenant's use since its last usage record in the audit log.
    pub(crate) fn audit_usage(&self) {
        for tenant in &self.tenants {
            tenant.audit_usage();
        }
    }

    /// Record usage every `period` for as long as the server runs.
    pub(crate) async fn audit_usage_every(
        state: std::sync::Arc<super::routes::AppState>,
        period: std::time::Duration,
    ) {
        let mut ticks = tokio::time::interval(period);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            state.gate().audit_usage();
        }
    }

    /// Whether anyone may call without a key (no tenants configured).
    pub(crate) fn is_open(&self) -> bool {
        self.tenants.is_empty()
    }

    /// The tenant `headers` authenticate; `None` when the gate is open.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Option<&Tenant>, ApiError> {
        if self.is_open() {
            return Ok(None);
        }
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(key) = key else {
            return Err(ApiError::refused(
                Refusal::Unauthenticated,
                "send `Authorization: Bearer <API key>`",
            ));
        };
        match self.tenants.iter().find(|t| t.config.key_matches(key)) {
            Some(tenant) => Ok(Some(tenant)),
            None => Err(ApiError::refused(Refusal::Unauthenticated, "unknown API key")),
        }
    }
}
