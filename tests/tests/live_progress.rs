//! A caller's [`LiveProgress`] view of a real guest's `progress()` calls, directly and through
//! the conductor. `slow-drip` reports `1 - 1/(n+1)` after its n-th drip and checks
//! `cancelled()` after each, so the latest fraction it reported follows from how many it sent.
//! Time is a [`ManualClock`] for the conductor; the guest's own deadline is its sandbox's.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::sync::Arc;

use serde_json::json;
use symphony_host::conductor::{BreakerPolicy, Conductor, ManualClock, RetryPolicy};
use symphony_host::types::progress_log::LiveProgress;
use symphony_host::{CallError, CallRequest, CancelToken, HostError};
use symphony_tests::load;

/// The fraction slow-drip reports after its `drips`-th drip, computed as the guest does.
fn drip_fraction(drips: u64) -> f32 {
    1.0 - 1.0 / (drips as f32 + 1.0)
}

fn watched(live: &LiveProgress) -> CallRequest {
    CallRequest::json(&json!({})).expect("input").live_progress(live.clone())
}

#[tokio::test]
async fn a_drip_cancelled_up_front_shows_its_one_update_live() {
    let drip = load("slow-drip");
    let live = LiveProgress::new();
    let token = CancelToken::new();
    token.cancel();
    let outcome = drip.call(watched(&live).cancel_token(token)).await;
    let output = outcome.result.expect("a cooperative guest returns").to_json().expect("json");
    assert_eq!(output["cancelled"], true);
    assert_eq!(output["drips"], 1);

    assert_eq!(live.updates(), 1);
    assert_eq!(live.fraction(), Some(drip_fraction(1)));
    let kept = outcome.progress.updates.last().expect("the update is in the call's progress log");
    assert_eq!(live.message(), kept.message, "the live view carries the guest's message");
}

#[tokio::test]
async fn a_drip_stopped_at_its_deadline_mirrored_every_update_live() {
    let drip = load("slow-drip");
    let live = LiveProgress::new();
    assert_eq!((live.updates(), live.fraction()), (0, None), "nothing before the call");
    let outcome = drip.call(watched(&live)).await;
    let err = outcome.result.expect_err("a drip never finishes");
    assert!(
        matches!(err, CallError::Host(HostError::DeadlineExceeded { .. } | HostError::OutOfFuel { .. })),
        "{err:?}"
    );

    let updates = live.updates();
    assert!(updates > 0, "the guest reported progress");
    // The progress log keeps what its budget allows and counts the rest; the live view saw all.
    let progress = &outcome.progress;
    assert_eq!(updates, progress.updates.len() as u64 + progress.dropped_updates);
    assert_eq!(live.fraction(), progress.latest);
    assert_eq!(live.fraction(), Some(drip_fraction(updates)), "the latest is the n-th drip's");
}

#[tokio::test]
async fn the_conductor_passes_the_live_view_to_the_attempt() {
    let drip = load("slow-drip");
    let clock = Arc::new(ManualClock::new());
    let conductor = Conductor::new(clock, RetryPolicy::default(), BreakerPolicy::default());
    let live = LiveProgress::new();
    let outcome = conductor.call(&drip, watched(&live)).await;
    assert!(
        matches!(
            outcome.result,
            Err(CallError::Host(HostError::DeadlineExceeded { .. } | HostError::OutOfFuel { .. }))
        ),
        "{:?}",
        outcome.result
    );
    assert_eq!(outcome.attempts.len(), 1, "a deadline is not retried");

    let updates = live.updates();
    assert!(updates > 0, "the guest's progress reached the caller through the conductor");
    assert_eq!(live.fraction(), Some(drip_fraction(updates)));
}
