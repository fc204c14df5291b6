//! Outbound HTTP through `wasi:http` under the network capability, against the real
//! `api-client` sample and a loopback [`FlakyServer`]: the guest retries the server's transient
//! failures itself, a denied destination never reaches the server, and the host's HTTP limits
//! (`http_response_bytes`, `http_timeout_ms`) reach the guest as typed failures.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use serde_json::{Value, json};
use symphony_host::config::PlatformConfig;
use symphony_host::types::capability::CapabilityRule;
use symphony_host::types::capability::denials::CapabilityKind;
use symphony_host::{CallError, CallOutcome, ErrorClass, ExtensionError, LoadedExtension, Runtime};
use symphony_tests::http_server::FlakyServer;
use symphony_tests::{assert_still_serving, call_json, load, sample_config};

/// The sample config plus a rule letting `api-client` reach loopback services.
fn granted_config() -> PlatformConfig {
    let mut config = sample_config();
    config.capabilities.rules.push(CapabilityRule {
        extensions: vec!["api-client".into()],
        network: vec!["127.0.0.1:*".into()],
        ..Default::default()
    });
    config
}

/// `api-client` loaded under `config` (the runtime is kept alive beside it).
fn load_api_client(config: PlatformConfig) -> (Runtime, LoadedExtension) {
    let runtime = Runtime::new(config).expect("engine").allow_unpinned();
    let extension = runtime.load("api-client").expect("load api-client (build the samples first)");
    (runtime, extension)
}

fn output(outcome: &CallOutcome) -> Value {
    outcome.result.as_ref().expect("the call succeeds").to_json().expect("json output")
}

fn guest_error(outcome: &CallOutcome) -> &ExtensionError {
    match &outcome.result {
        Err(CallError::Guest(error)) => error,
        other => panic!("expected a typed guest error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_retries_transient_server_failures_until_success() {
    let server = FlakyServer::start(2).await;
    let (_runtime, ext) = load_api_client(granted_config());
    let outcome = call_json(&ext, json!({"url": server.url("/data"), "attempts": 3})).await;
    let out = output(&outcome);
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], json!({"value": 42}), "{out}");
    assert_eq!(out["attempts"], 3, "{out}");
    assert_eq!(server.requests(), 3);
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_returns_transient_error_once_its_attempts_are_spent() {
    let server = FlakyServer::start(5).await;
    let (_runtime, ext) = load_api_client(granted_config());
    let outcome = call_json(&ext, json!({"url": server.url("/data"), "attempts": 3})).await;
    let error = guest_error(&outcome);
    assert!(matches!(error, ExtensionError::Unavailable { .. }), "{error:?}");
    let class = outcome.result.as_ref().err().map(CallError::class);
    assert_eq!(class, Some(ErrorClass::Transient));
    assert_eq!(server.requests(), 3, "exactly the guest's own attempts");
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_without_a_policy_rule_is_denied_before_any_request() {
    let server = FlakyServer::start(0).await;
    let ext = load("api-client");
    assert!(ext.grant().network.is_empty(), "no rule, no grant");
    let outcome = call_json(&ext, json!({"url": server.url("/data"), "attempts": 3})).await;
    let error = guest_error(&outcome);
    assert!(matches!(error, ExtensionError::UnableToComplete { .. }), "{error:?}");
    assert!(outcome.denials.iter().any(|d| d.capability == CapabilityKind::Network), "{:?}", outcome.denials);
    assert_eq!(server.requests(), 0, "a denied request never reaches the server");
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_over_the_host_body_limit_exhausts_a_resource() {
    let server = FlakyServer::start(0).await;
    let mut config = granted_config();
    config.policy.defaults.http_response_bytes = 64 * 1024;
    let (_runtime, ext) = load_api_client(config);
    // The guest's own buffer cap is set above the 4 MiB body, so only the host's limit can stop it.
    let input = json!({"url": server.url("/big"), "attempts": 3, "max_body_bytes": 8 * 1024 * 1024});
    let outcome = call_json(&ext, input).await;
    let error = guest_error(&outcome);
    assert!(matches!(error, ExtensionError::ResourceExhausted { .. }), "{error:?}");
    assert_eq!(server.requests(), 1, "a size failure is not retried");
    assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_times_out_as_a_transient_failure() {
    let server = FlakyServer::start(0).await;
    let mut config = granted_config();
    config.policy.defaults.http_timeout_ms = 200;
    let (_runtime, ext) = load_api_client(config);
    let outcome = call_json(&ext, json!({"url": server.url("/slow"), "attempts": 1})).await;
    let error = guest_error(&outcome);
    assert!(matches!(error, ExtensionError::Unavailable { .. }), "{error:?}");
    assert_still_serving().await;
}
