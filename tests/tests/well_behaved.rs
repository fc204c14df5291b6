//! Well-behaved samples under the real host: outputs, guest typed errors with their class,
//! usage reports, input limits and log budgets.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use symphony_host::types::payload::Payload;
use symphony_host::{CallError, CallRequest, ErrorClass, ErrorSource, ExtensionError, HostError};
use symphony_tests::{call_json, load, manifest_with_limits, runtime};

#[tokio::test]
async fn echo_returns_its_input_and_reports_usage() {
    let echo = load("echo");
    let input = serde_json::json!({"a": 1, "text": "héllo"});
    let outcome = call_json(&echo, input.clone()).await;
    let output = outcome.result.expect("echo succeeds");
    assert_eq!(output.content_type, "application/json");
    assert_eq!(output.to_json().ok(), Some(input));
    assert!(outcome.usage.fuel > 0, "fuel is counted");
    assert!(outcome.usage.fuel < echo.limits().limits.fuel);
    assert!(outcome.usage.memory_peak_bytes >= 64 * 1024, "at least one wasm page");
}

#[tokio::test]
async fn echo_keeps_non_json_payloads_byte_for_byte() {
    let echo = load("echo");
    let bytes: Vec<u8> = (0..=255).collect();
    let outcome = echo.call(CallRequest::new(Payload::new("application/octet-stream", bytes.clone()))).await;
    let output = outcome.result.expect("echo succeeds");
    assert_eq!(output, Payload::new("application/octet-stream", bytes));
}

#[tokio::test]
async fn describe_reports_name_version_and_features() {
    let stats = load("text-stats");
    let meta = stats.describe().await.expect("describe");
    assert_eq!(meta.name, "text-stats");
    assert_eq!(meta.version, stats.manifest().version.to_string());
    for feature in &stats.manifest().features {
        assert!(meta.features.contains(feature), "component provides {feature}");
    }
}

#[tokio::test]
async fn text_stats_counts_and_logs() {
    let stats = load("text-stats");
    let outcome = call_json(&stats, serde_json::json!({"text": "one two\nthree é\n"})).await;
    let output = outcome.result.expect("text-stats succeeds").to_json().expect("json output");
    assert_eq!(output["words"], 4);
    assert_eq!(output["lines"], 2);
    assert_eq!(output["chars"], 16);
    assert_eq!(output["bytes"], 17);
    assert!(!outcome.log.records.is_empty(), "the guest logged its counts");
}

#[tokio::test]
async fn text_stats_rejects_bad_input_as_fatal_invalid_input() {
    let stats = load("text-stats");
    let outcome = call_json(&stats, serde_json::json!({"words": 3})).await;
    let err = outcome.result.expect_err("missing text");
    assert!(matches!(err, CallError::Guest(ExtensionError::InvalidInput { .. })), "{err:?}");
    assert_eq!(err.source_layer(), ErrorSource::Guest);
    assert_eq!(err.class(), ErrorClass::Fatal);
}

#[tokio::test]
async fn flaky_fails_transiently_until_its_attempt_count_then_succeeds() {
    let flaky = load("flaky");
    let input = serde_json::json!({"fail_times": 2});
    for attempt in 1..=2 {
        let request = CallRequest::json(&input).expect("input").attempt(attempt);
        let err = flaky.call(request).await.result.expect_err("fails while attempt <= fail_times");
        assert!(matches!(err, CallError::Guest(ExtensionError::Unavailable { .. })), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Transient);
        assert_eq!(err.kind(), "unavailable");
    }
    let request = CallRequest::json(&input).expect("input").attempt(3);
    let output = flaky.call(request).await.result.expect("third attempt succeeds");
    assert_eq!(output.to_json().expect("json")["attempt"], 3);
}

#[tokio::test]
async fn oversized_input_is_refused_before_the_guest_runs() {
    let (_dir, manifest) = manifest_with_limits("echo", "input_bytes = 64");
    let echo = runtime().load_manifest(manifest).expect("load");
    let outcome = call_json(&echo, serde_json::json!({"padding": "x".repeat(100)})).await;
    assert!(matches!(outcome.result, Err(CallError::Host(HostError::InputTooLarge { limit_bytes: 64, .. }))));
    assert_eq!(outcome.usage.fuel, 0, "the guest never ran");
}

#[tokio::test]
async fn log_volume_is_truncated_and_counted_not_unbounded() {
    let (_dir, manifest) = manifest_with_limits("text-stats", "log_bytes = 8");
    let stats = runtime().load_manifest(manifest).expect("load");
    let outcome = call_json(&stats, serde_json::json!({"text": "a b c"})).await;
    assert!(outcome.result.is_ok(), "a log budget never fails the call");
    assert!(outcome.log.kept_bytes <= 8);
    assert!(outcome.log.dropped_bytes > 0, "what did not fit is counted");
}

#[tokio::test]
async fn a_missing_extension_is_a_typed_not_found_error() {
    let err = runtime().load("no-such-extension").expect_err("nothing by that name");
    assert!(matches!(err, HostError::ExtensionNotFound { did_you_mean: None, .. }), "{err:?}");
}

#[test]
fn a_misspelled_extension_name_suggests_the_one_meant() {
    let err = runtime().load("ecoh").expect_err("nothing by that name");
    let HostError::ExtensionNotFound { did_you_mean, .. } = &err else {
        panic!("expected extension_not_found, got {err:?}")
    };
    assert_eq!(did_you_mean.as_deref(), Some("echo"));
    assert!(err.to_string().ends_with("did you mean `echo`?"), "{err}");
}

#[tokio::test]
async fn a_broken_manifest_met_while_searching_by_name_is_reported_not_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).expect("mkdir");
    std::fs::write(broken.join("extension.toml"), "name = \"wanted\"\nversion = 1\n").expect("write");
    let config = symphony_host::PlatformConfig {
        extension_dirs: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    let runtime = symphony_host::Runtime::new(config).expect("runtime");
    let err = runtime.load("wanted").expect_err("the only manifest named so is broken");
    let HostError::ExtensionNotFound { reference, unreadable, .. } = err else {
        panic!("expected extension_not_found, got {err:?}")
    };
    assert_eq!(reference, "wanted");
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert_eq!(unreadable[0].path, broken.join("extension.toml"));
    assert_eq!(unreadable[0].line, Some(2), "{:?}", unreadable[0]);
}
