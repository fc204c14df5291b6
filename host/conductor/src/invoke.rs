//! The one trait the conductor calls extensions through. The sandbox host implements it for a
//! loaded extension; tests use the scripted fake in [`crate::scripted`].

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::anomaly::Expectations;
use symphony_types::call_log::CallLog;
use symphony_types::capability::denials::CapabilityDenial;
use symphony_types::error::{CallError, ErrorSource};
use symphony_types::payload::{CallRequest, Payload};
use symphony_types::usage::Usage;

/// A boxed future borrowing its invoker.
pub type InvokeFuture<'a> = Pin<Box<dyn Future<Output = InvokeOutcome> + Send + 'a>>;

/// A boxed future of an attempt with what the health monitor observes.
pub type ObservedFuture<'a> = Pin<Box<dyn Future<Output = ObservedOutcome> + Send + 'a>>;

/// One attempt plus what only the sandbox saw: denied capability attempts.
#[derive(Debug)]
pub struct ObservedOutcome {
    /// The attempt.
    pub outcome: InvokeOutcome,
    /// Capability attempts denied during it.
    pub denials: Vec<CapabilityDenial>,
}

/// What one attempt returned.
#[derive(Debug)]
pub struct InvokeOutcome {
    /// The output, or why there is none.
    pub result: Result<Payload, CallError>,
    /// The output already parsed as JSON, when the invoker parsed it (a contract check did):
    /// callers needing the JSON take this instead of parsing the bytes again. `None` says
    /// nothing about whether the output is JSON.
    pub json: Option<serde_json::Value>,
    /// What the attempt consumed (zero when it never ran).
    pub usage: Usage,
    /// The guest's log of the attempt, when the invoker keeps one (the sandbox does; refusals
    /// and fakes have none).
    pub log: Option<CallLog>,
}

impl InvokeOutcome {
    /// An attempt that never ran the guest: nothing consumed, nothing logged.
    #[must_use]
    pub fn refused(error: CallError) -> Self {
        Self { result: Err(error), json: None, usage: Usage::default(), log: None }
    }
}

/// Something the conductor can call: an extension at one version.
pub trait Invoke: Send + Sync {
    /// `name@version`: the key breakers and budgets are kept under.
    fn id(&self) -> String;
    /// Run one attempt.
    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_>;

    /// What the health monitor judges this target against: effective limits, declared profile
    /// and declared capabilities. Default: nothing declared, nothing judged against it.
    fn expectations(&self) -> Expectations {
        Expectations::default()
    }

    /// Run one attempt and report the capability attempts denied during it. Default: `invoke`,
    /// with none.
    fn invoke_observed(&self, request: CallRequest) -> ObservedFuture<'_> {
        Box::pin(async move { ObservedOutcome { outcome: self.invoke(request).await, denials: Vec::new() } })
    }
}

impl<T: Invoke + ?Sized> Invoke for &T {
    fn id(&self) -> String {
        (**self).id()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        (**self).invoke(request)
    }

    fn expectations(&self) -> Expectations {
        (**self).expectations()
    }

    fn invoke_observed(&self, request: CallRequest) -> ObservedFuture<'_> {
        (**self).invoke_observed(request)
    }
}

impl<T: Invoke + ?Sized> Invoke for std::sync::Arc<T> {
    fn id(&self) -> String {
        (**self).id()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        (**self).invoke(request)
    }

    fn expectations(&self) -> Expectations {
        (**self).expectations()
    }

    fn invoke_observed(&self, request: CallRequest) -> ObservedFuture<'_> {
        (**self).invoke_observed(request)
    }
}

/// One attempt as reported to callers (`--json` `attempts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// `name@version` that ran (or was refused).
    pub extension: String,
    /// 1-based attempt number for this extension.
    pub attempt: u32,
    /// `null` on success.
    pub error_kind: Option<&'static str>,
    /// Which layer failed the attempt (`guest` | `host` | `conductor` in JSON), `null` on success.
    pub error_source: Option<ErrorSource>,
    /// How long the conductor waited before this attempt, in milliseconds.
    pub backoff_ms: u64,
}
