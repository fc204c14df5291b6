//! `slow-drip` (hostile): drips tiny log lines and progress reports forever, with a little busy
//! work between them, so it is never idle and never done.
//!
//! It models a guest that looks alive (it keeps reporting progress) but never finishes. It
//! checks `host::cancelled()` after every drip and stops if the host sets it; otherwise it runs
//! on. The manifest asks for a 300 ms deadline and far more fuel than the platform ceiling
//! allows (the ceiling clamps it), so the host is expected to stop it at the deadline (epoch
//! interruption), or at the clamped fuel limit, whichever comes first, with its log capped at
//! `log_bytes` and the excess counted. If it ever does see cancellation it returns
//! `{"drips": N, "cancelled": true}`.

use core::hint::black_box;

use serde::Serialize;
use symphony_guest_sdk::host::{self, log};
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// Busy-work iterations between two drips.
const WORK_PER_DRIP: u64 = 10_000;

/// The slow-drip extension.
struct SlowDrip;

/// A few thousand cheap, opaque operations, so each drip costs fuel and time.
fn busy_work(seed: u64) -> u64 {
    let mut state = seed;
    for _ in 0..WORK_PER_DRIP {
        state = black_box(state.rotate_left(5) ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(3);
    }
    state
}

impl Extension for SlowDrip {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "drips-until-deadline".into()]
    }

    fn invoke(_request: Request) -> Result<Response, ExtensionError> {
        let mut drips: u64 = 0;
        let mut state: u64 = 1;
        loop {
            state = busy_work(state);
            drips += 1;
            log::debug("drip", &[("n", &drips)]);
            // Creeps towards 1.0 without reaching it: always "almost done".
            let fraction = 1.0 - 1.0 / (drips as f32 + 1.0);
            host::progress(fraction, "almost done");
            if host::cancelled() {
                black_box(state);
                return Response::json(&DripReport { drips, cancelled: true });
            }
        }
    }
}

/// The report returned on cancellation.
#[derive(Serialize)]
struct DripReport {
    drips: u64,
    cancelled: bool,
}

register_extension!(SlowDrip);
