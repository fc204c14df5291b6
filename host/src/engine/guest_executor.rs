//! The executor guests run on: a tokio runtime of its own, apart from the one the embedder's
//! timers, I/O, audit writer and HTTP server use.
//!
//! A guest holds its thread for as long as it computes, up to the next fuel slice or epoch
//! tick. On a shared runtime a few spinning guests therefore starve every timer and socket of
//! the platform; here they only compete with each other, and the caller's runtime just awaits
//! a join handle. The async host calls guests make (WASI clocks, sockets, outbound HTTP) run on
//! this runtime too, since that is where the guest's future is polled.
//!
//! Dropping a `GuestTask` aborts the guest's task, so a caller that gives up (a request
//! deadline, a cancelled HTTP request) stops the guest at its next yield instead of leaving it
//! running to its own deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::{Handle, Runtime};
use tokio::task::{JoinError, JoinHandle};

/// Guest threads when the config says nothing: one per core, at least two, at most eight.
#[must_use]
pub fn default_guest_threads() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get).clamp(2, 8)
}

/// A dedicated multi-threaded tokio runtime for guest calls.
pub(crate) struct GuestExecutor {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl std::fmt::Debug for GuestExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestExecutor").field("workers", &self.workers()).finish()
    }
}

impl GuestExecutor {
    /// Start `threads` worker threads named `symphony-guest`.
    ///
    /// # Errors
    /// When the operating system refuses the threads.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("symphony-guest")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Self { runtime: Some(runtime), handle })
    }

    /// Worker threads the runtime actually runs.
    pub(crate) fn workers(&self) -> usize {
        self.handle.metrics().num_workers()
    }

    /// Run `future` on a guest thread.
    pub(crate) fn spawn<F>(&self, future: F) -> GuestTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        GuestTask(self.handle.spawn(future))
    }

    /// Run `future` on a guest thread and block the calling thread until it ends; `None` when
    /// the task ended without an answer (it panicked, or the executor is shutting down). For
    /// synchronous callers (loading an extension); never call it from a guest thread.
    pub(crate) fn run_blocking<F>(&self, future: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let _task = self.handle.spawn(async move {
            // The receiver is gone only if the caller is; nothing to report to then.
            let _ = tx.send(future.await);
        });
        rx.recv().ok()
    }
}

impl Drop for GuestExecutor {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks stop, which panics inside another async
        // context; guests still running are abandoned at their next yield instead.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A guest call running on the guest executor. Awaiting it yields the call's output; dropping
/// it aborts the call.
pub(crate) struct GuestTask<T>(JoinHandle<T>);

impl<T> Future for GuestTask<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for GuestTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_configured_number_of_workers() {
        let executor = GuestExecutor::new(3).unwrap();
        assert_eq!(executor.workers(), 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_on_guest_threads_and_is_aborted_when_dropped() {
        let executor = GuestExecutor::new(1).unwrap();
        let name = executor.spawn(async { std::thread::current().name().map(str::to_owned) }).await.unwrap();
        assert_eq!(name.as_deref(), Some("symphony-guest"));

        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = executor.spawn(async move {
            std::future::pending::<()>().await;
            drop(tx);
        });
        drop(task);
        // Aborting drops the task's future, and with it the sender.
        assert!(rx.await.is_err());
    }

    #[test]
    fn blocks_a_synchronous_caller_until_done() {
        let executor = GuestExecutor::new(1).unwrap();
        assert_eq!(executor.run_blocking(async { 6 * 7 }), Some(42));
    }
}
