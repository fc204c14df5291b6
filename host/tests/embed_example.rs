//! The README's embedding example (`host/examples/embed.rs`, shown verbatim in README.md and
//! compared byte for byte by the README test) is secure as written: compiled here from that very
//! file and run as an embedder would, it refuses a component nobody pinned, runs it once pinned,
//! and refuses it again, audited, once a byte of it changed.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

#[path = "../examples/embed.rs"]
#[allow(dead_code)] // its `main` is the example's, not this test's
mod example;

use std::path::Path;

use serde_json::{Value, json};
use symphony_host::state::StateDir;

#[test]
fn the_embedding_example_refuses_unpinned_and_tampered_components() {
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = dir.path().join("echo");
    std::fs::create_dir(&echo).expect("mkdir");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-extensions/echo");
    for file in ["extension.toml", "echo.wasm"] {
        std::fs::copy(sample.join(file), echo.join(file)).expect("built sample (run `symphony build`)");
    }
    let state_dir = dir.path().join(".symphony");
    let reference = echo.to_str().expect("utf-8 path");
    let input = json!({"a": 1});

    let (served, printed) = example::call_once(reference, &input, &state_dir).expect("runs");
    assert!(!served);
    assert_eq!(
        (printed["status"].as_str(), printed["error"]["kind"].as_str()),
        (Some("refused"), Some("component_unpinned"))
    );

    let wasm = echo.join("echo.wasm");
    let mut bytes = std::fs::read(&wasm).expect("read");
    StateDir::open(&state_dir)
        .expect("state dir")
        .pin("echo@1.0.0", &symphony_host::integrity::sha256_hex(&bytes), "test")
        .expect("pin");
    let (served, printed) = example::call_once(reference, &input, &state_dir).expect("runs");
    assert!(served, "{printed}");
    assert_eq!(printed["output"], input);

    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&wasm, bytes).expect("write");
    let (served, printed) = example::call_once(reference, &input, &state_dir).expect("runs");
    assert!(!served);
    assert_eq!(printed["error"]["kind"], "hash_mismatch", "{printed}");
    let audit = std::fs::read_to_string(state_dir.join("audit.log")).expect("audit log");
    let events: Vec<Value> = audit.lines().map(|l| serde_json::from_str(l).expect("audit record")).collect();
    assert!(events.iter().any(|e| e["event"] == "hash_mismatch"), "{audit}");
}
