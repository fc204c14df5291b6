//! The one trait the conductor calls extensions through, and its implementation for a sandboxed
//! [`LoadedExtension`]. Tests implement it with scripted fakes.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::call_log::CallLog;
use crate::capability::denials::{CapabilityDenial, CapabilityKind};
use crate::conductor::anomaly::Expectations;
use crate::error::CallError;
use crate::payload::{CallRequest, Payload};
use crate::sandbox::{LoadedExtension, Usage};

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
        Self { result: Err(error), usage: Usage::default(), log: None }
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

impl Invoke for LoadedExtension {
    fn id(&self) -> String {
        LoadedExtension::id(self).to_owned()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        Box::pin(async move {
            let outcome = self.call(request).await;
            InvokeOutcome { result: outcome.result, usage: outcome.usage, log: Some(outcome.log) }
        })
    }

    fn expectations(&self) -> Expectations {
        let declared = &self.manifest().capabilities;
        let capabilities = [
            (CapabilityKind::Filesystem, !declared.filesystem.is_empty()),
            (CapabilityKind::Env, !declared.env.is_empty()),
            (CapabilityKind::Clocks, declared.clocks),
            (CapabilityKind::Random, declared.random),
            (CapabilityKind::Stdio, declared.stdio),
            (CapabilityKind::Network, !declared.network.is_empty()),
            (CapabilityKind::NameLookup, !declared.network.is_empty()),
        ];
        Expectations {
            fuel_limit: Some(self.limits().limits.fuel),
            memory_limit: Some(self.limits().limits.memory_bytes),
            expected: self.manifest().expected,
            declared_capabilities: Some(
                capabilities.into_iter().filter_map(|(kind, asked)| asked.then_some(kind)).collect(),
            ),
        }
    }

    fn invoke_observed(&self, request: CallRequest) -> ObservedFuture<'_> {
        Box::pin(async move {
            let outcome = self.call(request).await;
            ObservedOutcome {
                outcome: InvokeOutcome {
                    result: outcome.result,
                    usage: outcome.usage,
                    log: Some(outcome.log),
                },
                denials: outcome.denials,
            }
        })
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
    /// `guest` | `host` | `conductor`, `null` on success.
    pub error_source: Option<String>,
    /// How long the conductor waited before this attempt, in milliseconds.
    pub backoff_ms: u64,
}
