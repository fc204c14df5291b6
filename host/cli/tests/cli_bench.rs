//! `symphony bench --json` prints one valid report object. Only the cheapest scenarios run,
//! with a handful of calls (the service ones against a real `symphony serve` child): this
//! checks the shape of the output, never a timing.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod support;

use support::root;

/// `symphony --state-dir STATE bench --quick --json ARGS…`, which must succeed: its report.
fn bench_report(state: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_symphony"))
        .arg("--state-dir")
        .arg(state)
        .args(["bench", "--quick", "--json"])
        .args(args)
        .current_dir(root())
        .output()
        .expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).expect("one JSON object")
}

#[test]
fn bench_json_reports_every_path_of_the_per_call_scenario_with_ratios_to_raw() {
    let state = tempfile::tempdir().expect("temp dir");
    let report = bench_report(state.path(), &["--scenario", "per-call-echo", "--calls", "20"]);
    assert_eq!(report["quick"], true);
    assert!(report["machine"]["cores"].as_u64() >= Some(1));
    let rows = report["rows"].as_array().expect("rows");
    let variants: Vec<&str> = rows.iter().filter_map(|r| r["variant"].as_str()).collect();
    assert_eq!(variants, ["raw wasmtime", "sandbox", "conductor"]);
    for row in rows {
        assert_eq!(row["scenario"], "per-call-echo", "{row}");
        assert_eq!(row["samples"], 20, "{row}");
        assert!(row["median"].as_f64() > Some(0.0), "{row}");
        assert!(row["ratio"].as_f64() > Some(0.0), "{row}");
        assert_eq!(row["baseline"], "raw wasmtime", "{row}");
    }
    assert!(rows[0]["target"].is_null());
    assert_eq!(rows[1]["target"]["bound"], "<=");
}

#[test]
fn bench_measures_the_service_through_a_real_serve_child() {
    // The servers' state directories trust the pins of this one.
    let state = support::state_dir();
    let args = ["--calls", "20", "--scenario", "serve-overhead", "--scenario", "serve-tenants"];
    let report = bench_report(state.path(), &args);
    let rows = report["rows"].as_array().expect("rows");
    let variants: Vec<(&str, &str)> =
        rows.iter().filter_map(|r| Some((r["scenario"].as_str()?, r["variant"].as_str()?))).collect();
    assert_eq!(
        variants,
        [
            ("serve-overhead", "echo in process"),
            ("serve-overhead", "echo through serve"),
            ("serve-tenants", "tenant steady alone"),
            ("serve-tenants", "steady beside a flood at quota 1"),
            ("serve-tenants", "steady beside a flood at quota 2"),
        ]
    );
    for row in &rows[..2] {
        assert_eq!(row["samples"], 20, "{row}");
        assert!(row["ratio"].as_f64() > Some(0.0), "{row}");
    }
    for row in &rows[2..] {
        assert!(row["samples"].as_u64() > Some(10), "{row}");
        assert!(row["p99"].as_f64() > Some(0.0), "{row}");
    }
    for row in &rows[3..] {
        assert_eq!(row["target"]["value"], 2.0, "{row}");
        assert!(row["ratio"].as_f64() > Some(0.0), "{row}");
    }
}
