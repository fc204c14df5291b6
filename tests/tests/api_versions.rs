//! Several API versions at once: `summarize` 1.0.0 (built against API 1.0.0) and 2.0.0 (API
//! 1.1.0) load into one runtime, report their API version, run side by side, answer `health`
//! each the way its version can, and v2's deliberate regression fails recoverably where v1
//! succeeds. A component of another major version is refused at load time.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::sync::Arc;

use symphony_host::runtime::LookupError;
use symphony_host::{
    ApiVersion, CallError, ErrorClass, ExtensionError, ExtensionManifest, HealthStatus, HostError,
    LoadedExtension,
};
use symphony_tests::{call_json, runtime, sample_dir, workspace_root};

/// Longer than the 200 characters `summarize` 2.0.0 accepts.
fn long_text() -> String {
    "Symphony runs untrusted extensions in fresh sandboxes. ".repeat(6)
}

fn load_sample(dir: &str) -> LoadedExtension {
    let path = sample_dir(dir);
    runtime().load(&path.display().to_string()).unwrap_or_else(|e| {
        panic!("cannot load {dir}: {e}\n(build the samples first: cargo run -p symphony-cli -- build)")
    })
}

#[tokio::test]
async fn both_releases_load_with_their_own_api_version_under_one_name() {
    let v1 = load_sample("summarize-v1");
    let v2 = load_sample("summarize-v2");
    assert_eq!(v1.api_version(), ApiVersion::V1_0_0);
    assert_eq!(v2.api_version(), ApiVersion::V1_1_0);
    assert_eq!(
        (v1.manifest().id(), v2.manifest().id()),
        ("summarize@1.0.0".into(), "summarize@2.0.0".into())
    );

    for (extension, version, features) in
        [(&v1, "1.0.0", &["summarize"][..]), (&v2, "2.0.0", &["summarize", "summarize-keywords"][..])]
    {
        let meta = extension.describe().await.expect("describe");
        assert_eq!(meta.name, "summarize", "the name override, not the crate name");
        assert_eq!(meta.version, version);
        assert_eq!(meta.features, features);
    }
}

#[test]
fn a_plain_name_finds_the_newest_release_and_name_at_version_finds_one() {
    let newest = runtime().find("summarize").expect("by name");
    assert_eq!(newest.id(), "summarize@2.0.0");
    let older = runtime().find("summarize@1.0.0").expect("by name@version");
    assert_eq!(older.id(), "summarize@1.0.0");
    assert!(matches!(runtime().find("summarize@3.0.0"), Err(LookupError::NotFound { .. })));
    let loaded = runtime().load("summarize@1.0.0").expect("load by name@version");
    assert_eq!(loaded.api_version(), ApiVersion::V1_0_0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_releases_run_side_by_side_concurrently() {
    let v1 = Arc::new(load_sample("summarize-v1"));
    let v2 = Arc::new(load_sample("summarize-v2"));
    let text = "Wasm components are portable. They also sandbox well.";

    let mut calls = Vec::new();
    for i in 0..16 {
        let extension = Arc::clone(if i % 2 == 0 { &v1 } else { &v2 });
        calls.push(tokio::spawn(async move {
            let outcome = call_json(&extension, serde_json::json!({ "text": text })).await;
            (extension.api_version(), outcome)
        }));
    }
    for call in calls {
        let (version, outcome) = call.await.expect("task");
        let output = outcome.result.expect("both releases summarise a short text").to_json().expect("json");
        assert_eq!(output["summary"], "Wasm components are portable.");
        assert_eq!(output["words"], 8);
        // Each release ran its own code: only 2.0.0 adds keywords.
        match version {
            ApiVersion::V1_0_0 => assert!(output.get("keywords").is_none(), "{output}"),
            _ => assert!(output["keywords"].as_array().is_some_and(|k| !k.is_empty()), "{output}"),
        }
        // The host import resolved for both: a 1.0.0 guest's `host@1.0.0` is served by 1.1.0.
        let release = if version == ApiVersion::V1_0_0 { "1" } else { "2" };
        let logged = &outcome.log.records;
        assert!(
            logged.iter().any(|r| r.message == "summarized"
                && r.fields.contains(&("release".to_owned(), release.to_owned()))),
            "{logged:?}"
        );
    }
}

#[tokio::test]
async fn health_is_asked_of_1_1_guests_and_assumed_ready_for_1_0_guests() {
    let v1 = load_sample("summarize-v1");
    let v2 = load_sample("summarize-v2");

    // 2.0.0 exports `health` and owns up to its regression.
    assert!(v2.api_version().exports_health());
    let health = v2.health().await.expect("health");
    assert!(matches!(health, HealthStatus::Degraded(_)), "{health:?}");
    assert!(health.is_serving());

    // 1.0.0 cannot say: the host answers Ready without running it.
    assert!(!v1.api_version().exports_health());
    assert_eq!(v1.health().await.expect("health"), HealthStatus::Ready);
}

#[tokio::test]
async fn v2_fails_recoverably_on_a_long_text_that_v1_summarises() {
    let v1 = load_sample("summarize-v1");
    let v2 = load_sample("summarize-v2");
    let input = serde_json::json!({ "text": long_text() });

    let old = call_json(&v1, input.clone()).await.result.expect("v1 handles long texts");
    assert_eq!(old.to_json().expect("json")["words"], 42);

    let new = call_json(&v2, input).await.result;
    match new {
        Err(error @ CallError::Guest(ExtensionError::UnableToComplete { .. })) => {
            assert_eq!(error.class(), ErrorClass::Recoverable);
        }
        other => panic!("expected unable_to_complete from v2, got {other:?}"),
    }
}

/// Exports `describe` and `invoke` of a WIT package at `version`; neither is ever called.
fn guest_exporting(version: &str) -> anyhow::Result<Vec<u8>> {
    let wat = format!(
        r#"(module
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) unreachable)
  (func (export "symphony:extension/handler@{version}#describe") (result i32) unreachable)
  (func (export "symphony:extension/handler@{version}#invoke")
        (param i32 i32 i32 i64 i32 i32 i32 i32) (result i32) unreachable))"#
    );
    let wit = std::fs::read_to_string(workspace_root().join("wit/v1.0.0/extension.wit"))?
        .replace("package symphony:extension@1.0.0;", &format!("package symphony:extension@{version};"));
    symphony_tests::wat_component::component_from_wat(&wit, &wat)
}

#[tokio::test]
async fn another_major_version_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("next-major.wasm"), guest_exporting("2.0.0").expect("component"))
        .expect("write");
    let manifest_path = dir.path().join("extension.toml");
    std::fs::write(
        &manifest_path,
        "name = \"next-major\"\nversion = \"1.0.0\"\ncomponent = \"next-major.wasm\"\n",
    )
    .expect("write manifest");
    let loaded = runtime().load_manifest(ExtensionManifest::load(&manifest_path).expect("manifest"));
    assert!(matches!(loaded, Err(HostError::IncompatibleApi { .. })), "{loaded:?}");
}
