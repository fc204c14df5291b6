//! The demo command and the test command share one build of wasmtime: every unit
//! `cargo run -p symphony-cli` compiles is also a unit of `cargo test` (tests/run.sh), with the
//! same features, profile and dependencies. A dev-dependency that switches on a feature of a crate
//! wasmtime shares, or a profile that builds a crate differently for proc-macros than for the
//! program, breaks this and costs every new user a second 15-minute wasmtime build; this test
//! names the crates that diverge.
//!
//! It asks cargo for both unit graphs (`--unit-graph`, which resolves without compiling; it is
//! behind `-Z unstable-options`, enabled for this read-only query with `RUSTC_BOOTSTRAP=1`) in a
//! scratch target directory, so it never waits on the lock of the `cargo test` running it.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// `cargo <args> --unit-graph` from the workspace root, parsed.
fn unit_graph(args: &[&str], scratch: &std::path::Path) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(args)
        .args(["--unit-graph", "-Z", "unstable-options"])
        .current_dir(symphony_tests::workspace_root())
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", scratch)
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the unit graph is JSON")
}

/// Each unit's identity: package, target, mode, features, profile (less its name: `cargo test`
/// builds dependencies under `test`, which inherits `dev`) and its dependencies' identities.
fn identities(graph: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let units = graph["units"].as_array().expect("units");
    let mut memo: Vec<Option<String>> = vec![None; units.len()];
    fn identity(i: usize, units: &[Value], memo: &mut Vec<Option<String>>) -> String {
        if let Some(known) = &memo[i] {
            return known.clone();
        }
        let unit = &units[i];
        let mut profile = unit["profile"].clone();
        if let Some(fields) = profile.as_object_mut() {
            fields.remove("name");
        }
        let mut deps: Vec<String> = unit["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["index"].as_u64())
            .map(|d| identity(usize::try_from(d).expect("index"), units, memo))
            .collect();
        deps.sort();
        let key = serde_json::json!([
            unit["pkg_id"],
            unit["target"]["name"],
            unit["mode"],
            unit["features"],
            profile,
            unit["platform"],
            deps
        ])
        .to_string();
        // A digest, not the text: the text of a unit would hold every unit below it.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&key, &mut hasher);
        let digest = format!("{:016x}", std::hash::Hasher::finish(&hasher));
        memo[i] = Some(digest.clone());
        digest
    }
    let mut by_package: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in 0..units.len() {
        let id = identity(i, units, &mut memo);
        let package = units[i]["pkg_id"].as_str().unwrap_or_default().to_owned();
        by_package.entry(package).or_default().insert(id);
    }
    by_package
}

#[test]
fn the_test_command_rebuilds_nothing_the_demo_built() {
    let scratch = tempfile::tempdir().expect("scratch target dir");
    let demo = identities(&unit_graph(&["build", "-p", "symphony-cli"], scratch.path()));
    let tests = identities(&unit_graph(&["test", "--no-run"], scratch.path()));
    let diverging: Vec<&str> = demo
        .iter()
        .filter(|(package, units)| tests.get(*package).is_none_or(|t| !units.is_subset(t)))
        .map(|(package, _)| package.as_str())
        .collect();
    assert!(
        diverging.is_empty(),
        "`cargo test` would compile these again, differently from `cargo run -p symphony-cli`: {diverging:#?}"
    );
    assert!(demo.keys().any(|p| p.contains("wasmtime@")), "the demo builds wasmtime: the graphs were read");
}
