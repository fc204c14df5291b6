//! Components must be pinned, whoever embeds the host: a runtime with a state directory refuses
//! an unpinned component naming the pins file and the command that fixes it, a runtime without
//! one refuses every component until the embedder opts out by name (`allow_unpinned`), and that
//! opt-out is audited and never lets a component whose pin differs through.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use symphony_host::state::StateDir;
use symphony_host::{ExtensionManifest, HostError, Runtime};
use symphony_tests::{audit_records, sample_config, sample_dir};

/// `name`'s manifest and the sha256 of its built component.
fn sample(name: &str) -> (ExtensionManifest, String) {
    let manifest = ExtensionManifest::load(&sample_dir(name).join("extension.toml")).expect("manifest");
    let bytes = std::fs::read(&manifest.component_path).expect("built component (run `symphony build`)");
    (manifest, symphony_host::integrity::sha256_hex(&bytes))
}

#[test]
fn a_runtime_without_a_state_directory_refuses_unpinned_components_unless_allowed_by_name() {
    let strict = Runtime::new(sample_config()).expect("engine");
    let refused = strict.load("echo");
    assert!(
        matches!(&refused, Err(HostError::Unpinned { pins_file: None, extension, .. }) if extension == "echo@1.0.0"),
        "{refused:?}"
    );
    let allowed = Runtime::new(sample_config()).expect("engine").allow_unpinned();
    allowed.load("echo").expect("an explicit opt-out loads it");
}

#[test]
fn a_runtime_with_state_refuses_unpinned_naming_the_pins_file_and_the_manifest_to_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateDir::open(dir.path()).expect("state dir");
    let runtime = Runtime::new(sample_config()).expect("engine").with_state(state);
    let refused = runtime.load("echo");
    let Err(HostError::Unpinned { pins_file: Some(pins_file), manifest, .. }) = &refused else {
        panic!("expected component_unpinned, got {refused:?}")
    };
    assert_eq!(pins_file, &dir.path().join("pins.toml"));
    assert_eq!(manifest, &sample_dir("echo").join("extension.toml"));
}

#[test]
fn allow_unpinned_is_audited_and_never_overrides_a_pin_that_differs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateDir::open(dir.path()).expect("state dir");
    let (echo, echo_sha) = sample("echo");
    let (text_stats, _) = sample("text-stats");
    state.pin(&text_stats.id(), &"0".repeat(64), "test").expect("pin");
    let runtime = Runtime::new(sample_config()).expect("engine").allow_unpinned().with_state(state);

    runtime.load_manifest(echo).expect("unpinned, allowed by name");
    let mismatch = runtime.load_manifest(text_stats);
    assert!(
        matches!(&mismatch, Err(HostError::HashMismatch { pins_file, .. }) if pins_file == &dir.path().join("pins.toml")),
        "{mismatch:?}"
    );

    let records = audit_records(runtime.state().expect("state"));
    let allowed: Vec<_> = records.iter().filter(|r| r["event"] == "unpinned_allowed").collect();
    assert_eq!(allowed.len(), 1, "{records:?}");
    assert_eq!(allowed[0]["extension"], "echo@1.0.0");
    assert_eq!(allowed[0]["details"]["sha256"], echo_sha.as_str());
    assert!(records.iter().any(|r| r["event"] == "hash_mismatch"), "{records:?}");
}
