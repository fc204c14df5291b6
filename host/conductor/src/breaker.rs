//! Circuit breakers per `extension@version`: stop calling an extension that keeps failing, probe
//! it after a while, and let calls flow again once probes succeed.
//!
//! A [`CircuitBreaker`] is closed (calls flow, outcomes are counted in a sliding window), open
//! (calls are refused with [`ConductorError::CircuitOpen`] without running the guest) or
//! half-open (a few probe calls run; all must succeed to close, any failure re-opens for longer).
//! Callers take a [`Permit`] per call and record the outcome on it; [`CircuitBreaker::call`],
//! [`CircuitBreaker::invoke`] and [`Guarded`] do that for them. The [`BreakerRegistry`] gives
//! every workflow and tenant in the process the same breaker for the same id and publishes every
//! state change as a [`HealthEvent`].
//!
//! Each trip (closed to open, through any reopenings, back to closed by probes) is timed, and
//! [`CircuitBreaker::recovery`] turns the last [`RECOVERIES_KEPT`] of them into an estimate of
//! how long this extension takes to come back, for callers planning around an open breaker.
//!
//! Policy and its defaults live in [`policy`], what counts as a failure in [`failure`], the
//! window in `window`, the shared map in [`registry`]. Retrying is `retry`'s job: a refusal is a
//! transient conductor error carrying `retry_after_ms`.

pub mod failure;
pub mod policy;
pub mod registry;
mod window;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

pub use self::failure::counts_as_failure;
pub use self::policy::{
    BreakerPolicy, BreakerPolicyError, DEFAULT_FAILURE_RATIO, DEFAULT_HALF_OPEN_PROBES, DEFAULT_MAX_OPEN_MS,
    DEFAULT_MINIMUM_CALLS, DEFAULT_OPEN_BACKOFF_FACTOR, DEFAULT_OPEN_MS, DEFAULT_SLOW_CALL_MS,
    DEFAULT_WINDOW_MS,
};
pub use self::registry::BreakerRegistry;
pub use crate::health::BreakerState;

use self::failure::Verdict;
use self::window::SlidingWindow;
use crate::health::{HealthEvent, HealthEvents};
use crate::{Clock, Invoke, InvokeOutcome};
use symphony_types::error::{CallError, ConductorError};
use symphony_types::payload::CallRequest;

/// Recovered trips whose durations [`CircuitBreaker::recovery`] averages; older ones are
/// forgotten (they are still counted).
pub const RECOVERIES_KEPT: usize = 8;

/// How a breaker is doing and how long its trips have taken to recover, from
/// [`CircuitBreaker::recovery`]. A trip begins when the breaker opens from closed and ends
/// when half-open probes close it again; reopening after a failed probe continues the same
/// trip, and an operator's [`reset`](CircuitBreaker::reset) abandons it uncounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BreakerRecovery {
    /// The state now (an open breaker whose period has passed reads half-open, as in
    /// [`CircuitBreaker::state`]).
    pub state: BreakerState,
    /// Milliseconds until the open period ends and probing may start, rounded up; `None`
    /// unless open.
    pub retry_after_ms: Option<u64>,
    /// Trips recovered from so far (saturating).
    pub recovered_trips: u32,
    /// Mean duration of the last [`RECOVERIES_KEPT`] recovered trips, in milliseconds (rounded
    /// down); `None` before the first recovery.
    pub mean_recovery_ms: Option<u64>,
    /// Duration of the most recent recovered trip, in milliseconds; `None` before the first.
    pub last_recovery_ms: Option<u64>,
}

/// One `extension@version`'s breaker. Cheap to share behind an `Arc`; its lock is a std mutex
/// held only for bookkeeping, never across an await.
#[derive(Debug)]
pub struct CircuitBreaker {
    extension: String,
    policy: BreakerPolicy,
    clock: Arc<dyn Clock>,
    events: HealthEvents,
    core: Mutex<Core>,
}

#[derive(Debug)]
struct Core {
    phase: Phase,
    /// Bumped on every state change, so a permit taken before one records nothing after it.
    generation: u64,
    window: SlidingWindow,
    trips: TripLog,
}

/// When the current trip began, and how long the last recovered ones took.
#[derive(Debug, Default)]
struct TripLog {
    /// When the breaker left closed, on the breaker's clock; `None` while closed.
    began: Option<Duration>,
    /// Recovered trips' durations in milliseconds, oldest first, at most [`RECOVERIES_KEPT`].
    durations_ms: VecDeque<u64>,
    recovered: u32,
}

impl TripLog {
    /// Note a state change at `now`: leaving closed begins a trip, closing from half-open ends
    /// it with a recovery (a reset [`abandon`](Self::abandon)s it first).
    fn note(&mut self, from: BreakerState, to: BreakerState, now: Duration) {
        match (from, to) {
            (BreakerState::Closed, BreakerState::Open | BreakerState::HalfOpen) => self.began = Some(now),
            (BreakerState::HalfOpen, BreakerState::Closed) => {
                if let Some(began) = self.began.take() {
                    if self.durations_ms.len() >= RECOVERIES_KEPT {
                        self.durations_ms.pop_front();
                    }
                    self.durations_ms.push_back(millis(now.saturating_sub(began)));
                    self.recovered = self.recovered.saturating_add(1);
                }
            }
            _ => {}
        }
    }

    /// Forget the trip in progress without counting it: an operator closed the breaker, so
    /// how long it was open says nothing about how long the extension takes to recover.
    fn abandon(&mut self) {
        self.began = None;
    }

    fn mean_ms(&self) -> Option<u64> {
        let count = u64::try_from(self.durations_ms.len()).ok().filter(|&n| n > 0)?;
        let total = self.durations_ms.iter().fold(0u128, |sum, &ms| sum + u128::from(ms));
        Some(u64::try_from(total / u128::from(count)).unwrap_or(u64::MAX))
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open {
        /// When probing may start, on the breaker's clock.
        until: Duration,
        /// This open period, in milliseconds.
        period_ms: u64,
        /// The failure ratio that opened it (reported again when it turns half-open).
        failure_ratio: f64,
    },
    HalfOpen {
        /// Probes running now.
        in_flight: u32,
        /// Probes that succeeded.
        succeeded: u32,
        /// The open period before this half-open, in milliseconds (the next one grows from it).
        period_ms: u64,
    },
}

impl Phase {
    fn state(self) -> BreakerState {
        match self {
            Self::Closed => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker for `extension` (`name@version`), running `policy` as
    /// [`BreakerPolicy::effective`] clamps it, timed by `clock`, publishing state changes on
    /// `events`. Most callers get breakers from a [`BreakerRegistry`] instead.
    #[must_use]
    pub fn new(
        extension: impl Into<String>,
        policy: BreakerPolicy,
        clock: Arc<dyn Clock>,
        events: HealthEvents,
    ) -> Self {
        let policy = policy.effective();
        Self {
            extension: extension.into(),
            core: Mutex::new(Core {
                phase: Phase::Closed,
                generation: 0,
                window: SlidingWindow::new(policy.window_ms),
                trips: TripLog::default(),
            }),
            policy,
            clock,
            events,
        }
    }

    /// `name@version` this breaker guards.
    #[must_use]
    pub fn extension(&self) -> &str {
        &self.extension
    }

    /// The policy it runs (after clamping).
    #[must_use]
    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// The current state. An open breaker whose period has passed turns half-open here (and
    /// says so on the health events), so what observers see matches what the next call gets.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        let mut core = self.lock();
        self.open_to_half_open_if_due(&mut core, self.clock.now());
        core.phase.state()
    }

    /// The state, the time left of an open period, and how long past trips took to recover
    /// (see [`BreakerRecovery`]). Like [`state`](Self::state), turns a due open breaker
    /// half-open.
    #[must_use]
    pub fn recovery(&self) -> BreakerRecovery {
        let now = self.clock.now();
        let mut core = self.lock();
        self.open_to_half_open_if_due(&mut core, now);
        let retry_after_ms = match core.phase {
            Phase::Open { until, .. } => Some(ceil_ms(until.saturating_sub(now))),
            Phase::Closed | Phase::HalfOpen { .. } => None,
        };
        BreakerRecovery {
            state: core.phase.state(),
            retry_after_ms,
            recovered_trips: core.trips.recovered,
            mean_recovery_ms: core.trips.mean_ms(),
            last_recovery_ms: core.trips.durations_ms.back().copied(),
        }
    }

    /// Ask to make one call.
    ///
    /// # Errors
    /// [`ConductorError::CircuitOpen`] while open (with the time left until probing) and while
    /// half-open with every probe slot taken (with `slow_call_ms` as the hint: by then a healthy
    /// probe has finished).
    pub fn try_acquire(&self) -> Result<Permit<'_>, ConductorError> {
        let now = self.clock.now();
        let mut core = self.lock();
        self.open_to_half_open_if_due(&mut core, now);
        let generation = core.generation;
        match &mut core.phase {
            Phase::Closed => Ok(Permit::new(self, generation, false, now)),
            Phase::Open { until, .. } => Err(self.refusal(ceil_ms(until.saturating_sub(now)))),
            Phase::HalfOpen { in_flight, succeeded, .. } => {
                if in_flight.saturating_add(*succeeded) < self.policy.half_open_probes {
                    *in_flight += 1;
                    Ok(Permit::new(self, generation, true, now))
                } else {
                    Err(self.refusal(self.policy.slow_call_ms))
                }
            }
        }
    }

    /// Run `call` if the breaker allows it and record its outcome, timed on the breaker's
    /// clock. If the returned future is dropped mid-call, nothing is recorded and a probe slot
    /// is freed.
    ///
    /// # Errors
    /// [`CallError::Conductor`] with [`ConductorError::CircuitOpen`] when refused (`call` is
    /// not run); otherwise whatever `call` returned.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, CallError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let permit = self.try_acquire()?;
        let result = call().await;
        permit.record_now(&result);
        result
    }

    /// One attempt through `invoker` if the breaker allows it, recording its outcome. A refusal
    /// is an outcome with [`ConductorError::CircuitOpen`] and zero usage; the guest never runs.
    pub async fn invoke(&self, invoker: &dyn Invoke, request: CallRequest) -> InvokeOutcome {
        let permit = match self.try_acquire() {
            Ok(permit) => permit,
            Err(refused) => return InvokeOutcome::refused(refused.into()),
        };
        let outcome = invoker.invoke(request).await;
        permit.record_now(&outcome.result);
        outcome
    }

    /// Force the breaker open for `period_ms` whatever its state (a quarantine). Calls are
    /// refused until then; afterwards it probes as usual, and a failed probe reopens it for a
    /// period grown from this one. A breaker already open for longer stays as it is.
    pub fn force_open(&self, period_ms: u64) {
        let now = self.clock.now();
        let mut core = self.lock();
        let until = now.saturating_add(Duration::from_millis(period_ms));
        if let Phase::Open { until: current, .. } = core.phase
            && current >= until
        {
            return;
        }
        let ratio = core.window.totals(millis(now)).failure_ratio();
        self.open(&mut core, now, period_ms, ratio);
    }

    /// Close the breaker now and forget its window (an operator put the extension back into
    /// service).
    pub fn reset(&self) {
        let now = self.clock.now();
        let mut core = self.lock();
        core.window.clear();
        core.trips.abandon();
        if !matches!(core.phase, Phase::Closed) {
            self.transition(&mut core, Phase::Closed, 0.0, now);
        }
    }

    fn refusal(&self, retry_after_ms: u64) -> ConductorError {
        ConductorError::CircuitOpen { extension: self.extension.clone(), retry_after_ms }
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // Nothing panics while the lock is held, and the bookkeeping stays consistent anyway.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Settle one permit taken under `generation`, at clock time `now`.
    fn complete(&self, generation: u64, verdict: Verdict, now: Duration) {
        let mut core = self.lock();
        if core.generation != generation {
            // Taken before a state change: its outcome belongs to a period that is over, and a
            // probe slot it held went with the old half-open.
            return;
        }
        match core.phase {
            Phase::Closed => {
                let failure = match verdict {
                    Verdict::Success => false,
                    Verdict::Failure => true,
                    Verdict::Ignored => return,
                };
                core.window.record(millis(now), failure);
                // Only a failure can open the breaker: a success needs no totals.
                if !failure {
                    return;
                }
                let totals = core.window.totals(millis(now));
                let ratio = totals.failure_ratio();
                if totals.calls >= u64::from(self.policy.minimum_calls) && ratio >= self.policy.failure_ratio
                {
                    self.open(&mut core, now, self.policy.open_ms, ratio);
                }
            }
            // Permits are never handed out while open, so a current one cannot be settled here.
            Phase::Open { .. } => {}
            Phase::HalfOpen { in_flight, succeeded, period_ms } => {
                let in_flight = in_flight.saturating_sub(1);
                match verdict {
                    Verdict::Ignored => core.phase = Phase::HalfOpen { in_flight, succeeded, period_ms },
                    Verdict::Success if succeeded + 1 >= self.policy.half_open_probes => {
                        core.window.clear();
                        self.transition(&mut core, Phase::Closed, 0.0, now);
                    }
                    Verdict::Success => {
                        core.phase = Phase::HalfOpen { in_flight, succeeded: succeeded + 1, period_ms };
                    }
                    Verdict::Failure => {
                        // One failure among the probes settled so far.
                        let ratio = 1.0 / f64::from(succeeded + 1);
                        self.open(&mut core, now, self.policy.next_open_ms(period_ms), ratio);
                    }
                }
            }
        }
    }

    fn open(&self, core: &mut Core, now: Duration, period_ms: u64, failure_ratio: f64) {
        let until = now.saturating_add(Duration::from_millis(period_ms));
        self.transition(core, Phase::Open { until, period_ms, failure_ratio }, failure_ratio, now);
    }

    fn open_to_half_open_if_due(&self, core: &mut Core, now: Duration) {
        if let Phase::Open { until, period_ms, failure_ratio } = core.phase
            && now >= until
        {
            let half_open = Phase::HalfOpen { in_flight: 0, succeeded: 0, period_ms };
            self.transition(core, half_open, failure_ratio, now);
        }
    }

    /// Move to `to` at clock time `now` and publish the change. Published under the lock so
    /// subscribers see one breaker's changes in the order they happened; sending never blocks.
    fn transition(&self, core: &mut Core, to: Phase, failure_ratio: f64, now: Duration) {
        let from = core.phase.state();
        core.trips.note(from, to.state(), now);
        core.phase = to;
        core.generation = core.generation.wrapping_add(1);
        let open_for_ms = match to {
            Phase::Open { period_ms, .. } => Some(period_ms),
            Phase::Closed | Phase::HalfOpen { .. } => None,
        };
        let to = to.state();
        tracing::info!(extension = %self.extension, ?from, ?to, failure_ratio, ?open_for_ms, "circuit breaker");
        self.events.publish(HealthEvent::BreakerStateChanged {
            extension: self.extension.clone(),
            from,
            to,
            failure_ratio,
            open_for_ms,
        });
    }
}

/// Leave to make one call, from [`CircuitBreaker::try_acquire`]. Record the outcome with
/// [`record`](Self::record); a permit dropped unrecorded (a cancelled call) counts as nothing
/// and frees its half-open probe slot.
#[derive(Debug)]
#[must_use = "record the call's outcome on the permit; dropping it records nothing"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    generation: u64,
    probe: bool,
    settled: bool,
    /// When it was granted, on the breaker's clock: the call's start.
    granted_at: Duration,
}

impl<'a> Permit<'a> {
    fn new(breaker: &'a CircuitBreaker, generation: u64, probe: bool, granted_at: Duration) -> Self {
        Self { breaker, generation, probe, settled: false, granted_at }
    }

    /// Whether this call is a half-open probe.
    #[must_use]
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Record how the call went: `outcome` as returned, `elapsed` as the caller saw it. A
    /// success slower than the policy's `slow_call_ms` counts as a failure; errors count as
    /// [`counts_as_failure`] says.
    pub fn record<T>(mut self, outcome: &Result<T, CallError>, elapsed: Duration) {
        let now = self.breaker.clock.now();
        self.settle(Verdict::of(outcome, elapsed, self.breaker.policy.slow_call_ms), now);
    }

    /// [`record`](Self::record) a call that started when the permit was granted and ends now:
    /// one clock reading serves both the elapsed time and the window.
    fn record_now<T>(mut self, outcome: &Result<T, CallError>) {
        let now = self.breaker.clock.now();
        let elapsed = now.saturating_sub(self.granted_at);
        self.settle(Verdict::of(outcome, elapsed, self.breaker.policy.slow_call_ms), now);
    }

    fn settle(&mut self, verdict: Verdict, now: Duration) {
        if !self.settled {
            self.settled = true;
            self.breaker.complete(self.generation, verdict, now);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let now = self.breaker.clock.now();
            self.settle(Verdict::Ignored, now);
        }
    }
}

/// An [`Invoke`] whose every attempt goes through a breaker, so other layers (retry, fallback)
/// compose over it without knowing it is there.
#[derive(Debug)]
pub struct Guarded<I> {
    inner: I,
    breaker: Arc<CircuitBreaker>,
}

impl<I: Invoke> Guarded<I> {
    /// Guard `inner` with `breaker` (normally the registry's breaker for `inner.id()`).
    #[must_use]
    pub fn new(inner: I, breaker: Arc<CircuitBreaker>) -> Self {
        Self { inner, breaker }
    }

    /// The breaker in front of the extension.
    #[must_use]
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }
}

impl<I: Invoke> Invoke for Guarded<I> {
    fn id(&self) -> String {
        self.inner.id()
    }

    fn invoke(&self, request: CallRequest) -> crate::invoke::InvokeFuture<'_> {
        Box::pin(self.breaker.invoke(&self.inner, request))
    }
}

/// `duration` in whole milliseconds, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `duration` in milliseconds rounded up, so a hint never says "now" while still open.
fn ceil_ms(duration: Duration) -> u64 {
    let whole = millis(duration);
    if duration > Duration::from_millis(whole) { whole.saturating_add(1) } else { whole }
}
