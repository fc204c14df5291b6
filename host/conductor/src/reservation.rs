//! Resource reservation with priority admission: before a call runs it reserves the memory and
//! fuel its limits allow it from one process-wide [`ResourcePool`], waits its turn when they
//! are short, and gives them back when its [`Reservation`] is dropped. [`Reserved`] puts this in
//! front of any [`Invoke`] so it composes with retry and the breaker.
//!
//! A [`Demand`] is a call's *limits* (memory bytes, fuel units) and its manifest [`Priority`],
//! not what it will use: admission bounds the worst case the sandbox allows. The budgets and
//! queue sizes live in [`ReservationPolicy`], the bookkeeping in `queue`. Enforcing the limits
//! during the call is the sandbox's job; deciding which limits apply is the platform policy's.
//!
//! The rules, in the order [`ResourcePool::reserve`] applies them on arrival:
//!
//! 1. A cancelled token is refused with [`ConductorError::Cancelled`].
//! 2. A demand larger than the whole budget (memory or fuel) is refused at once with
//!    [`ConductorError::ExceedsBudget`], a fatal error: no amount of waiting would admit it,
//!    so it is not retried.
//! 3. If no call of the same or a higher class is waiting and the demand fits in what is free,
//!    it is admitted at once. Lower classes waiting do not hold it back.
//! 4. **Shedding:** an optional call that cannot be admitted at once while any essential or
//!    recommended call is waiting is refused at once with `Overloaded`. It could only start
//!    after every one of them, so under pressure it would wait out its timeout for nothing;
//!    refusing now lets the caller take a fallback or degraded answer immediately. The rule is
//!    applied on arrival only: an optional call already waiting keeps its place (behind any
//!    later higher-priority call anyway) until admitted or timed out.
//! 5. If its class's queue is full, it is refused with `Overloaded`; otherwise it waits.
//!
//! **Admission order** is strict: essential, then recommended, then optional, first come first
//! served within a class. Whenever room frees up (a reservation dropped, a waiter leaving) the
//! head is admitted while it fits. **Head-of-line rule:** a head that does not fit blocks
//! everything behind it — smaller calls of its own class *and* of lower classes may not
//! overtake it — so a large essential call is admitted as soon as the calls already running
//! finish, however many small optional ones keep arriving. This costs some utilisation while a
//! large head waits; it buys freedom from starvation within the order. Lower classes can still
//! wait behind a steady stream of higher ones: that is what priority means, and the queue
//! timeout bounds how long. No deadlock: every waiter's demand fits the whole budget (rule 2)
//! and nothing behind a head can take room before it, so the head is admitted at the latest
//! when every running call has finished.
//!
//! **Waiting** ends in one of three ways: admitted (woken by the release that made room),
//! timed out after `queue_timeout_ms` on the pool's [`Clock`] (`Overloaded`), or cancelled
//! (`Cancelled`). The [`CancelToken`] carries no wake-up, so the wait looks at it at least
//! every [`CANCEL_CHECK_INTERVAL`], as the retrier does. A waiter that leaves — timed out,
//! cancelled, or its future dropped — is removed from its queue under the same lock that
//! admits, and if the pool admitted it in that same instant its demand is returned at once: no
//! leaked slot, no phantom admission. Leaving can unblock the calls behind it, so admission
//! runs again.
//!
//! **Release** is the [`Reservation`]'s `Drop`: on success, error, trap, cancellation, a panic
//! unwinding through the holder, or the holder's future dropped mid-await. The pool's lock is
//! a std mutex held only for bookkeeping, never across an await.
//!
//! Compose it as `Retrier` → [`Reserved`] → [`Guarded`](super::Guarded) → extension: an
//! `Overloaded` refusal is transient, so the retrier backs off and tries again; the breaker
//! inside sees neither queueing time (which would count against `slow_call_ms`) nor refusals.

pub mod policy;
mod queue;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use self::policy::{
    DEFAULT_ESSENTIAL_QUEUE_CAPACITY, DEFAULT_FUEL_BUDGET, DEFAULT_MEMORY_BUDGET_BYTES,
    DEFAULT_OPTIONAL_QUEUE_CAPACITY, DEFAULT_QUEUE_TIMEOUT_MS, DEFAULT_RECOMMENDED_QUEUE_CAPACITY,
    InvalidReservationPolicy, QueueCapacity, ReservationPolicy,
};

use self::queue::{Arrival, State, Ticket};
use super::clock::Clock;
use super::invoke::{Invoke, InvokeFuture, InvokeOutcome};
use super::retry::CANCEL_CHECK_INTERVAL;
use symphony_types::error::ConductorError;
use symphony_types::limits::Limits;
use symphony_types::manifest::Priority;
use symphony_types::payload::{CallRequest, CancelToken};

/// What one call reserves while it runs: its limits, and how much it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// Linear memory the call may grow to, in bytes.
    pub memory_bytes: u64,
    /// Fuel the call may burn, in fuel units.
    pub fuel: u64,
    /// Admission class.
    pub priority: Priority,
}

impl Demand {
    /// A demand of `memory_bytes` bytes and `fuel` fuel units at `priority`.
    #[must_use]
    pub fn new(memory_bytes: u64, fuel: u64, priority: Priority) -> Self {
        Self { memory_bytes, fuel, priority }
    }

    /// What a call running under `limits` may use: its memory and fuel limits.
    #[must_use]
    pub fn from_limits(limits: &Limits, priority: Priority) -> Self {
        Self::new(limits.memory_bytes, limits.fuel, priority)
    }
}

/// The process-wide budget calls reserve from. Clones share the same pool.
#[derive(Debug, Clone)]
pub struct ResourcePool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    policy: ReservationPolicy,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held, and the bookkeeping stays consistent anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Give `demand` back and admit whoever now fits.
    fn release(&self, demand: Demand) {
        let mut state = self.lock();
        state.release(demand);
        state.admit_waiters(&self.policy);
    }
}

impl ResourcePool {
    /// An empty pool with `policy`'s budgets, timing queue waits on `clock`.
    #[must_use]
    pub fn new(policy: ReservationPolicy, clock: Arc<dyn Clock>) -> Self {
        Self { inner: Arc::new(PoolInner { policy, clock, state: Mutex::new(State::default()) }) }
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &ReservationPolicy {
        &self.inner.policy
    }

    /// What admitted calls hold now: `(memory in bytes, fuel in fuel units)`.
    #[must_use]
    pub fn in_use(&self) -> (u64, u64) {
        self.inner.lock().in_use()
    }

    /// Calls waiting now, per class: `[essential, recommended, optional]`.
    #[must_use]
    pub fn queued(&self) -> [usize; 3] {
        self.inner.lock().queued()
    }

    /// Calls waiting now in `priority`'s queue.
    #[must_use]
    pub fn queued_in(&self, priority: Priority) -> usize {
        self.queued()[queue::class(priority)]
    }

    /// Reserve `demand`, waiting in its priority class's queue when resources are short (see
    /// the module documentation for the rules). Dropping the returned [`Reservation`] gives the
    /// resources back; dropping this future while it waits leaves the queue as if it had never
    /// joined.
    ///
    /// # Errors
    /// [`ConductorError::ExceedsBudget`] (fatal) when the demand exceeds the whole budget;
    /// [`ConductorError::Overloaded`] when an optional call is shed, the class's queue is full or the wait passes `queue_timeout_ms`;
    /// [`ConductorError::Cancelled`] when `cancel` is cancelled before admission.
    pub async fn reserve(&self, demand: Demand, cancel: &CancelToken) -> Result<Reservation, ConductorError> {
        if cancel.is_cancelled() {
            return Err(ConductorError::Cancelled);
        }
        let arrival = self.inner.lock().arrive(demand, &self.inner.policy);
        let ticket = match arrival {
            Arrival::Admitted => {
                super::call_metrics::reservation_admitted(demand.priority, Duration::ZERO);
                return Ok(Reservation::new(Arc::clone(&self.inner), demand));
            }
            Arrival::TooLarge => {
                let policy = &self.inner.policy;
                return Err(ConductorError::ExceedsBudget {
                    memory_bytes: demand.memory_bytes,
                    fuel: demand.fuel,
                    memory_budget_bytes: policy.memory_budget_bytes,
                    fuel_budget: policy.fuel_budget,
                });
            }
            Arrival::Refused(reason) => {
                tracing::debug!(priority = %demand.priority, %reason, "reservation refused");
                return Err(ConductorError::Overloaded { reason });
            }
            Arrival::Queued(ticket) => ticket,
        };
        // Only a queued call needs the clock: the wait is timed from joining the queue.
        let timeout = Duration::from_millis(self.inner.policy.queue_timeout_ms);
        let joined = self.inner.clock.now();
        let deadline = joined.saturating_add(timeout);
        let admitted = |pool: &PoolInner| {
            super::call_metrics::reservation_admitted(
                demand.priority,
                pool.clock.now().saturating_sub(joined),
            );
        };
        let mut waiting = Waiting { pool: Arc::clone(&self.inner), ticket, demand, settled: false };
        loop {
            if cancel.is_cancelled() {
                // Dropping `waiting` leaves the queue, or returns the demand if just admitted.
                return Err(ConductorError::Cancelled);
            }
            if waiting.ticket.is_admitted() {
                admitted(&self.inner);
                return Ok(waiting.into_reservation());
            }
            let now = self.inner.clock.now();
            if now >= deadline {
                if waiting.leave() {
                    // Admitted in the same instant: the wait did succeed.
                    admitted(&self.inner);
                    return Ok(waiting.into_reservation());
                }
                let reason = format!(
                    "{} call waited {} ms for {} bytes and {} fuel units without being admitted",
                    demand.priority, self.inner.policy.queue_timeout_ms, demand.memory_bytes, demand.fuel
                );
                tracing::debug!(priority = %demand.priority, %reason, "reservation timed out");
                return Err(ConductorError::Overloaded { reason });
            }
            let slice = deadline.saturating_sub(now).min(CANCEL_CHECK_INTERVAL);
            tokio::select! {
                () = waiting.ticket.wake.notified() => {}
                () = self.inner.clock.sleep(slice) => {}
            }
        }
    }
}

/// A queued call, from joining the queue until it holds a [`Reservation`] or gives up. Its
/// `Drop` is what keeps a dropped or abandoned wait from leaking.
struct Waiting {
    pool: Arc<PoolInner>,
    ticket: Arc<Ticket>,
    demand: Demand,
    settled: bool,
}

impl Waiting {
    /// Leave the queue for good. `true` when the pool had already admitted the call, which then
    /// still holds its demand (turn it into a reservation, or drop it to give it back).
    fn leave(&mut self) -> bool {
        let mut state = self.pool.lock();
        if state.withdraw(&self.ticket, self.demand.priority) {
            self.settled = true;
            // A head that leaves may have been blocking the calls behind it.
            state.admit_waiters(&self.pool.policy);
            false
        } else {
            true
        }
    }

    /// Only once the pool has admitted the call.
    fn into_reservation(mut self) -> Reservation {
        self.settled = true;
        Reservation::new(Arc::clone(&self.pool), self.demand)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.settled && self.leave() {
            self.pool.release(self.demand);
        }
    }
}

/// Memory and fuel held for one call; dropping it gives them back and admits whoever now fits.
#[derive(Debug)]
#[must_use = "the resources are given back as soon as the reservation is dropped"]
pub struct Reservation {
    pool: Arc<PoolInner>,
    demand: Demand,
}

impl Reservation {
    fn new(pool: Arc<PoolInner>, demand: Demand) -> Self {
        Self { pool, demand }
    }

    /// What this reservation holds.
    #[must_use]
    pub fn demand(&self) -> Demand {
        self.demand
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.pool.release(self.demand);
    }
}

/// An [`Invoke`] whose every attempt first reserves `demand` from a pool and gives it back when
/// the attempt ends, so other layers (retry, fallback) compose over admission unaware of it.
#[derive(Debug)]
pub struct Reserved<I> {
    inner: I,
    pool: ResourcePool,
    demand: Demand,
}

impl<I: Invoke> Reserved<I> {
    /// Reserve `demand` from `pool` for every attempt of `inner` (normally
    /// `LoadedExtension::demand` in the host).
    #[must_use]
    pub fn new(inner: I, pool: ResourcePool, demand: Demand) -> Self {
        Self { inner, pool, demand }
    }

    /// The pool reserved from.
    #[must_use]
    pub fn pool(&self) -> &ResourcePool {
        &self.pool
    }

    /// What each attempt reserves.
    #[must_use]
    pub fn demand(&self) -> Demand {
        self.demand
    }
}

impl<I: Invoke> Invoke for Reserved<I> {
    fn id(&self) -> String {
        self.inner.id()
    }

    /// Refusals come back as an outcome with [`ConductorError::Overloaded`],
    /// [`ConductorError::ExceedsBudget`] or
    /// [`ConductorError::Cancelled`] and zero usage; the inner target is not called.
    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        Box::pin(async move {
            let reservation = match self.pool.reserve(self.demand, &request.cancel).await {
                Ok(reservation) => reservation,
                Err(refused) => {
                    return InvokeOutcome::refused(refused.into());
                }
            };
            let outcome = self.inner.invoke(request).await;
            drop(reservation);
            outcome
        })
    }
}
