//! `hello` built into a component and called under the real Symphony host: the limits in
//! `extension.toml`, the host's checks and the typed errors, exactly as `symphony run` sees them.
//! The first run builds the component (tens of seconds); later runs reuse the build.

use serde_json::json;
use symphony_guest_sdk::ExtensionError;
use symphony_guest_sdk::harness::{CallError, TestHost};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn greets_under_the_real_host() -> TestResult {
    let host = TestHost::build(env!("CARGO_MANIFEST_DIR"))?;

    let outcome = host.call_json(&json!({"name": "Ada"}));
    assert_eq!(outcome.result?.to_json()?, json!({"greeting": "Hello, Ada!"}));
    assert!(outcome.usage.fuel > 0, "every call is metered");
    Ok(())
}

#[test]
fn bad_input_is_the_guests_invalid_input() -> TestResult {
    let host = TestHost::build(env!("CARGO_MANIFEST_DIR"))?;

    // The error `invoke` returned, in the SDK's own type.
    let outcome = host.call_json(&json!({"name": ""}));
    assert!(
        matches!(outcome.result, Err(CallError::Guest(ExtensionError::InvalidInput(_)))),
        "{:?}",
        outcome.result
    );

    // Input that does not decode is refused the same way, by `parse_json`.
    let outcome = host.call_json(&json!({"nom": "Ada"}));
    assert!(
        matches!(outcome.result, Err(CallError::Guest(ExtensionError::InvalidInput(_)))),
        "{:?}",
        outcome.result
    );
    Ok(())
}
