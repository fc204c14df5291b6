//! Time as the conductor sees it: a [`Clock`] that tells the time and sleeps. Production uses
//! [`SystemClock`] (tokio time); tests use [`ManualClock`], advanced by hand, so backoff, open
//! periods and sliding windows are tested deterministically without waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// A future returned by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Monotonic time and sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since this clock's origin.
    fn now(&self) -> Duration;
    /// Complete once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// Real time: tokio's monotonic clock.
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self { origin: tokio::time::Instant::now() }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told. `sleep` completes when [`advance`](Self::advance) moves
/// the time past the sleeper's deadline; [`sleepers`](Self::sleepers) lets a test wait until
/// the code under test is actually waiting.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug, Default)]
struct ManualInner {
    now: Mutex<Duration>,
    sleepers: Mutex<usize>,
    changed: Notify,
}

impl ManualClock {
    /// A clock at time zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Move time forward, waking sleepers whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        *self.inner.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
        self.inner.changed.notify_waiters();
    }

    /// How many `sleep` futures are currently waiting.
    #[must_use]
    pub fn sleepers(&self) -> usize {
        *self.inner.sleepers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.inner.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let inner = Arc::clone(&self.inner);
        let deadline = self.now() + duration;
        Box::pin(async move {
            /// Counts this sleeper while it waits, also when the future is dropped early.
            struct Waiting(Arc<ManualInner>);
            impl Drop for Waiting {
                fn drop(&mut self) {
                    *self.0.sleepers.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
                }
            }
            *inner.sleepers.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            let _waiting = Waiting(Arc::clone(&inner));
            loop {
                // Register for the wake-up before checking, so an advance in between is not lost.
                let changed = inner.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if *inner.now.lock().unwrap_or_else(PoisonError::into_inner) >= deadline {
                    break;
                }
                changed.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_completes_only_when_advanced_past_its_deadline() {
        let clock = ManualClock::new();
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_millis(100)).await }
        });
        while clock.sleepers() == 0 {
            tokio::task::yield_now().await;
        }
        clock.advance(Duration::from_millis(99));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_millis(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), Duration::from_millis(100));
        assert_eq!(clock.sleepers(), 0);
    }
}
