//! End-to-end tests of the author's path through the real `symphony` binary: `symphony new`
//! scaffolds a crate outside this checkout, `symphony build` compiles and pins it, `symphony
//! check PATH` passes it, and `symphony run PATH` gets its typed output and its typed guest error.
//! Also the refusals (`new` with a bad name or over existing files, `check PATH` on a broken
//! manifest or none) and their exit codes.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use symphony_types::config_file::read_toml;
use symphony_types::manifest::ExtensionManifest;
use symphony_types::policy::PlatformPolicy;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A target directory beside the test binaries' (`<target>/symphony-scaffold`), kept between
/// runs so the scaffolded crate's wasm dependencies compile once, and never the one the outer
/// `cargo test` holds locked.
fn scaffold_target_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_symphony"));
    exe.ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("symphony-scaffold")
}

fn symphony(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_symphony"))
        .args(args)
        .current_dir(root())
        .env("CARGO_TARGET_DIR", scaffold_target_dir())
        .output()
        .expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stdout + &String::from_utf8_lossy(&out.stderr))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

const SOURCES: [&str; 5] = ["Cargo.toml", "extension.toml", "src/lib.rs", "tests/harness.rs", ".gitignore"];

#[test]
fn new_then_build_check_and_run_the_scaffolded_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (crate_dir, state) = (dir.path().join("hello"), dir.path().join("state"));
    let (crate_str, state_str) = (path_str(&crate_dir), path_str(&state));

    let (code, _, text) = symphony(&["new", "hello", "--path", path_str(dir.path())]);
    assert_eq!(code, 0, "{text}");
    for file in SOURCES {
        assert!(crate_dir.join(file).is_file(), "{file} missing: {text}");
    }
    for next in [format!("symphony build {crate_str}"), format!("symphony run {crate_str} --input")] {
        assert!(text.contains(&next), "next step `{next}` not printed: {text}");
    }

    // Outside this checkout: the SDK by absolute path, the harness as a dev-dependency.
    let cargo: Value = read_toml(&crate_dir.join("Cargo.toml")).expect("Cargo.toml parses");
    assert_eq!(cargo["package"]["name"], "hello");
    assert_eq!(cargo["lib"]["crate-type"], serde_json::json!(["cdylib"]));
    let sdk = root().join("guest-sdk").canonicalize().expect("sdk dir");
    assert_eq!(cargo["dependencies"]["symphony-guest-sdk"]["path"].as_str(), sdk.to_str());
    let dev_sdk = &cargo["dev-dependencies"]["symphony-guest-sdk"];
    assert_eq!(dev_sdk["path"].as_str(), sdk.to_str());
    assert_eq!(dev_sdk["features"], serde_json::json!(["harness"]));

    let manifest = ExtensionManifest::load(&crate_dir.join("extension.toml")).expect("extension.toml parses");
    assert_eq!((manifest.name.as_str(), manifest.version.to_string()), ("hello", "0.1.0".to_owned()));
    assert_eq!(manifest.component_path, crate_dir.join("hello.wasm"));
    assert!(PlatformPolicy::default().over_ceiling(&manifest.limits).is_empty(), "modest limits");

    let (code, _, text) = symphony(&["--state-dir", state_str, "build", crate_str]);
    assert_eq!(code, 0, "{text}");
    assert!(crate_dir.join("hello.wasm").is_file(), "{text}");

    let (code, _, text) = symphony(&["--state-dir", state_str, "check", crate_str]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("1 extension, 0 problems, 0 warnings"), "only this one, clean: {text}");

    let (code, json, text) =
        symphony(&["--state-dir", state_str, "run", crate_str, "--input", r#"{"name":"Ada"}"#, "--json"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["output"], serde_json::json!({"greeting": "Hello, Ada!"}), "{json}");

    for bad in [r#"{"name":""}"#, r#"{"nom":"Ada"}"#] {
        let (code, json, text) =
            symphony(&["--state-dir", state_str, "run", crate_str, "--input", bad, "--json"]);
        assert_eq!(code, 1, "{bad}: {text}");
        assert_eq!(json["error"]["source"], "guest", "{bad}: {json}");
        assert_eq!(json["error"]["kind"], "invalid_input", "{bad}: {json}");
        assert_eq!(json["attempts"].as_array().map(Vec::len), Some(1), "fatal, never retried: {json}");
    }
}

#[test]
fn new_writes_the_sources_of_the_hello_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, text) = symphony(&["new", "hello", "--path", path_str(dir.path())]);
    assert_eq!(code, 0, "{text}");
    // Only Cargo.toml depends on where the crate is: the sample inherits from the workspace.
    for file in &SOURCES[1..] {
        let written = std::fs::read_to_string(dir.path().join("hello").join(file)).expect("written");
        let sample =
            std::fs::read_to_string(root().join("sample-extensions/hello").join(file)).expect("sample");
        assert!(written == sample, "{file} differs from sample-extensions/hello/{file}");
    }
}

#[test]
fn new_refuses_a_bad_name_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["Hello", "2fast", "my_ext", "../escape", "fn", ""] {
        let (code, _, text) = symphony(&["new", name, "--path", path_str(dir.path())]);
        assert_eq!(code, 2, "{name:?}: {text}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 0, "nothing created");
}

#[test]
fn new_refuses_an_existing_directory_with_files_but_fills_an_empty_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(&taken).expect("mkdir");
    std::fs::write(taken.join("notes.txt"), "mine").expect("write");
    let (code, _, text) = symphony(&["new", "taken", "--path", path_str(dir.path())]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(std::fs::read_dir(&taken).expect("read").count(), 1, "left untouched");

    std::fs::write(dir.path().join("file"), "").expect("write");
    assert_eq!(symphony(&["new", "file", "--path", path_str(dir.path())]).0, 2, "a file is in the way");

    std::fs::create_dir_all(dir.path().join("empty")).expect("mkdir");
    let (code, _, text) = symphony(&["new", "empty", "--path", path_str(dir.path())]);
    assert_eq!(code, 0, "{text}");
    assert!(dir.path().join("empty/src/lib.rs").is_file());
}

#[test]
fn check_path_on_a_broken_manifest_is_a_problem_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("extension.toml");
    std::fs::write(
        &manifest,
        "name = \"broken\"\nversion = \"1.0.0\"\ncomponent = \"b.wasm\"\n[limits]\nfuel = 0\n",
    )
    .expect("write");
    let state = dir.path().join("state");
    let expected = format!("{}:5", manifest.display());
    // The directory, and the manifest itself.
    for target in [dir.path(), manifest.as_path()] {
        let (code, _, text) = symphony(&["--state-dir", path_str(&state), "check", path_str(target)]);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains(&expected), "names {expected}: {text}");
        assert!(text.contains("limits.fuel"), "{text}");
        assert!(text.contains("1 extension, 1 problem"), "only this one: {text}");
    }
}

#[test]
fn check_path_only_checks_that_extension_and_reports_a_missing_component() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crate_dir = dir.path().join("unbuilt");
    std::fs::create_dir_all(&crate_dir).expect("mkdir");
    std::fs::copy(root().join("sample-extensions/echo/extension.toml"), crate_dir.join("extension.toml"))
        .expect("copy");
    std::fs::write(crate_dir.join("Cargo.toml"), "").expect("write");
    let state = dir.path().join("state");
    // The crate's Cargo.toml stands for the crate.
    let (code, _, text) =
        symphony(&["--state-dir", path_str(&state), "check", path_str(&crate_dir.join("Cargo.toml"))]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("invalid_component"), "the component was never built: {text}");
    assert!(text.contains("1 extension, 1 problem"), "{text}");
}

#[test]
fn check_path_without_a_manifest_cannot_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let (code, _, text) = symphony(&["--state-dir", path_str(&state), "check", path_str(dir.path())]);
    assert_eq!(code, 2, "{text}");
    let missing = dir.path().join("nowhere");
    assert_eq!(symphony(&["--state-dir", path_str(&state), "check", path_str(&missing)]).0, 2);
}
