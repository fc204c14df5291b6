//! `flaky`: fails with a transient error on its first `fail_times` attempts, then succeeds.
//!
//! Input JSON `{"fail_times": N}` (`N` defaults to 0; an empty input means the defaults). On
//! attempt `a <= N` it returns `Unavailable` with a 10 ms retry hint; afterwards it returns
//! `{"attempt": a, "fail_times": N}`. It keeps no state: the decision rests only on the attempt
//! number the host passes, so it is deterministic across fresh instances.

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::{Extension, ExtensionError, Payload, Request, Response, register_extension};

/// Retry hint returned with each failure, in milliseconds.
const RETRY_AFTER_MS: u64 = 10;

/// The flaky extension.
struct Flaky;

/// The expected input.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Input {
    fail_times: u32,
}

/// The output on success.
#[derive(Serialize)]
struct Output {
    attempt: u32,
    fail_times: u32,
}

fn parse_input(input: &Payload) -> Result<Input, ExtensionError> {
    if input.bytes.is_empty() { Ok(Input::default()) } else { input.parse_json() }
}

impl Extension for Flaky {
    fn features() -> Vec<String> {
        vec!["flaky".into(), "fails-transiently".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let Input { fail_times } = parse_input(&request.input)?;
        let attempt = request.context.attempt;
        if attempt <= fail_times {
            return Err(ExtensionError::unavailable(
                format!("failing on purpose: attempt {attempt} of {fail_times} planned failures"),
                Some(RETRY_AFTER_MS),
            ));
        }
        Response::json(&Output { attempt, fail_times })
    }
}

register_extension!(Flaky);
