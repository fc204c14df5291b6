//! The caller's [`LiveProgress`] reaches every attempt the retrier makes: a fake target reports
//! progress into the request it is handed, fails transiently once, then succeeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::clock::ManualClock;
use crate::invoke::InvokeFuture;
use symphony_types::error::ExtensionError;
use symphony_types::progress_log::LiveProgress;

/// Reports `attempt / 4` as its progress on each attempt; the first attempt is `unavailable`.
#[derive(Debug, Default)]
struct ReportsProgress {
    attempts: AtomicU32,
    /// Attempts that arrived with no live progress view.
    unwatched: AtomicU32,
}

impl Invoke for ReportsProgress {
    fn id(&self) -> String {
        "drip@1.0.0".into()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            match &request.live_progress {
                Some(live) => live.report(request.attempt as f32 / 4.0, "dripping"),
                None => {
                    self.unwatched.fetch_add(1, Ordering::Relaxed);
                }
            }
            let result = if request.attempt == 1 {
                Err(ExtensionError::Unavailable { message: "warming up".into(), retry_after_ms: None }.into())
            } else {
                Ok(Payload::new("application/json", b"{}".to_vec()))
            };
            InvokeOutcome { result, json: None, usage: Usage::default(), log: None }
        })
    }
}

#[tokio::test]
async fn every_attempt_reports_into_the_callers_live_progress() {
    let clock = ManualClock::new();
    let retrier = Retrier::new(RetryPolicy::default().base_backoff_ms(0), Arc::new(clock)).with_seed(7);
    let target = ReportsProgress::default();
    let live = LiveProgress::new();
    let request =
        CallRequest::new(Payload::new("application/json", b"{}".to_vec())).live_progress(live.clone());

    let outcome = retrier.run(&target, request).await;

    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(target.attempts.load(Ordering::Relaxed), 2);
    assert_eq!(target.unwatched.load(Ordering::Relaxed), 0, "no attempt lost the view");
    assert_eq!(live.updates(), 2, "both attempts reported to the caller's view");
    assert_eq!(live.fraction(), Some(0.5), "the second attempt's report is the latest");
}

#[tokio::test]
async fn a_request_without_a_view_reaches_attempts_without_one() {
    let clock = ManualClock::new();
    let retrier = Retrier::new(RetryPolicy::default().base_backoff_ms(0), Arc::new(clock)).with_seed(7);
    let target = ReportsProgress::default();
    let request = CallRequest::new(Payload::new("application/json", b"{}".to_vec()));

    assert!(retrier.run(&target, request).await.result.is_ok());
    assert_eq!(target.unwatched.load(Ordering::Relaxed), 2);
}
