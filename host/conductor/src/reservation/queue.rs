//! The pool's bookkeeping behind its one lock: what admitted calls hold, who waits in which
//! class, and the admission rule applied on every change. Plain synchronous code: waiting,
//! timing out and cancelling are [`ResourcePool::reserve`](super::ResourcePool::reserve)'s job.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use super::Demand;
use super::policy::ReservationPolicy;
use symphony_types::manifest::Priority;

/// Priority classes, in admission order; `queued()` reports them in this order.
pub(super) const CLASSES: [Priority; 3] = [Priority::Essential, Priority::Recommended, Priority::Optional];

/// Index of `priority` in [`CLASSES`].
pub(super) fn class(priority: Priority) -> usize {
    match priority {
        Priority::Essential => 0,
        Priority::Recommended => 1,
        Priority::Optional => 2,
    }
}

/// One queued call's side of the hand-off: set and woken by the pool when its demand has been
/// counted as in use on its behalf.
#[derive(Debug, Default)]
pub(super) struct Ticket {
    admitted: AtomicBool,
    pub(super) wake: Notify,
}

impl Ticket {
    /// Whether the pool has admitted this call. Only ever set under the state lock.
    pub(super) fn is_admitted(&self) -> bool {
        self.admitted.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
struct Waiter {
    ticket: Arc<Ticket>,
    demand: Demand,
}

/// What happened to a call on arrival.
pub(super) enum Arrival {
    /// Its demand is now in use: it holds a reservation.
    Admitted,
    /// Larger than the whole budget: can never be admitted.
    TooLarge,
    /// Refused without waiting, with the reason for [`ConductorError::Overloaded`](symphony_types::error::ConductorError::Overloaded).
    Refused(String),
    /// Waiting; the ticket says when it is admitted.
    Queued(Arc<Ticket>),
}

/// Everything the lock guards.
#[derive(Debug, Default)]
pub(super) struct State {
    memory_in_use: u64,
    fuel_in_use: u64,
    queues: [VecDeque<Waiter>; 3],
}

impl State {
    pub(super) fn in_use(&self) -> (u64, u64) {
        (self.memory_in_use, self.fuel_in_use)
    }

    pub(super) fn queued(&self) -> [usize; 3] {
        [self.queues[0].len(), self.queues[1].len(), self.queues[2].len()]
    }

    /// Admit, queue or refuse a new call (see the module documentation of `reservation` for
    /// the rules, applied here in that order).
    pub(super) fn arrive(&mut self, demand: Demand, policy: &ReservationPolicy) -> Arrival {
        let priority = demand.priority;
        if demand.memory_bytes > policy.memory_budget_bytes || demand.fuel > policy.fuel_budget {
            return Arrival::TooLarge;
        }
        let own = class(priority);
        // Nobody of its own or a higher class waits (a waiter there would be ahead of it), and
        // it fits: admitted. Lower classes waiting do not hold it back.
        if self.queues[..=own].iter().all(VecDeque::is_empty) && self.fits(demand, policy) {
            self.take(demand);
            return Arrival::Admitted;
        }
        let higher_waiting: usize = self.queues[..own].iter().map(VecDeque::len).sum();
        if priority == Priority::Optional && higher_waiting > 0 {
            return Arrival::Refused(format!(
                "optional call shed: {higher_waiting} higher-priority calls are waiting for resources"
            ));
        }
        let capacity = policy.queue_capacity.get(priority);
        if self.queues[own].len() >= capacity {
            return Arrival::Refused(format!(
                "the {priority} queue is full ({capacity} calls already wait for resources)"
            ));
        }
        let ticket = Arc::new(Ticket::default());
        self.queues[own].push_back(Waiter { ticket: Arc::clone(&ticket), demand });
        Arrival::Queued(ticket)
    }

    /// Take a queued call out of its queue. `false` when it is no longer there: the pool
    /// admitted it, and its demand is in use on its behalf.
    pub(super) fn withdraw(&mut self, ticket: &Arc<Ticket>, priority: Priority) -> bool {
        let queue = &mut self.queues[class(priority)];
        match queue.iter().position(|waiter| Arc::ptr_eq(&waiter.ticket, ticket)) {
            Some(at) => {
                queue.remove(at);
                true
            }
            None => false,
        }
    }

    /// Return an admitted call's demand.
    pub(super) fn release(&mut self, demand: Demand) {
        self.memory_in_use = self.memory_in_use.saturating_sub(demand.memory_bytes);
        self.fuel_in_use = self.fuel_in_use.saturating_sub(demand.fuel);
    }

    /// Admit waiters in strict order — classes from essential down, FIFO within each — while
    /// the one at the head fits. The first that does not fit stops everything behind it,
    /// lower classes included, so small calls never starve a large one ahead of them. Run
    /// after every change that can free room: a release, or a waiter leaving the queue.
    pub(super) fn admit_waiters(&mut self, policy: &ReservationPolicy) {
        for own in 0..CLASSES.len() {
            while let Some(head) = self.queues[own].front() {
                if !self.fits(head.demand, policy) {
                    return;
                }
                if let Some(waiter) = self.queues[own].pop_front() {
                    self.take(waiter.demand);
                    waiter.ticket.admitted.store(true, Ordering::Release);
                    // Stores a permit if the waiter is not parked right now, so it is not lost.
                    waiter.ticket.wake.notify_one();
                }
            }
        }
    }

    fn fits(&self, demand: Demand, policy: &ReservationPolicy) -> bool {
        // In use never exceeds the budget, so the subtractions cannot wrap.
        demand.memory_bytes <= policy.memory_budget_bytes.saturating_sub(self.memory_in_use)
            && demand.fuel <= policy.fuel_budget.saturating_sub(self.fuel_in_use)
    }

    fn take(&mut self, demand: Demand) {
        self.memory_in_use = self.memory_in_use.saturating_add(demand.memory_bytes);
        self.fuel_in_use = self.fuel_in_use.saturating_add(demand.fuel);
    }
}
