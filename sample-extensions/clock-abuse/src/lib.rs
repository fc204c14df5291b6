//! `clock-abuse` (hostile): reads the wall clock, the monotonic clock and the randomness that
//! seeds `HashMap`, although it declares no `clocks` or `random` capability.
//!
//! It models a guest fingerprinting its host or building a timing side channel. With the
//! capabilities denied, the host is expected to hand it a frozen clock (both clocks read 0, so
//! `unix_ms` and `elapsed_ns` are 0) and fixed, non-secret random seeds, so `hash_a`/`hash_b` are
//! the same from one call to the next (each call is a fresh instance). `clock-user` is the same
//! guest with the capabilities granted.
//!
//! How std reaches WASI on `wasm32-wasip2`: `SystemTime::now` reads `wasi:clocks/wall-clock`,
//! `Instant::now` reads `wasi:clocks/monotonic-clock`, and `RandomState::new` seeds its keys
//! once per thread from `wasi:random/insecure-seed` (not `wasi:random/random`: denying random must
//! fix both). Later `RandomState`s in the same instance add 1 to the first key, so
//! `hash_a != hash_b` within one call even when the seed is fixed; compare across calls.
//!
//! Output `{"unix_ms": N, "elapsed_ns": N, "hash_a": N, "hash_b": N}`; `unix_ms` is 0 if the
//! clock reads before 1970.

use core::hint::black_box;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// Iterations of busy work timed with the monotonic clock.
const BUSY_ITERATIONS: u64 = 100_000;
/// The key hashed with each `RandomState`.
const PROBE_KEY: &str = "symphony";

/// The extension.
struct ClockProbe;

/// What the guest observed.
#[derive(Serialize)]
struct Report {
    /// Wall-clock time, in milliseconds since the Unix epoch.
    unix_ms: u64,
    /// Monotonic time across the busy work, in nanoseconds.
    elapsed_ns: u64,
    /// [`PROBE_KEY`] hashed with the first `RandomState`.
    hash_a: u64,
    /// [`PROBE_KEY`] hashed with a second `RandomState`.
    hash_b: u64,
}

fn busy_work() -> u64 {
    let mut state: u64 = 1;
    for i in 0..BUSY_ITERATIONS {
        state = black_box(state.rotate_left(7) ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    state
}

impl Extension for ClockProbe {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "clock-abuse".into(), "reads-clocks".into(), "reads-random".into()]
    }

    fn invoke(_request: Request) -> Result<Response, ExtensionError> {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
        let started = Instant::now();
        black_box(busy_work());
        let elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let hash_a = RandomState::new().hash_one(PROBE_KEY);
        let hash_b = RandomState::new().hash_one(PROBE_KEY);
        Response::json(&Report { unix_ms, elapsed_ns, hash_a, hash_b })
    }
}

register_extension!(ClockProbe);
