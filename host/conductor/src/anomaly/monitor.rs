//! [`HealthMonitor`]: keeps every `extension@version`'s history, runs the detectors after each
//! observed attempt, and carries out the policy's action — record, warn, throttle or
//! quarantine — publishing every anomaly and action on the health event stream (which the
//! host hands to its audit log through a [`HealthEventSink`]).
//!
//! One monitor is shared by every workflow calling through a conductor, so an extension
//! quarantined for one caller is quarantined for all. Its lock is held only for bookkeeping,
//! never across an await or while the store writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::contention::host_contention;
use super::detector::{Anomaly, Latest, detect};
use super::history::{AnomalyRecord, ExtensionHistory, Quarantine};
use super::history_store::{HealthStoreError, HistoryStore};
use super::policy::{Action, AnomalyPolicy};
use super::report::{ExtensionHealth, HealthState};
use super::robust::median;
use super::sample::{Expectations, Metric, Observation};
use crate::breaker::BreakerRegistry;
use crate::health::{HealthEvent, HealthEvents};
use crate::{BreakerState, Clock};
use symphony_types::error::{CallError, ConductorError};

/// Calls after an acted-on anomaly during which the extension is reported degraded.
pub const DEGRADED_FOR_CALLS: u64 = 64;

/// A throttle in force.
#[derive(Debug)]
struct Throttle {
    slots: Arc<Semaphore>,
    concurrency: u32,
    /// When it ends, on the monitor's clock.
    until: Duration,
}

/// Where the monitor's findings and actions go synchronously, as they happen (the host's audit
/// log). Breaker state changes are not handed here: subscribe to [`HealthEvents`] for those.
pub trait HealthEventSink: Send + Sync + std::fmt::Debug {
    /// Record `event`. Must not block for long: it runs on the calling path.
    fn record(&self, event: &HealthEvent);
}

#[derive(Debug, Default)]
struct State {
    histories: BTreeMap<String, ExtensionHistory>,
    throttles: HashMap<String, Throttle>,
    dirty: BTreeSet<String>,
}

#[derive(Debug)]
struct Inner {
    policy: AnomalyPolicy,
    clock: Arc<dyn Clock>,
    /// Unix time at the clock's origin, in milliseconds: turns clock readings into wall time
    /// for records that outlive the process.
    unix_origin_ms: u64,
    events: HealthEvents,
    breakers: Mutex<Option<BreakerRegistry>>,
    sink: Mutex<Option<Arc<dyn HealthEventSink>>>,
    store: Option<Box<dyn HistoryStore>>,
    state: Mutex<State>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(err) = flush_state(self.store.as_deref(), &self.state) {
            tracing::error!(error = %err, "health history not saved");
        }
    }
}

/// Shared handle to the health monitor; clones share everything.
#[derive(Debug, Clone)]
pub struct HealthMonitor {
    inner: Arc<Inner>,
}

impl HealthMonitor {
    /// A monitor judging by `policy`, timed by `clock`, publishing on `events`, remembering
    /// only in memory.
    #[must_use]
    pub fn new(policy: AnomalyPolicy, clock: Arc<dyn Clock>, events: HealthEvents) -> Self {
        Self::build(policy, clock, events, None, BTreeMap::new())
    }

    /// Like [`new`](Self::new), with history loaded from and saved to `store`. Records the
    /// store cannot trust are skipped with a warning (that extension starts afresh).
    ///
    /// # Errors
    /// [`HealthStoreError`] when the store cannot be read.
    pub fn with_store(
        policy: AnomalyPolicy,
        clock: Arc<dyn Clock>,
        events: HealthEvents,
        store: Box<dyn HistoryStore>,
    ) -> Result<Self, HealthStoreError> {
        let (histories, skipped) = store.load()?;
        for record in skipped {
            tracing::warn!(extension = %record.extension, reason = %record.reason, store = %store.location(),
                "health history skipped");
        }
        Ok(Self::build(policy, clock, events, Some(store), histories))
    }

    fn build(
        policy: AnomalyPolicy,
        clock: Arc<dyn Clock>,
        events: HealthEvents,
        store: Option<Box<dyn HistoryStore>>,
        histories: BTreeMap<String, ExtensionHistory>,
    ) -> Self {
        let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, millis);
        let unix_origin_ms = unix_now.saturating_sub(millis(clock.now()));
        Self {
            inner: Arc::new(Inner {
                policy,
                clock,
                unix_origin_ms,
                events,
                breakers: Mutex::new(None),
                sink: Mutex::new(None),
                store,
                state: Mutex::new(State { histories, ..State::default() }),
            }),
        }
    }

    /// Force breakers in `registry` open while their extension is quarantined, and close them
    /// when a quarantine is lifted.
    pub fn attach_breakers(&self, registry: BreakerRegistry) {
        *self.inner.breakers.lock().unwrap_or_else(PoisonError::into_inner) = Some(registry);
    }

    /// Hand every anomaly, quarantine, lifting and throttle to `sink` as it happens, before
    /// subscribers see it (the host's audit log is one).
    pub fn attach_sink(&self, sink: Arc<dyn HealthEventSink>) {
        *self.inner.sink.lock().unwrap_or_else(PoisonError::into_inner) = Some(sink);
    }

    /// Hand `event` to the sink, then publish it to subscribers.
    fn emit(&self, event: HealthEvent) {
        let sink = self.inner.sink.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(sink) = sink {
            sink.record(&event);
        }
        self.inner.events.publish(event);
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &AnomalyPolicy {
        &self.inner.policy
    }

    /// Now, in milliseconds since the Unix epoch, on the monitor's clock.
    #[must_use]
    pub fn now_unix_ms(&self) -> u64 {
        self.inner.unix_origin_ms.saturating_add(millis(self.inner.clock.now()))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; the bookkeeping stays consistent anyway.
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Judge one finished attempt of `extension` and act on what the detectors find. Returns
    /// the anomalies raised (already acted on, published and queued for saving).
    pub fn observe(
        &self,
        extension: &str,
        expectations: &Expectations,
        observation: &Observation<'_>,
    ) -> Vec<AnomalyRecord> {
        let policy = &self.inner.policy;
        if !policy.enabled || !observation.is_evidence() {
            return Vec::new();
        }
        let mut raised = Vec::new();
        let mut events = Vec::new();
        {
            let mut state = self.lock();
            let thresholds = &policy.thresholds;
            if !state.histories.contains_key(extension) {
                state.histories.insert(extension.to_owned(), ExtensionHistory::default());
            }
            let Some(history) = state.histories.get_mut(extension) else { return Vec::new() };
            let sample = observation.sample();
            history.push(sample, observation.error.map(|e| e.kind()), thresholds);
            let now = self.inner.clock.now();
            history.last_seen = Some(now);
            let latest = Latest {
                denials: observation.denials,
                stopped_by_host: matches!(observation.error, Some(CallError::Host(_))),
            };
            let found = detect(history, latest, expectations, thresholds);
            let cooldown = thresholds.recent_calls as u64;
            let fresh: Vec<Anomaly> =
                found.into_iter().filter(|a| !history.raised_recently(&a.key(), cooldown)).collect();
            let now_unix = if fresh.is_empty() { 0 } else { self.now_unix_ms() };
            for anomaly in fresh {
                if let Some(metric) = anomaly.time_metric()
                    && let Some(contention) =
                        host_contention(&state.histories, extension, metric, now, thresholds)
                {
                    if let Some(history) = state.histories.get_mut(extension) {
                        history.note_contention(anomaly.key());
                    }
                    tracing::info!(extension, anomaly = %anomaly.kind(), evidence = %anomaly.summary(),
                        host_shift = format!("{:.1}×", contention.host_shift), peers = contention.peers,
                        "host contention, extension not blamed");
                    events.push(HealthEvent::HostContention {
                        extension: extension.to_owned(),
                        anomaly,
                        extension_shift: contention.extension_shift,
                        host_shift: contention.host_shift,
                        peers: contention.peers,
                    });
                    continue;
                }
                let mut consequences = Vec::new();
                let action = policy.action(anomaly.kind());
                let (action, capped) = if anomaly.time_metric().is_some() && action == Action::Quarantine {
                    (Action::Throttle, Some("time alone never quarantines".to_owned()))
                } else {
                    (action, None)
                };
                let (action, note) =
                    self.act(&mut state, extension, &anomaly, action, now_unix, &mut consequences);
                let note = note.or(capped);
                let at_call = state.histories.get(extension).map_or(0, |h| h.calls);
                let record =
                    AnomalyRecord { anomaly: anomaly.clone(), action, at_call, at_unix_ms: now_unix, note };
                if let Some(history) = state.histories.get_mut(extension) {
                    history.remember(anomaly.key(), record.clone());
                }
                if action == Action::Record {
                    tracing::info!(extension, anomaly = %anomaly.kind(), evidence = %anomaly.summary(), "anomaly");
                } else {
                    tracing::warn!(extension, anomaly = %anomaly.kind(), action = action.as_str(),
                        evidence = %anomaly.summary(), "anomaly");
                }
                // The finding first, then what was done about it.
                events.push(HealthEvent::AnomalyDetected {
                    extension: extension.to_owned(),
                    anomaly,
                    action,
                });
                events.extend(consequences);
                raised.push(record);
            }
            if !state.dirty.contains(extension) {
                state.dirty.insert(extension.to_owned());
            }
        }
        let mut force_open_ms = None;
        for event in events {
            if let HealthEvent::Quarantined { period_ms, .. } = &event {
                force_open_ms = Some(*period_ms);
            }
            self.emit(event);
        }
        if let Some(period_ms) = force_open_ms {
            self.force_breaker(extension, period_ms);
        }
        if !raised.is_empty() {
            // Findings and quarantines must survive a crash; ordinary calls are saved in batches.
            if let Err(err) = self.flush() {
                tracing::error!(error = %err, "health history not saved");
            }
        }
        raised
    }

    /// Carry out `action` for `anomaly`; returns the action actually taken (a quarantine over
    /// the cap becomes a throttle) and why it differs.
    fn act(
        &self,
        state: &mut State,
        extension: &str,
        anomaly: &Anomaly,
        action: Action,
        now_unix: u64,
        events: &mut Vec<HealthEvent>,
    ) -> (Action, Option<String>) {
        let policy = &self.inner.policy;
        match action {
            Action::Record | Action::Warn => (action, None),
            Action::Throttle => {
                self.throttle(state, extension, events);
                (action, None)
            }
            Action::Quarantine => {
                let active =
                    |h: &ExtensionHistory| h.quarantine.as_ref().is_some_and(|q| q.until_unix_ms > now_unix);
                if state.histories.get(extension).is_some_and(active) {
                    return (action, Some("already quarantined".into()));
                }
                let quarantined = state.histories.values().filter(|h| active(h)).count();
                let cap = policy.quarantine.cap(state.histories.len());
                if quarantined >= cap {
                    self.throttle(state, extension, events);
                    let note = format!(
                        "quarantine cap reached ({quarantined} of {} extensions)",
                        state.histories.len()
                    );
                    return (Action::Throttle, Some(note));
                }
                let Some(history) = state.histories.get_mut(extension) else { return (Action::Record, None) };
                history.quarantines = history.quarantines.saturating_add(1);
                let nth = history.quarantines;
                let period_ms = policy.quarantine.period_for(nth);
                history.quarantine = Some(Quarantine {
                    reason: anomaly.kind().as_str().to_owned(),
                    since_unix_ms: now_unix,
                    until_unix_ms: now_unix.saturating_add(period_ms),
                    nth,
                });
                events.push(HealthEvent::Quarantined {
                    extension: extension.to_owned(),
                    reason: anomaly.kind(),
                    evidence: anomaly.summary(),
                    period_ms,
                    nth,
                });
                (action, None)
            }
        }
    }

    fn throttle(&self, state: &mut State, extension: &str, events: &mut Vec<HealthEvent>) {
        let throttle = self.inner.policy.throttle;
        let until = self.inner.clock.now().saturating_add(Duration::from_millis(throttle.period_ms));
        let concurrency = throttle.concurrency.max(1);
        match state.throttles.get_mut(extension) {
            Some(existing) => existing.until = existing.until.max(until),
            None => {
                let slots = Arc::new(Semaphore::new(usize::try_from(concurrency).unwrap_or(1)));
                state.throttles.insert(extension.to_owned(), Throttle { slots, concurrency, until });
                events.push(HealthEvent::Throttled {
                    extension: extension.to_owned(),
                    concurrency,
                    period_ms: throttle.period_ms,
                });
            }
        }
    }

    fn force_breaker(&self, extension: &str, period_ms: u64) {
        let breakers = self.inner.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(breaker) = breakers.as_ref().and_then(|r| r.get(extension)) {
            breaker.force_open(period_ms);
        }
    }

    /// How long a call to `extension` typically runs in the guest, in microseconds, for
    /// estimating when work will finish: the baseline's median guest time once there is a
    /// baseline, else the median over the calls remembered so far; `None` for an extension
    /// never observed. Medians, so one stalled call does not move the estimate.
    #[must_use]
    pub fn typical_guest_us(&self, extension: &str) -> Option<u64> {
        let state = self.lock();
        let history = state.histories.get(extension)?;
        let center = match history.baseline().and_then(|b| b.metrics.get(&Metric::GuestUs)) {
            Some(&(median, _mad)) => median,
            None => {
                let calls = history.window(history.len());
                let mut values: Vec<f64> = calls.iter().map(|s| Metric::GuestUs.of(s) as f64).collect();
                median(&mut values)?
            }
        };
        // Medians of whole microseconds are whole or halves: rounding loses at most 0.5 µs.
        Some(center.round() as u64)
    }

    /// Milliseconds left of `extension`'s quarantine, if one is in force.
    #[must_use]
    pub fn quarantine_remaining_ms(&self, extension: &str) -> Option<u64> {
        let now = self.now_unix_ms();
        let state = self.lock();
        let quarantine = state.histories.get(extension)?.quarantine.as_ref()?;
        (quarantine.until_unix_ms > now).then(|| quarantine.until_unix_ms - now)
    }

    /// Let a call to `extension` start: refused while quarantined; while throttled, waits up
    /// to the throttle's wait for one of its slots (hold the returned permit for the call).
    ///
    /// # Errors
    /// [`ConductorError::Quarantined`] while quarantined; [`ConductorError::Overloaded`] when
    /// no throttled slot frees up in time.
    pub async fn admit(&self, extension: &str) -> Result<Option<OwnedSemaphorePermit>, ConductorError> {
        let now = self.inner.clock.now();
        let now_unix = self.inner.unix_origin_ms.saturating_add(millis(now));
        let mut lifted = None;
        let slots = {
            let mut state = self.lock();
            if let Some(history) = state.histories.get_mut(extension)
                && let Some(quarantine) = &history.quarantine
            {
                if quarantine.until_unix_ms > now_unix {
                    return Err(ConductorError::Quarantined {
                        extension: extension.to_owned(),
                        retry_after_ms: quarantine.until_unix_ms - now_unix,
                    });
                }
                lifted = Some(quarantine.reason.clone());
                history.quarantine = None;
                state.dirty.insert(extension.to_owned());
            }
            match state.throttles.get(extension) {
                Some(throttle) if throttle.until > now => Some(Arc::clone(&throttle.slots)),
                Some(_) => {
                    state.throttles.remove(extension);
                    None
                }
                None => None,
            }
        };
        if let Some(reason) = lifted {
            self.emit(HealthEvent::QuarantineLifted {
                extension: extension.to_owned(),
                reason: format!("period over (was: {reason})"),
            });
        }
        let Some(slots) = slots else { return Ok(None) };
        let wait = Duration::from_millis(self.inner.policy.throttle.wait_ms);
        tokio::select! {
            permit = slots.acquire_owned() => Ok(permit.ok()),
            () = self.inner.clock.sleep(wait) => Err(ConductorError::Overloaded {
                reason: format!("{extension} is throttled and no slot freed within {} ms", wait.as_millis()),
            }),
        }
    }

    /// Lift `extension`'s quarantine and throttle now (an operator's decision, `reason` says
    /// whose), close its breaker, and judge it afresh from its next calls. Returns whether a
    /// quarantine was in force.
    ///
    /// # Errors
    /// [`HealthStoreError`] when the lifted state cannot be saved.
    pub fn lift(&self, extension: &str, reason: &str) -> Result<bool, HealthStoreError> {
        let now_unix = self.now_unix_ms();
        let was = {
            let mut state = self.lock();
            state.throttles.remove(extension);
            let thresholds = self.inner.policy.thresholds;
            let was = state.histories.get_mut(extension).is_some_and(|history| {
                let active = history.quarantine.take().is_some_and(|q| q.until_unix_ms > now_unix);
                history.forgive(&thresholds);
                active
            });
            state.dirty.insert(extension.to_owned());
            was
        };
        if let Some(breaker) = self
            .inner
            .breakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|r| r.get(extension))
        {
            breaker.reset();
        }
        if was {
            self.emit(HealthEvent::QuarantineLifted {
                extension: extension.to_owned(),
                reason: reason.to_owned(),
            });
        }
        self.flush()?;
        Ok(was)
    }

    /// Save every history changed since the last save, in one transaction.
    ///
    /// # Errors
    /// [`HealthStoreError`] when the store cannot be written (the changes stay queued).
    pub fn flush(&self) -> Result<(), HealthStoreError> {
        flush_state(self.inner.store.as_deref(), &self.inner.state)
    }

    /// Every known extension's health, `extensions` included even when never called; breaker
    /// states come from `breakers` when given (a live host), else from quarantines alone.
    #[must_use]
    pub fn report(&self, extensions: &[String], breakers: Option<&BreakerRegistry>) -> Vec<ExtensionHealth> {
        let now = self.inner.clock.now();
        let now_unix = self.now_unix_ms();
        let state = self.lock();
        let mut ids: BTreeSet<&str> = state.histories.keys().map(String::as_str).collect();
        ids.extend(extensions.iter().map(String::as_str));
        let empty = ExtensionHistory::default();
        ids.into_iter()
            .map(|id| {
                let history = state.histories.get(id).unwrap_or(&empty);
                let quarantine = history.quarantine.clone().filter(|q| q.until_unix_ms > now_unix);
                let throttle = state.throttles.get(id).filter(|t| t.until > now);
                let breaker = match (&quarantine, breakers.and_then(|b| b.get(id))) {
                    (Some(_), _) => BreakerState::Open,
                    (None, Some(breaker)) => breaker.state(),
                    (None, None) => BreakerState::Closed,
                };
                let acted_recently = history.anomalies().any(|a| {
                    a.action != Action::Record && history.calls.saturating_sub(a.at_call) < DEGRADED_FOR_CALLS
                });
                let status = if quarantine.is_some() {
                    HealthState::Quarantined
                } else if throttle.is_some() || breaker != BreakerState::Closed || acted_recently {
                    HealthState::Degraded
                } else {
                    HealthState::Healthy
                };
                ExtensionHealth::new(
                    id,
                    status,
                    breaker,
                    history,
                    quarantine.map(|q| (q, now_unix)),
                    throttle.map(|t| (t.concurrency, millis(t.until.saturating_sub(now)))),
                )
            })
            .collect()
    }

    /// The status of one extension (healthy when never seen).
    #[must_use]
    pub fn status(&self, extension: &str) -> HealthState {
        self.report(&[extension.to_owned()], None)
            .into_iter()
            .find(|h| h.extension == extension)
            .map_or(HealthState::Healthy, |h| h.status)
    }
}

fn flush_state(store: Option<&dyn HistoryStore>, state: &Mutex<State>) -> Result<(), HealthStoreError> {
    let Some(store) = store else { return Ok(()) };
    let (dirty, snapshot): (BTreeSet<String>, Vec<(String, ExtensionHistory)>) = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let dirty = std::mem::take(&mut state.dirty);
        let snapshot =
            dirty.iter().filter_map(|id| state.histories.get(id).map(|h| (id.clone(), h.clone()))).collect();
        (dirty, snapshot)
    };
    if snapshot.is_empty() {
        return Ok(());
    }
    let borrowed: Vec<(&str, &ExtensionHistory)> = snapshot.iter().map(|(id, h)| (id.as_str(), h)).collect();
    let result = store.save(&borrowed);
    if result.is_err() {
        state.lock().unwrap_or_else(PoisonError::into_inner).dirty.extend(dirty);
    }
    result
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
