//! [`Contracted`]: the layer that checks a step's output before it is handed on — against the
//! serving extension's own output schema, then against the input schema of every step it
//! feeds. It wraps the target the conductor calls, so a violation is that attempt's failure: the
//! breaker and the health monitor count it against the producer, and the step's fallback chain
//! is walked as for any other recoverable error. The consumer never runs on bad data.

use std::sync::Arc;

use serde_json::Value;

use symphony_conductor::anomaly::Expectations;
use symphony_conductor::invoke::{InvokeFuture, ObservedFuture};
use symphony_conductor::{Invoke, InvokeOutcome, ObservedOutcome};
use symphony_types::error::{CallError, ConductorError};
use symphony_types::payload::{CallRequest, Payload};

use crate::contract::{Schema, Violation};

/// What one consumer requires of the part of a producer's output it reads.
#[derive(Debug, Clone)]
pub struct ConsumerCheck {
    /// The consuming step's id.
    pub to: String,
    /// JSON pointer into the producer's output that the consumer's mapping reads.
    pub pointer: String,
    /// The consumer's input schema for that part.
    pub schema: Schema,
}

/// A target whose successful outputs must satisfy `own` and every consumer check.
pub struct Contracted {
    inner: Arc<dyn Invoke>,
    step: Arc<str>,
    own: Option<Schema>,
    consumers: Arc<[ConsumerCheck]>,
}

impl Contracted {
    /// Wrap `inner` serving step `step`, whose own output schema is `own`.
    #[must_use]
    pub fn new(
        inner: Arc<dyn Invoke>,
        step: Arc<str>,
        own: Option<Schema>,
        consumers: Arc<[ConsumerCheck]>,
    ) -> Self {
        Self { inner, step, own, consumers }
    }

    /// Check a successful output; hand its parsed JSON on with the outcome, so the runner
    /// does not parse it again.
    fn judge(&self, outcome: &mut InvokeOutcome) {
        if let Ok(payload) = &outcome.result {
            match check_output(&self.step, &self.inner.id(), self.own.as_ref(), &self.consumers, payload) {
                Ok(parsed) => outcome.json = parsed,
                Err(error) => outcome.result = Err(CallError::Conductor(error)),
            }
        }
    }
}

/// Check `payload`, produced for step `step` by `served_by`, against its own output schema and
/// its consumers'; the parsed output when there was anything to check (`None`: not parsed).
///
/// # Errors
/// [`ConductorError::ContractViolation`] for the first contract broken.
pub fn check_output(
    step: &str,
    served_by: &str,
    own: Option<&Schema>,
    consumers: &[ConsumerCheck],
    payload: &Payload,
) -> Result<Option<Value>, ConductorError> {
    if own.is_none() && consumers.is_empty() {
        return Ok(None);
    }
    let violation = |to: &str, pointer: String, reason: String| ConductorError::ContractViolation {
        from: step.to_owned(),
        to: to.to_owned(),
        pointer,
        reason,
    };
    let value: Value = serde_json::from_slice(&payload.bytes).map_err(|e| {
        violation(step, String::new(), format!("{served_by} returned output that is not JSON: {e}"))
    })?;
    if let Some(own) = own {
        own.check(&value).map_err(|Violation { pointer, reason }| {
            violation(step, pointer, format!("{served_by} broke its own output schema: {reason}"))
        })?;
    }
    for check in consumers {
        let Some(part) = value.pointer(&check.pointer) else {
            return Err(violation(
                &check.to,
                check.pointer.clone(),
                format!("{served_by}'s output has no `{}`, which `{}` reads", check.pointer, check.to),
            ));
        };
        check.schema.check(part).map_err(|Violation { pointer, reason }| {
            violation(&check.to, format!("{}{pointer}", check.pointer), reason)
        })?;
    }
    Ok(Some(value))
}

impl Invoke for Contracted {
    fn id(&self) -> String {
        self.inner.id()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        Box::pin(async move {
            let mut outcome = self.inner.invoke(request).await;
            self.judge(&mut outcome);
            outcome
        })
    }

    fn expectations(&self) -> Expectations {
        self.inner.expectations()
    }

    fn invoke_observed(&self, request: CallRequest) -> ObservedFuture<'_> {
        Box::pin(async move {
            let ObservedOutcome { mut outcome, denials } = self.inner.invoke_observed(request).await;
            self.judge(&mut outcome);
            ObservedOutcome { outcome, denials }
        })
    }
}
