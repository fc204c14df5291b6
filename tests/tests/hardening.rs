//! Every quantity a guest controls is bounded, and what `check` knows holds at load: real
//! hostile guests against the real host. Empty log records still spend the log budget, a
//! megabytes-long error message comes back cut with the cut counted (directly and through the
//! conductor), a component lying about its identity is refused and audited, and UDP sockets and
//! name lookups are denied and audited like TCP.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use serde_json::{Value, json};
use symphony_host::conductor::Conductor;
use symphony_host::state::StateDir;
use symphony_host::types::capability::denials::CapabilityKind;
use symphony_host::types::limits::LOG_RECORD_OVERHEAD_BYTES;
use symphony_host::{CallError, CallRequest, ExtensionError, ExtensionManifest, HostError, Runtime};
use symphony_tests::{
    assert_still_serving, audit_records, call_json, load, manifest_with_limits, runtime, sample_config,
    workspace_root,
};

#[tokio::test]
async fn a_million_empty_log_records_keep_a_bounded_log() {
    let ext = load("log-flood");
    let limits = ext.limits().limits;
    let flood = json!({"log_lines": 1_000_000, "stdout_lines": 0, "stderr_lines": 0, "empty": true});
    let outcome = call_json(&ext, flood).await;
    assert!(outcome.result.is_ok(), "a flood never fails the call: {:?}", outcome.result);
    let log = &outcome.log;
    let kept = log.records.len() as u64;
    assert!(kept <= limits.log_records, "{kept} records kept, limit {}", limits.log_records);
    assert!(log.kept_bytes <= limits.log_bytes, "{} bytes kept", log.kept_bytes);
    assert_eq!(kept + log.dropped_records, 1_000_000, "every record is kept or counted");
    // Empty records are not free: each weighs the per-record overhead.
    assert_eq!(log.kept_bytes, kept * LOG_RECORD_OVERHEAD_BYTES);
    assert_still_serving().await;
}

#[tokio::test]
async fn the_log_record_limit_is_enforced_as_declared() {
    let (_dir, manifest) = manifest_with_limits("log-flood", "log_records = 7\nlog_bytes = \"1 MiB\"");
    let ext = runtime().load_manifest(manifest).expect("load");
    let outcome = call_json(&ext, json!({"log_lines": 100, "stdout_lines": 0, "stderr_lines": 0})).await;
    assert_eq!(outcome.log.records.len(), 7);
    assert_eq!(outcome.log.dropped_records, 93);
}

#[tokio::test]
async fn a_ten_mebibyte_error_message_comes_back_cut_and_counted() {
    let ext = load("error-bomb");
    let limit = ext.limits().limits.error_message_bytes;
    let outcome = call_json(&ext, json!({})).await;
    let Err(CallError::Guest(ExtensionError::Internal { message })) = &outcome.result else {
        panic!("expected the guest's internal error, got {:?}", outcome.result);
    };
    assert_eq!(outcome.error_message_cut_bytes, 10 * 1024 * 1024 - limit);
    assert!(message.len() as u64 <= limit + 32, "{} bytes kept", message.len());
    assert!(message.ends_with(&format!("[{} bytes cut]", outcome.error_message_cut_bytes)));

    // Through the conductor the error the caller gets is the same bounded one.
    let conductor = Conductor::with_defaults();
    let conducted = conductor.call(&ext, CallRequest::json(&json!({})).expect("input")).await;
    let report = conducted.result.expect_err("it always fails").report();
    assert_eq!(report.kind, "internal");
    assert!(
        report.message.len() as u64 <= limit + 32,
        "{} bytes through the conductor",
        report.message.len()
    );
    assert!(conducted.log.is_some(), "the conducted outcome carries the last attempt's log");
}

#[tokio::test]
async fn the_error_message_limit_is_enforced_as_declared() {
    let (_dir, manifest) =
        manifest_with_limits("error-bomb", "error_message_bytes = 100\nmemory_bytes = \"64 MiB\"");
    let ext = runtime().load_manifest(manifest).expect("load");
    let outcome = call_json(&ext, json!({"message_bytes": 1_000})).await;
    assert_eq!(outcome.error_message_cut_bytes, 900);
    let message = outcome.result.expect_err("fails").report().message;
    assert!(message.starts_with(&"E".repeat(100)) && !message.starts_with(&"E".repeat(101)), "{message}");
}

/// A 1.0.0 component whose `describe` says `totally-trusted@9.9.9`, providing `echo`.
const LIAR: &str = r#"
(module
  (memory (export "memory") 1)
  (data (i32.const 2048) "totally-trusted9.9.9echo")
  (data (i32.const 3072) "\14\08\00\00\04\00\00\00")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) unreachable)
  (func (export "symphony:extension/handler@1.0.0#describe") (result i32)
    (i32.store (i32.const 1024) (i32.const 2048))
    (i32.store (i32.const 1028) (i32.const 15))
    (i32.store (i32.const 1032) (i32.const 2063))
    (i32.store (i32.const 1036) (i32.const 5))
    (i32.store (i32.const 1040) (i32.const 3072))
    (i32.store (i32.const 1044) (i32.const 1))
    (i32.const 1024))
  (func (export "symphony:extension/handler@1.0.0#invoke")
        (param i32 i32 i32 i64 i32 i32 i32 i32) (result i32) unreachable)
)
"#;

fn write_liar(dir: &std::path::Path, features: &str) -> std::path::PathBuf {
    let wit = std::fs::read_to_string(workspace_root().join("wit/v1.0.0/extension.wit")).expect("wit");
    let component = symphony_tests::wat_component::component_from_wat(&wit, LIAR).expect("component");
    std::fs::write(dir.join("liar.wasm"), component).expect("write component");
    let manifest = dir.join("extension.toml");
    std::fs::write(
        &manifest,
        format!("name = \"liar\"\nversion = \"1.0.0\"\ncomponent = \"liar.wasm\"\nfeatures = {features}\n"),
    )
    .expect("write manifest");
    manifest
}

#[test]
fn a_component_lying_about_its_identity_is_refused_at_load_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest_path = write_liar(dir.path(), "[\"echo\"]");
    let state = StateDir::open(&dir.path().join("state")).expect("state dir");
    let manifest = ExtensionManifest::load(&manifest_path).expect("manifest");
    let sha = symphony_host::ComponentInfo::inspect(
        &manifest.component_path,
        &std::fs::read(&manifest.component_path).expect("read"),
    )
    .expect("inspect")
    .sha256;
    state.pin("liar@1.0.0", &sha, "test").expect("pin");
    let runtime = Runtime::new(sample_config()).expect("engine").with_state(state);
    let loaded = runtime.load_manifest(manifest);
    match loaded {
        Err(HostError::IdentityMismatch { manifest, component, missing_features }) => {
            assert_eq!(manifest, "liar@1.0.0");
            assert_eq!(component, "totally-trusted@9.9.9");
            assert!(missing_features.is_empty());
        }
        other => panic!("expected identity_mismatch, got {other:?}"),
    }
    let records = audit_records(runtime.state().expect("state"));
    let refused = records.iter().find(|r| r["event"] == "identity_mismatch").expect("audited");
    assert_eq!(refused["details"]["component"], "totally-trusted@9.9.9");
    assert!(!records.iter().any(|r| r["event"] == "extension_loaded"), "it never counted as loaded");
}

#[test]
fn features_the_component_does_not_provide_are_a_mismatch_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest_path = write_liar(dir.path(), "[\"echo\", \"summarize\"]");
    let loaded = runtime().load_manifest(ExtensionManifest::load(&manifest_path).expect("manifest"));
    assert!(
        matches!(&loaded, Err(HostError::IdentityMismatch { missing_features, .. }) if missing_features == &["summarize"]),
        "{loaded:?}"
    );
}

#[test]
fn metadata_over_its_limit_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest_path = write_liar(dir.path(), "[]");
    let text = std::fs::read_to_string(&manifest_path).expect("read") + "[limits]\nmetadata_bytes = 10\n";
    std::fs::write(&manifest_path, text).expect("write");
    let loaded = runtime().load_manifest(ExtensionManifest::load(&manifest_path).expect("manifest"));
    assert!(
        matches!(loaded, Err(HostError::MetadataTooLarge { size_bytes: 24, limit_bytes: 10, .. })),
        "{loaded:?}"
    );
}

#[tokio::test]
async fn udp_and_name_lookups_are_denied_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateDir::open(dir.path()).expect("state dir");
    let manifest = ExtensionManifest::load(&symphony_tests::sample_dir("net-connect").join("extension.toml"))
        .expect("manifest");
    let sha = symphony_host::ComponentInfo::inspect(
        &manifest.component_path,
        &std::fs::read(&manifest.component_path).expect("read"),
    )
    .expect("inspect")
    .sha256;
    state.pin(&manifest.id(), &sha, "test").expect("pin");
    let runtime = Runtime::new(sample_config()).expect("engine").with_state(state);
    let ext = runtime.load_manifest(manifest).expect("load");

    let udp = call_json(&ext, json!({"protocol": "udp", "addr": "127.0.0.1:9"})).await;
    let out = udp.result.as_ref().expect("contained, not failed").to_json().expect("json");
    assert_eq!(out["connected"], false, "{out}");
    assert!(
        udp.denials.iter().any(|d| d.capability == CapabilityKind::Network && d.target.contains("Udp")),
        "{:?}",
        udp.denials
    );

    let lookup = call_json(&ext, json!({"addr": "localhost:9"})).await;
    assert!(
        lookup.denials.iter().any(|d| d.capability == CapabilityKind::NameLookup && d.target == "localhost"),
        "{:?}",
        lookup.denials
    );

    let records = audit_records(runtime.state().expect("state"));
    let denied: Vec<&Value> = records.iter().filter(|r| r["event"] == "capability_denied").collect();
    assert!(
        denied.iter().any(|r| r["details"]["capability"] == "network"
            && r["details"]["target"].as_str().is_some_and(|t| t.contains("Udp"))),
        "{denied:?}"
    );
    assert!(denied.iter().any(|r| r["details"]["capability"] == "name_lookup"), "{denied:?}");
}

#[tokio::test]
async fn the_resource_limit_bounds_what_a_call_can_hold() {
    // A TCP connect holds the instance network and a socket at once: with room for one
    // resource the socket cannot be created, which the guest cannot recover from.
    let (_dir, manifest) = manifest_with_limits("net-connect", "resources = 1");
    let ext = runtime().load_manifest(manifest).expect("load");
    let outcome = call_json(&ext, json!({"addr": "127.0.0.1:9"})).await;
    assert!(outcome.result.is_err(), "the host refuses the resource past the limit: {:?}", outcome.result);
    assert_still_serving().await;
}
