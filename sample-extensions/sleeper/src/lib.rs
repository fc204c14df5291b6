//! `sleeper`: waits for the time it is asked on the WASI monotonic clock, then answers.
//!
//! Input JSON `{"ms": N}` (default `DEFAULT_MS`); output `{"slept_ms": N}`. While it waits the
//! guest runs no code and burns no fuel: the host parks the call on a timer. The benchmarks use
//! it to hold thousands of calls in flight and measure what each idle call costs the host.
//! Waiting needs the `clocks` capability, which the manifest declares and a platform policy
//! must grant.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// Milliseconds waited when the input names no duration.
const DEFAULT_MS: u64 = 100;

/// The sleeper extension.
struct Sleeper;

/// The expected input.
#[derive(Deserialize)]
#[serde(default)]
struct Input {
    ms: u64,
}

impl Default for Input {
    fn default() -> Self {
        Self { ms: DEFAULT_MS }
    }
}

/// What the call did.
#[derive(Serialize)]
struct Output {
    slept_ms: u64,
}

impl Extension for Sleeper {
    fn features() -> Vec<String> {
        vec!["sleeper".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let Input { ms } =
            if request.input.bytes.is_empty() { Input::default() } else { request.input.parse_json()? };
        std::thread::sleep(Duration::from_millis(ms));
        Response::json(&Output { slept_ms: ms })
    }
}

register_extension!(Sleeper);
