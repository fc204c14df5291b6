//! Time the guest actually ran during one call: the wall time spent inside `poll` of the
//! future that drives it.
//!
//! A guest runs only while its future is being polled (wasmtime executes it on a fiber
//! resumed from `poll`), so summing the time spent in `poll` counts the guest's own execution
//! and the synchronous host work it asked for, and leaves out what the guest does not control:
//! time queued for an executor thread, and time parked on async host calls (timers, sockets,
//! HTTP) while the host does the waiting. Two clock reads per poll; a call that never awaits
//! is polled once or, when it yields every epoch tick or fuel slice, once per slice.
//!
//! What this cannot see is the operating system descheduling the thread mid-poll: under CPU
//! contention every extension's figure rises together, which the health monitor tells apart
//! from one extension slowing down.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Wraps a future and accumulates the wall time spent polling it.
pub(crate) struct GuestTimed<F> {
    inner: Pin<Box<F>>,
    ran: Duration,
}

impl<F: Future> GuestTimed<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner: Box::pin(inner), ran: Duration::ZERO }
    }

    /// Time spent inside `poll` so far.
    pub(crate) fn ran(&self) -> Duration {
        self.ran
    }
}

impl<F: Future> Future for GuestTimed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let polled = self.inner.as_mut().poll(cx);
        let spent = started.elapsed();
        self.ran += spent;
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_is_not_running() {
        let mut timed = GuestTimed::new(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            7
        });
        let wall = Instant::now();
        let out = (&mut timed).await;
        assert_eq!(out, 7);
        // The sleep is waiting, not running: almost none of it is counted.
        assert!(timed.ran() < wall.elapsed() / 2, "ran {:?} of {:?}", timed.ran(), wall.elapsed());
    }

    #[tokio::test]
    async fn busy_polls_are_counted() {
        let mut timed = GuestTimed::new(async {
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_millis(20) {
                std::hint::spin_loop();
            }
        });
        (&mut timed).await;
        assert!(timed.ran() >= Duration::from_millis(20));
    }
}
