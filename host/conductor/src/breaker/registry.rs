//! The process-wide map from `extension@version` to its [`CircuitBreaker`], so every workflow
//! and tenant calling the same extension trips and sees the same breaker.
//!
//! Which policy applies to an id (manifest ∩ platform) is decided by whoever calls
//! [`BreakerRegistry::for_extension`]; the state machine is [`CircuitBreaker`]'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{BreakerPolicy, BreakerState, CircuitBreaker};
use crate::health::HealthEvents;
use crate::{Clock, Invoke, InvokeOutcome};
use symphony_types::payload::CallRequest;

/// Breakers by `name@version`, created on first use. Clones share the same map.
#[derive(Debug, Clone)]
pub struct BreakerRegistry {
    inner: Arc<RegistryInner>,
}

#[derive(Debug)]
struct RegistryInner {
    clock: Arc<dyn Clock>,
    events: HealthEvents,
    breakers: Mutex<HashMap<String, Arc<CircuitBreaker>>>,
}

impl BreakerRegistry {
    /// An empty registry whose breakers are timed by `clock` and publish on `events`.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>, events: HealthEvents) -> Self {
        Self { inner: Arc::new(RegistryInner { clock, events, breakers: Mutex::default() }) }
    }

    /// The breaker for `id` (`name@version`), created closed with `policy` on first use. Later
    /// calls return the same breaker and leave its policy as it was created: one id has one
    /// policy for the life of the process.
    #[must_use]
    pub fn for_extension(&self, id: &str, policy: &BreakerPolicy) -> Arc<CircuitBreaker> {
        let mut breakers = self.lock();
        if let Some(breaker) = breakers.get(id) {
            return Arc::clone(breaker);
        }
        let breaker = Arc::new(CircuitBreaker::new(
            id,
            *policy,
            Arc::clone(&self.inner.clock),
            self.inner.events.clone(),
        ));
        breakers.insert(id.to_owned(), Arc::clone(&breaker));
        breaker
    }

    /// The breaker for `id`, if one was created.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Arc<CircuitBreaker>> {
        self.lock().get(id).cloned()
    }

    /// Every breaker's state, sorted by id.
    #[must_use]
    pub fn states(&self) -> Vec<(String, BreakerState)> {
        // Collect first so no breaker lock is taken while the map is locked.
        let breakers: Vec<Arc<CircuitBreaker>> = self.lock().values().cloned().collect();
        let mut states: Vec<(String, BreakerState)> =
            breakers.iter().map(|breaker| (breaker.extension().to_owned(), breaker.state())).collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        states
    }

    /// The events state changes are published on.
    #[must_use]
    pub fn events(&self) -> &HealthEvents {
        &self.inner.events
    }

    /// One attempt through `invoker`, gated by the breaker for `invoker.id()` (created with
    /// `policy` on first use). A refusal returns [`ConductorError::CircuitOpen`](
    /// symphony_types::error::ConductorError::CircuitOpen) without running the guest.
    pub async fn invoke(
        &self,
        invoker: &dyn Invoke,
        policy: &BreakerPolicy,
        request: CallRequest,
    ) -> InvokeOutcome {
        let breaker = self.for_extension(&invoker.id(), policy);
        breaker.invoke(invoker, request).await
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<CircuitBreaker>>> {
        self.inner.breakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
