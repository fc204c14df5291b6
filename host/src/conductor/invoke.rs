//! The one trait the conductor calls extensions through, and its implementation for a sandboxed
//! [`LoadedExtension`]. Tests implement it with scripted fakes.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::error::CallError;
use crate::payload::{CallRequest, Payload};
use crate::sandbox::{LoadedExtension, Usage};

/// A boxed future borrowing its invoker.
pub type InvokeFuture<'a> = Pin<Box<dyn Future<Output = InvokeOutcome> + Send + 'a>>;

/// What one attempt returned.
#[derive(Debug)]
pub struct InvokeOutcome {
    /// The output, or why there is none.
    pub result: Result<Payload, CallError>,
    /// What the attempt consumed (zero when it never ran).
    pub usage: Usage,
}

/// Something the conductor can call: an extension at one version.
pub trait Invoke: Send + Sync {
    /// `name@version`: the key breakers and budgets are kept under.
    fn id(&self) -> String;
    /// Run one attempt.
    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_>;
}

impl<T: Invoke + ?Sized> Invoke for &T {
    fn id(&self) -> String {
        (**self).id()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        (**self).invoke(request)
    }
}

impl<T: Invoke + ?Sized> Invoke for std::sync::Arc<T> {
    fn id(&self) -> String {
        (**self).id()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        (**self).invoke(request)
    }
}

impl Invoke for LoadedExtension {
    fn id(&self) -> String {
        self.manifest().id()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        Box::pin(async move {
            let outcome = self.call(request).await;
            InvokeOutcome { result: outcome.result, usage: outcome.usage }
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
