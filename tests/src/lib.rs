//! Shared fixtures for the integration tests: the workspace's sample extensions loaded into one
//! runtime, and manifests rewritten with other limits for the cases that need them.
//!
//! The samples must be built first (`symphony build`, which `tests/run.sh` does).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use symphony_host::config::PlatformConfig;
use symphony_host::types::manifest::MANIFEST_FILE_NAME;
use symphony_host::{CallOutcome, CallRequest, ExtensionManifest, LoadedExtension, Runtime};

/// The repository root.
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The directory of one sample extension.
#[must_use]
pub fn sample_dir(name: &str) -> PathBuf {
    workspace_root().join("sample-extensions").join(name)
}

/// A platform config seeing the samples, with embedded defaults otherwise.
#[must_use]
pub fn sample_config() -> PlatformConfig {
    PlatformConfig {
        extension_dirs: vec![workspace_root().join("sample-extensions")],
        ..PlatformConfig::default()
    }
}

/// One runtime shared by every test in a binary (engine creation reserves the instance pool).
///
/// # Panics
/// When the engine cannot be built.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(sample_config()).unwrap_or_else(|e| panic!("engine: {e}")).allow_unpinned()
    })
}

/// Load a built sample by name.
///
/// # Panics
/// When it cannot be loaded (most likely: the samples were not built; run `tests/run.sh`).
#[must_use]
pub fn load(name: &str) -> LoadedExtension {
    runtime().load(name).unwrap_or_else(|e| {
        panic!(
            "cannot load sample `{name}`: {e}\n(build the samples first: cargo run -p symphony-cli -- build)"
        )
    })
}

/// A sample's manifest with `[limits]` replaced, written to a temp dir (the component path
/// still points at the built sample).
///
/// # Panics
/// On I/O errors.
#[must_use]
pub fn manifest_with_limits(name: &str, limits_toml: &str) -> (tempfile::TempDir, ExtensionManifest) {
    let original = ExtensionManifest::load(&sample_dir(name).join(MANIFEST_FILE_NAME))
        .unwrap_or_else(|e| panic!("sample manifest: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let text = format!(
        "name = \"{}\"\nversion = \"{}\"\ncomponent = {:?}\n[limits]\n{limits_toml}\n",
        original.name,
        original.version,
        original.component_path.display().to_string(),
    );
    let path = dir.path().join(MANIFEST_FILE_NAME);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write manifest: {e}"));
    let manifest = ExtensionManifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, manifest)
}

/// Call with a JSON input.
///
/// # Panics
/// When the input cannot be serialised.
pub async fn call_json(extension: &LoadedExtension, input: serde_json::Value) -> CallOutcome {
    extension.call(CallRequest::json(&input).unwrap_or_else(|e| panic!("input: {e}"))).await
}

/// Assert the host still serves a well-behaved extension.
///
/// # Panics
/// When echo does not answer with its input.
pub async fn assert_still_serving() {
    let echo = load("echo");
    let input = serde_json::json!({"still": "serving"});
    let outcome = call_json(&echo, input.clone()).await;
    let output = outcome.result.unwrap_or_else(|e| panic!("echo failed after a hostile call: {e}"));
    assert_eq!(output.to_json().ok(), Some(input));
}
pub mod http_server;
pub mod wat_component;

/// The audit log's records as JSON, after flushing it.
///
/// # Panics
/// When the log does not drain or holds a line that is not JSON: the test fails.
#[must_use]
pub fn audit_records(state: &symphony_host::state::StateDir) -> Vec<serde_json::Value> {
    assert!(state.audit().flush(), "the audit log drains");
    let text = std::fs::read_to_string(state.path().join("audit.log")).unwrap_or_default();
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("audit record is not JSON: {e}: {line}"))
        })
        .collect()
}
