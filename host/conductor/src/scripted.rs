//! The one scripted fake of [`Invoke`], modelled on tower-test's `mock`: an extension that
//! answers from a script, so the conductor's layers (retry, breaker, reservation, anomaly
//! detection, fallback) are tested without a sandbox, a guest or wasmtime.
//!
//! A [`ScriptedInvoke`] is built once and then only called: it answers its queued
//! [`ScriptedReply`]s in order, then its "otherwise" reply for every further call. It can take
//! time on a [`ManualClock`], wait on a gate the test opens, run a hook at the start of each
//! call, and keeps a [`SeenCall`] record of every call for the test to assert on. What the
//! layers do with its answers is left to the tests; nothing here asserts.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::anomaly::Expectations;
use crate::clock::{Clock, ManualClock};
use crate::invoke::{Invoke, InvokeFuture, InvokeOutcome, ObservedFuture, ObservedOutcome};
use symphony_types::capability::denials::CapabilityDenial;
use symphony_types::error::{CallError, ExtensionError};
use symphony_types::payload::{CallRequest, Payload};
use symphony_types::usage::Usage;

/// What a fake answers past its script when no otherwise reply was given (tests assert on the
/// error's variant, never on this text).
const UNSCRIPTED_MESSAGE: &str = "no reply scripted for this call";

/// What one scripted call answers: its result, optionally its own usage report and the
/// capability attempts denied during it.
#[derive(Debug)]
pub struct ScriptedReply {
    result: Result<Payload, CallError>,
    usage: Option<Usage>,
    denials: Vec<CapabilityDenial>,
}

impl ScriptedReply {
    /// A reply of `result`, reporting the fake's usage for its call and no denials.
    #[must_use]
    pub fn new(result: Result<Payload, CallError>) -> Self {
        Self { result, usage: None, denials: Vec::new() }
    }

    /// Report `usage` for this call instead of the fake's
    /// [`usage_by_call`](ScriptedInvoke::usage_by_call).
    #[must_use]
    pub fn with_usage(self, usage: Usage) -> Self {
        Self { usage: Some(usage), ..self }
    }

    /// Report `denials` from this call (seen through [`Invoke::invoke_observed`]).
    #[must_use]
    pub fn with_denials(self, denials: Vec<CapabilityDenial>) -> Self {
        Self { denials, ..self }
    }
}

impl From<Result<Payload, CallError>> for ScriptedReply {
    fn from(result: Result<Payload, CallError>) -> Self {
        Self::new(result)
    }
}

/// One call as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenCall {
    /// 0-based number of this call among every call the fake has seen.
    pub number: u64,
    /// The request's 1-based attempt number.
    pub attempt: u32,
    /// The request's id (the same across retries of one logical request).
    pub request_id: String,
    /// The admission class the request gave in place of the manifest's, if any.
    pub priority: Option<symphony_types::manifest::Priority>,
    /// The fake's clock when the call started; zero without a clock.
    pub at: Duration,
}

type ReplyFn = Box<dyn Fn(u64) -> ScriptedReply + Send + Sync>;
type UsageFn = Box<dyn Fn(u64) -> Usage + Send + Sync>;
type CallHook = Box<dyn Fn(&SeenCall) + Send + Sync>;

/// An extension answering from a script.
///
/// Each call, in order: is recorded as a [`SeenCall`] and takes the next queued reply (or the
/// otherwise reply for its call number); runs the [`on_call`](Self::on_call) hook; waits for a
/// permit of its [`gate`](Self::gate); sleeps its [`work`](Self::work) on the clock; advances the
/// clock by its [`latency`](Self::latency); then answers. Built with
/// `ScriptedInvoke::new("name@1.0.0").reply(..).otherwise(..)` and the other builder methods.
pub struct ScriptedInvoke {
    id: String,
    replies: Mutex<VecDeque<ScriptedReply>>,
    otherwise: ReplyFn,
    usage: UsageFn,
    expectations: Expectations,
    clock: Option<ManualClock>,
    work: Duration,
    latency: Duration,
    gate: Option<Arc<Semaphore>>,
    on_call: Option<CallHook>,
    seen: Mutex<Vec<SeenCall>>,
}

impl ScriptedInvoke {
    /// A fake known as `id` (`name@version`) with nothing queued: every call answers an
    /// [`ExtensionError::Internal`] error (fatal, so never retried) until told otherwise. It
    /// reports zero usage, declares nothing, takes no time and has no gate.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            replies: Mutex::default(),
            otherwise: Box::new(|_| {
                ScriptedReply::new(
                    Err(ExtensionError::Internal { message: UNSCRIPTED_MESSAGE.into() }.into()),
                )
            }),
            usage: Box::new(|_| Usage::default()),
            expectations: Expectations::default(),
            clock: None,
            work: Duration::ZERO,
            latency: Duration::ZERO,
            gate: None,
            on_call: None,
            seen: Mutex::default(),
        }
    }

    /// Queue `reply` after the replies already queued.
    #[must_use]
    pub fn reply(mut self, reply: impl Into<ScriptedReply>) -> Self {
        queue_of(&mut self.replies).push_back(reply.into());
        self
    }

    /// Queue every reply of `replies`, in order, after those already queued.
    #[must_use]
    pub fn replies<R: Into<ScriptedReply>>(mut self, replies: impl IntoIterator<Item = R>) -> Self {
        queue_of(&mut self.replies).extend(replies.into_iter().map(Into::into));
        self
    }

    /// Once the queue is empty, answer every call with a fresh `reply()`.
    #[must_use]
    pub fn otherwise<R: Into<ScriptedReply>>(self, reply: impl Fn() -> R + Send + Sync + 'static) -> Self {
        self.otherwise_by_call(move |_| reply())
    }

    /// Once the queue is empty, answer call `n` (0-based, counting every call the fake has
    /// seen, queued ones included) with `reply(n)`.
    #[must_use]
    pub fn otherwise_by_call<R: Into<ScriptedReply>>(
        self,
        reply: impl Fn(u64) -> R + Send + Sync + 'static,
    ) -> Self {
        Self { otherwise: Box::new(move |n| reply(n).into()), ..self }
    }

    /// Report `usage` for every call whose reply carries none.
    #[must_use]
    pub fn usage(self, usage: Usage) -> Self {
        self.usage_by_call(move |_| usage)
    }

    /// Report `usage(n)` for call `n` (0-based) when its reply carries no usage of its own.
    #[must_use]
    pub fn usage_by_call(self, usage: impl Fn(u64) -> Usage + Send + Sync + 'static) -> Self {
        Self { usage: Box::new(usage), ..self }
    }

    /// What [`Invoke::expectations`] returns: the limits, profile and capabilities the health
    /// monitor judges this fake against.
    #[must_use]
    pub fn with_expectations(self, expectations: Expectations) -> Self {
        Self { expectations, ..self }
    }

    /// Record each call's start time ([`SeenCall::at`]) on `clock`.
    #[must_use]
    pub fn clock(self, clock: &ManualClock) -> Self {
        Self { clock: Some(clock.clone()), ..self }
    }

    /// Take `duration` of simulated work per call by sleeping on `clock` (the call finishes only
    /// once the test advances the clock past it); also records start times on `clock`.
    #[must_use]
    pub fn work(self, clock: &ManualClock, duration: Duration) -> Self {
        Self { work: duration, ..self.clock(clock) }
    }

    /// Take `duration` per call by advancing `clock` itself once the call has run (a call
    /// that is slow without anyone driving the clock); also records start times on `clock`.
    #[must_use]
    pub fn latency(self, clock: &ManualClock, duration: Duration) -> Self {
        Self { latency: duration, ..self.clock(clock) }
    }

    /// Hold each call until it gets a permit of `gate` (a permit per call, never returned); a
    /// closed gate lets every call through.
    #[must_use]
    pub fn gate(self, gate: Arc<Semaphore>) -> Self {
        Self { gate: Some(gate), ..self }
    }

    /// Run `hook` at the start of each call, once it is recorded (e.g. to note what a pool
    /// holds while the call runs).
    #[must_use]
    pub fn on_call(self, hook: impl Fn(&SeenCall) + Send + Sync + 'static) -> Self {
        Self { on_call: Some(Box::new(hook)), ..self }
    }

    /// How many calls have started.
    #[must_use]
    pub fn calls(&self) -> u64 {
        u64::try_from(lock(&self.seen).len()).unwrap_or(u64::MAX)
    }

    /// Every call that has started, oldest first.
    #[must_use]
    pub fn seen(&self) -> Vec<SeenCall> {
        lock(&self.seen).clone()
    }

    /// One call, start to answer.
    async fn run(&self, request: CallRequest) -> ObservedOutcome {
        let seen = {
            let mut seen = lock(&self.seen);
            let call = SeenCall {
                number: u64::try_from(seen.len()).unwrap_or(u64::MAX),
                attempt: request.attempt,
                priority: request.priority,
                request_id: request.request_id,
                at: self.clock.as_ref().map_or(Duration::ZERO, Clock::now),
            };
            seen.push(call.clone());
            call
        };
        // Taken at the start, so concurrent calls get the replies in the order they started.
        let queued = lock(&self.replies).pop_front();
        let reply = queued.unwrap_or_else(|| (self.otherwise)(seen.number));
        if let Some(hook) = &self.on_call {
            hook(&seen);
        }
        if let Some(gate) = &self.gate
            && let Ok(permit) = gate.acquire().await
        {
            permit.forget();
        }
        if let Some(clock) = &self.clock {
            if !self.work.is_zero() {
                clock.sleep(self.work).await;
            }
            if !self.latency.is_zero() {
                clock.advance(self.latency);
            }
        }
        let usage = reply.usage.unwrap_or_else(|| (self.usage)(seen.number));
        ObservedOutcome {
            outcome: InvokeOutcome { result: reply.result, json: None, usage, log: None },
            denials: reply.denials,
        }
    }
}

impl fmt::Debug for ScriptedInvoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedInvoke")
            .field("id", &self.id)
            .field("queued", &lock(&self.replies).len())
            .field("calls", &self.calls())
            .field("expectations", &self.expectations)
            .field("work", &self.work)
            .field("latency", &self.latency)
            .field("gated", &self.gate.is_some())
            .finish_non_exhaustive()
    }
}

impl Invoke for ScriptedInvoke {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        Box::pin(async move { self.run(request).await.outcome })
    }

    fn expectations(&self) -> Expectations {
        self.expectations
    }

    fn invoke_observed(&self, request: CallRequest) -> ObservedFuture<'_> {
        Box::pin(self.run(request))
    }
}

/// A test that panicked mid-call leaves the script usable for the next assertion.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn queue_of(replies: &mut Mutex<VecDeque<ScriptedReply>>) -> &mut VecDeque<ScriptedReply> {
    replies.get_mut().unwrap_or_else(PoisonError::into_inner)
}
