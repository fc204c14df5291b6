//! The echo extension, compiled to a component and run under the real host.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use symphony_guest_sdk::harness::{CallError, HealthStatus, HostError, Payload, TestHost};

#[test]
fn echoes_json_and_bytes_under_the_real_host() {
    let host = TestHost::build(env!("CARGO_MANIFEST_DIR")).expect("echo builds and loads");

    let input = serde_json::json!({"greeting": "hello", "n": [1, 2, 3]});
    let outcome = host.call_json(&input);
    assert_eq!(outcome.result.expect("echo succeeds").to_json().ok(), Some(input));
    assert!(outcome.usage.fuel > 0);

    let oversized = Payload::new("application/octet-stream", vec![7; 2 * 1024 * 1024]);
    let outcome = host.call(symphony_guest_sdk::harness::CallRequest::new(oversized));
    assert!(matches!(outcome.result, Err(CallError::Host(HostError::InputTooLarge { .. }))));

    // Built with the SDK's default API (1.1.0): `health` is exported and answers the default.
    assert_eq!(host.extension().api_version().as_str(), "1.1.0");
    assert!(matches!(host.health(), Ok(HealthStatus::Ready)));
}
