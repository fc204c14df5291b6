//! The harness hands a guest's error back in the SDK's own type: built from
//! `sample-extensions/hello` (what `symphony new hello` writes), an empty name comes back as
//! `CallError::Guest(ExtensionError::InvalidInput(_))`, the very value `invoke` returned.

#![cfg(all(feature = "harness", not(target_arch = "wasm32")))]
#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::Path;

use symphony_guest_sdk::ExtensionError;
use symphony_guest_sdk::harness::{CallError, ErrorClass, HealthStatus, TestHost};

#[test]
fn a_guest_error_is_the_sdk_error_the_guest_returned() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-extensions/hello");
    let host = TestHost::build(crate_dir).expect("hello builds and loads");

    let outcome = host.call_json(&serde_json::json!({"name": "Ada"}));
    let output = outcome.result.expect("a name is greeted").to_json().expect("JSON output");
    assert_eq!(output, serde_json::json!({"greeting": "Hello, Ada!"}));

    let outcome = host.call_json(&serde_json::json!({"name": " "}));
    let error = outcome.result.expect_err("an empty name is refused");
    assert!(
        matches!(&error, CallError::Guest(ExtensionError::InvalidInput(message)) if !message.is_empty()),
        "{error:?}"
    );
    assert_eq!((error.kind(), error.class()), ("invalid_input", ErrorClass::Fatal));

    assert_eq!(host.health().ok(), Some(HealthStatus::Ready));
}
