//! `symphony workflow` end to end against the built sample components: `check` reports each
//! kind of finding with file, line and step (one broken file per finding under
//! tests/workflows/broken), `[workflows]` limits are obeyed, and `run --json` reports the sample
//! pipeline per step, including the chain break caught between summarize 2.0.0 and
//! format-report and routed to summarize 1.0.0.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn symphony(args: &[&str]) -> (i32, Value, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_symphony")).args(args).current_dir(root()).output().expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stdout + &String::from_utf8_lossy(&out.stderr))
}

const BROKEN: &str = "tests/workflows/broken";

/// `(file, kind, step, line)` of the finding each broken file exists for.
const EXPECTED: &[(&str, &str, Option<&str>, u64)] = &[
    ("unknown-step", "unknown_step", Some("summarize"), 11),
    ("unknown-extension", "unknown_extension", Some("summarize"), 6),
    ("cycle", "cycle", Some("a"), 7),
    ("unreachable", "unreachable", Some("after"), 12),
    ("not-ancestor", "not_ancestor", Some("format"), 18),
    ("pointer-not-in-schema", "pointer_not_in_schema", Some("summarize"), 12),
    ("incompatible", "incompatible", Some("format"), 18),
    ("missing-features", "missing_features", Some("summarize"), 6),
    ("continue-with-dependents", "continue_with_dependents", Some("a"), 7),
    ("unknown-profile", "unknown_profile", Some("a"), 7),
    ("too-many-steps", "too_many_steps", None, 2),
    ("too-deep", "too_deep", Some("s16"), 86),
];

#[test]
fn check_reports_each_kind_of_finding_with_file_line_and_step() {
    for &(file, kind, step, line) in EXPECTED {
        let path = format!("{BROKEN}/{file}.toml");
        let (code, json, text) = symphony(&["workflow", "check", &path, "--json"]);
        assert_eq!(code, 1, "{file}: {text}");
        let findings = json.as_array().expect("a JSON array of findings");
        let found = findings.iter().find(|f| f["kind"] == kind);
        let found = found.unwrap_or_else(|| panic!("{file}: no `{kind}` finding in {json}"));
        assert_eq!(found["severity"], "error", "{file}: {found}");
        assert_eq!(found["line"], line, "{file}: {found}");
        assert_eq!(found["step"].as_str(), step, "{file}: {found}");
        assert!(found["path"].as_str().is_some_and(|p| p.ends_with(&format!("{file}.toml"))), "{found}");
    }
}

#[test]
fn findings_carry_what_was_found() {
    let check = |file: &str| symphony(&["workflow", "check", &format!("{BROKEN}/{file}.toml"), "--json"]).1;
    assert_eq!(check("cycle")[0]["steps"], serde_json::json!(["a", "b", "a"]));
    assert_eq!(check("unknown-step")[0]["did_you_mean"], "extract");
    assert_eq!(check("unknown-extension")[0]["did_you_mean"], "summarize");
    let deep = check("too-deep");
    assert_eq!((deep[0]["depth"].as_u64(), deep[0]["limit"].as_u64()), (Some(17), Some(16)));
    let pointer = check("pointer-not-in-schema");
    assert_eq!(
        (pointer[0]["source"].as_str(), pointer[0]["pointer"].as_str()),
        (Some("$steps.extract"), Some("/abstract"))
    );
    assert_eq!(check("missing-features")[0]["missing"], serde_json::json!(["summarize-keywords"]));
    assert_eq!(check("incompatible")[0]["pointer"], "/title");
}

#[test]
fn an_unknown_field_in_a_definition_is_refused_with_its_line() {
    let path = format!("{BROKEN}/unknown-field.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_symphony"))
        .args(["workflow", "check", &path, "--json"])
        .current_dir(root())
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    let refusal: Value = serde_json::from_slice(&out.stderr).expect("one JSON object on stderr");
    assert_eq!(refusal["status"], "unusable");
    assert_eq!(refusal["at"]["line"], 7, "{refusal}");
    assert_eq!(refusal["at"]["field"], "steps[0].retries", "{refusal}");
}

#[test]
fn the_sample_workflows_pass_with_the_one_warning_their_schemas_predict() {
    let (code, json, text) = symphony(&["workflow", "check", "--json"]);
    assert_eq!(code, 0, "{text}");
    let findings = json.as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{json}");
    assert_eq!(findings[0]["severity"], "warning");
    assert_eq!(findings[0]["kind"], "incompatible");
    assert_eq!(findings[0]["pointer"], "/summary/keywords");
}

/// A config over the samples with these `[workflows]` limits.
fn config_with_limits(dir: &Path, limits: &str) -> PathBuf {
    let samples = root().join("sample-extensions");
    let path = dir.join("symphony.toml");
    let text = format!(
        "extension_dirs = [{:?}]\nworkflow_dirs = [{:?}]\n[workflows]\n{limits}\n",
        samples.display().to_string(),
        samples.join("workflows").display().to_string()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn the_workflows_limits_of_the_config_are_the_ones_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raised = config_with_limits(dir.path(), "max_steps = 100\nmax_depth = 100");
    let raised = raised.to_str().expect("utf-8 path");
    for file in ["too-many-steps", "too-deep"] {
        let path = format!("{BROKEN}/{file}.toml");
        let (code, json, text) = symphony(&["--config", raised, "workflow", "check", &path, "--json"]);
        assert_eq!((code, json.as_array().map(Vec::len)), (0, Some(0)), "{file} under raised limits: {text}");
    }
    let lowered = tempfile::tempdir().expect("tempdir");
    let lowered = config_with_limits(lowered.path(), "max_steps = 2\nmax_depth = 2");
    let lowered = lowered.to_str().expect("utf-8 path");
    let (code, json, text) = symphony(&["--config", lowered, "workflow", "check", "report", "--json"]);
    assert_eq!(code, 1, "{text}");
    let kinds: Vec<&str> =
        json.as_array().expect("findings").iter().filter_map(|f| f["kind"].as_str()).collect();
    assert!(kinds.contains(&"too_many_steps") && kinds.contains(&"too_deep"), "{json}");
}

#[test]
fn a_misspelled_workflow_name_suggests_the_right_one() {
    let (code, json, text) = symphony(&["workflow", "run", "reprot", "--json"]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(json["status"], "unusable");
    assert_eq!(json["did_you_mean"], "report", "{json}");
}

fn run_report(input_file: &str) -> Value {
    let input = format!("sample-extensions/workflows/inputs/{input_file}");
    let (code, json, text) = symphony(&["workflow", "run", "report", "--input-file", &input, "--json"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["status"], "succeeded", "{json}");
    json
}

#[test]
fn run_reports_the_sample_pipeline_per_step() {
    let json = run_report("report-ok.json");
    let steps = json["steps"].as_array().expect("steps");
    let served: Vec<&str> = steps.iter().filter_map(|s| s["served_by"].as_str()).collect();
    assert_eq!(served, ["extract@1.0.0", "summarize@2.0.0", "format-report@1.0.0"]);
    for step in steps {
        assert_eq!(step["status"], "ok", "{step}");
        assert_eq!(step["attempts"].as_array().map(Vec::len), Some(1), "{step}");
        assert_eq!(step["fallback"], false, "{step}");
        assert!(step["usage"]["fuel"].as_u64() > Some(0), "{step}");
    }
    let report = json["output"]["report"].as_str().expect("a report");
    assert!(report.starts_with("# Release notes\n"), "{report}");
    assert_eq!(json["output"], steps[2]["output"]);
}

#[test]
fn a_chain_break_between_two_steps_is_caught_and_routed_to_the_fallback() {
    let json = run_report("report-edge.json");
    let summarize = &json["steps"][1];
    assert_eq!(summarize["served_by"], "summarize@1.0.0", "{summarize}");
    assert_eq!(summarize["fallback"], true);
    let attempts = summarize["attempts"].as_array().expect("attempts");
    assert_eq!(attempts[0]["extension"], "summarize@2.0.0");
    assert_eq!(attempts[0]["error_kind"], "contract_violation");
    assert_eq!(attempts[0]["error_source"], "conductor");
    assert_eq!(attempts[1]["error_kind"], Value::Null);
    assert_eq!(json["steps"][2]["status"], "ok");
    assert!(json["steps"][2]["output"]["report"].as_str().is_some_and(|r| !r.contains("Keywords")));
}
