//! End-to-end tests of the `symphony` binary against the built sample components: the JSON
//! contract of `run`, exit codes, `check`, and config errors that name file and line.

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

#[test]
fn run_echo_json_gives_status_ok_with_the_same_output() {
    let (code, json, text) = symphony(&["run", "echo", "--input", r#"{"a":1}"#, "--json"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["output"], serde_json::json!({"a": 1}));
    for key in ["fuel", "memory_peak_bytes", "wall_ms"] {
        assert!(json["usage"][key].is_u64(), "usage.{key} in {json}");
    }
    assert!(json["usage"]["fuel"].as_u64() > Some(0));
}

#[test]
fn run_hostile_samples_report_typed_host_errors_and_exit_non_zero() {
    for (name, kinds) in [
        ("infinite-loop", &["out_of_fuel", "deadline_exceeded"][..]),
        ("memory-bomb", &["memory_limit"][..]),
        ("stack-bomb", &["stack_overflow"][..]),
        ("output-bomb", &["output_too_large"][..]),
    ] {
        let (code, json, text) = symphony(&["run", name, "--json"]);
        assert_eq!(code, 1, "{name}: {text}");
        assert_eq!(json["status"], "error", "{name}: {json}");
        assert_eq!(json["error"]["source"], "host", "{name}: {json}");
        assert_eq!(json["error"]["class"], "fatal", "{name}: {json}");
        let kind = json["error"]["kind"].as_str().unwrap_or_default();
        assert!(kinds.contains(&kind), "{name}: got {kind}");
    }
}

#[test]
fn run_flaky_configured_to_fail_gives_a_transient_guest_error() {
    let (code, json, _) = symphony(&["run", "flaky", "--input", r#"{"fail_times":1}"#, "--json", "--direct"]);
    assert_eq!(code, 1);
    assert_eq!(json["error"]["source"], "guest");
    assert_eq!(json["error"]["kind"], "unavailable");
    assert_eq!(json["error"]["class"], "transient");
}

#[test]
fn run_goes_through_the_conductor_flaky_failing_twice_succeeds_on_the_third_attempt() {
    let (code, json, text) = symphony(&["run", "flaky", "--input", r#"{"fail_times":2}"#, "--json"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["served_by"], "flaky@1.0.0");
    assert_eq!(json["fallback"], false);
    assert_eq!(json["degraded"], false);
    let attempts = json["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3, "{json}");
    assert_eq!(attempts[0]["error_kind"], "unavailable");
    assert_eq!(attempts[2]["error_kind"], serde_json::Value::Null);
    assert_eq!(json["output"]["attempt"], 3);
}

#[test]
fn run_stops_retrying_when_attempts_are_spent_and_never_retries_fatal_errors() {
    let (code, json, _) = symphony(&["run", "flaky", "--input", r#"{"fail_times":9}"#, "--json"]);
    assert_eq!(code, 1);
    assert_eq!(
        (json["error"]["kind"].as_str(), json["error"]["class"].as_str()),
        (Some("unavailable"), Some("transient"))
    );
    assert_eq!(json["attempts"].as_array().map(Vec::len), Some(3));

    let (code, json, _) = symphony(&["run", "memory-bomb", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(json["attempts"].as_array().map(Vec::len), Some(1), "fatal: never retried");
}

#[test]
fn run_accepts_a_manifest_path_and_an_input_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"text":"a b c"}"#).expect("write");
    let manifest = root().join("sample-extensions/text-stats/extension.toml");
    let (code, json, text) = symphony(&[
        "run",
        manifest.to_str().unwrap_or_default(),
        "--input-file",
        input.to_str().unwrap_or_default(),
        "--json",
    ]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["output"]["words"], 3);
}

#[test]
fn invalid_json_input_is_refused_as_unusable() {
    let (code, _, text) = symphony(&["run", "echo", "--input", "{not json"]);
    assert_eq!(code, 2);
    assert!(text.contains("line 1"), "{text}");
}

#[test]
fn an_input_file_over_the_limit_is_refused_by_its_size_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("huge.json");
    // Sparse: 100 MiB on paper, nothing on disk; reading it whole would hold 100 MiB.
    std::fs::File::create(&input).expect("create").set_len(100 << 20).expect("size");
    let (code, json, text) =
        symphony(&["run", "echo", "--input-file", input.to_str().unwrap_or_default(), "--json", "--direct"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(json["error"]["kind"], "input_too_large", "{json}");
}

#[test]
fn a_bad_manifest_exits_with_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("extension.toml"), "name = \"bad\"\nversion = 1\n").expect("write");
    let (code, json, text) = symphony(&["run", dir.path().to_str().unwrap_or_default(), "--json"]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(json["error"]["kind"], "manifest_invalid", "{json}");
}

#[test]
fn run_through_the_conductor_carries_the_last_attempts_log() {
    let (code, json, text) = symphony(&[
        "run",
        "log-flood",
        "--input",
        r#"{"log_lines":3,"stdout_lines":0,"stderr_lines":0}"#,
        "--json",
    ]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["log"]["records"].as_array().map(Vec::len), Some(3), "{json}");
}

#[test]
fn check_passes_on_the_samples() {
    let (code, _, text) = symphony(&["check"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn a_bad_config_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("symphony.toml");
    std::fs::write(&config, "[policy.ceilings]\nmemory_bytes = \"lots\"\n").expect("write");
    let (code, _, text) = symphony(&["--config", config.to_str().unwrap_or_default(), "check"]);
    assert_eq!(code, 2);
    assert!(text.contains("symphony.toml:2"), "{text}");
    assert!(text.contains("policy.ceilings.memory_bytes"), "{text}");
}

/// A copy of the echo sample (manifest + component) in its own directory with its own state dir.
fn echo_copy() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ext = dir.path().join("echo");
    std::fs::create_dir_all(&ext).expect("mkdir");
    for file in ["extension.toml", "echo.wasm"] {
        std::fs::copy(root().join("sample-extensions/echo").join(file), ext.join(file)).expect("copy sample");
    }
    let state = dir.path().join("state");
    (dir, ext, state)
}

#[test]
fn unpinned_then_pinned_then_one_edited_byte_is_a_hash_mismatch() {
    let (_dir, ext, state) = echo_copy();
    let (ext, state) = (ext.to_str().unwrap_or_default(), state.to_str().unwrap_or_default());

    let (code, json, _) = symphony(&["--state-dir", state, "run", ext, "--json"]);
    assert_eq!((code, json["error"]["kind"].as_str()), (1, Some("component_unpinned")), "{json}");

    let (code, _, text) = symphony(&["--state-dir", state, "pin", ext]);
    assert_eq!(code, 0, "{text}");
    let (code, json, _) = symphony(&["--state-dir", state, "run", ext, "--json"]);
    assert_eq!((code, json["status"].as_str()), (0, Some("ok")), "{json}");

    let wasm = Path::new(ext).join("echo.wasm");
    let mut bytes = std::fs::read(&wasm).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&wasm, bytes).expect("write");
    let (code, json, _) = symphony(&["--state-dir", state, "run", ext, "--json"]);
    assert_eq!(code, 1);
    assert_eq!(json["error"]["kind"], "hash_mismatch", "{json}");
    assert_eq!(json["error"]["class"], "fatal");
}

#[test]
fn audit_log_verifies_then_names_the_record_a_changed_byte_broke() {
    let (_dir, ext, state) = echo_copy();
    let (ext, state_str) = (ext.to_str().unwrap_or_default(), state.to_str().unwrap_or_default());
    assert_eq!(symphony(&["--state-dir", state_str, "pin", ext]).0, 0);
    for _ in 0..3 {
        assert_eq!(symphony(&["--state-dir", state_str, "run", ext]).0, 0);
    }
    let (code, _, text) = symphony(&["--state-dir", state_str, "audit", "verify"]);
    assert_eq!(code, 0, "{text}");

    let log = state.join("audit.log");
    let mut bytes = std::fs::read(&log).expect("read log");
    let lines: Vec<usize> = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).collect();
    assert!(lines.len() >= 4, "pin + loads recorded");
    // Change one byte inside the third record.
    let target = lines[1] + 20;
    bytes[target] = if bytes[target] == b'7' { b'8' } else { b'7' };
    std::fs::write(&log, bytes).expect("write log");
    let (code, _, text) = symphony(&["--state-dir", state_str, "audit", "verify"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("line 3"), "{text}");
}

#[test]
fn audit_json_lists_every_sample_with_limits_in_base_units() {
    let config = root().join("sample-extensions/symphony.toml");
    let (code, json, text) = symphony(&["--config", config.to_str().unwrap_or_default(), "audit", "--json"]);
    assert_eq!(code, 0, "{text}");
    let entries = json.as_array().expect("an array");
    let names: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
    for sample in ["echo", "text-stats", "memory-bomb", "fs-escape", "env-secret"] {
        assert!(names.contains(&sample), "{sample} missing from {names:?}");
    }
    let bomb = entries.iter().find(|e| e["name"] == "memory-bomb").expect("memory-bomb");
    assert_eq!(bomb["limits"]["memory_bytes"], 16 * 1024 * 1024);
    assert!(bomb["sha256"].as_str().is_some_and(|s| s.len() == 64));
    let fs = entries.iter().find(|e| e["name"] == "fs-escape").expect("fs-escape");
    assert_eq!(fs["capabilities"]["filesystem"][0]["access"], "read-only");
    let env = entries.iter().find(|e| e["name"] == "env-secret").expect("env-secret");
    assert_eq!(env["capabilities"]["env"]["GREETING"], "hello from the platform policy");
    assert_eq!(env["capabilities"]["clocks"], false);
}

#[test]
fn the_newer_versions_failure_is_served_by_the_older_version() {
    let config = root().join("sample-extensions/symphony.toml");
    let text = "A long text. ".repeat(30);
    let input = serde_json::json!({ "text": text }).to_string();
    let (code, json, out) = symphony(&[
        "--config",
        config.to_str().unwrap_or_default(),
        "run",
        "summarize@2.0.0",
        "--input",
        &input,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(json["served_by"], "summarize@1.0.0", "{json}");
    assert_eq!(json["fallback"], true);
    assert_eq!(json["degraded"], false);
    let attempts = json["attempts"].as_array().expect("attempts");
    assert_eq!(attempts[0]["extension"], "summarize@2.0.0");
    assert_eq!(attempts[0]["error_kind"], "unable_to_complete");
}

#[test]
fn the_miner_is_quarantined_across_runs_and_lifting_it_is_audited() {
    let state = tempfile::tempdir().expect("state dir");
    let state = state.path().to_str().unwrap_or_default().to_owned();
    let with_state = |args: &[&str]| {
        let mut all = vec!["--state-dir", state.as_str()];
        all.extend_from_slice(args);
        symphony(&all)
    };
    assert_eq!(with_state(&["pin", "miner"]).0, 0);
    assert_eq!(with_state(&["pin", "text-stats"]).0, 0);
    // Each run is its own process: the history that catches the miner is the persisted one.
    let mut refused = None;
    for call in 1..=12 {
        let (code, json, text) = with_state(&["run", "miner", "--json"]);
        if code != 0 {
            assert_eq!(json["error"]["kind"], "quarantined", "{text}");
            refused = Some(call);
            break;
        }
        let (code, _, text) = with_state(&["run", "text-stats", "--input", r#"{"text":"a few words here"}"#]);
        assert_eq!(code, 0, "{text}");
    }
    assert_eq!(refused, Some(11), "flagged on its 10th call, refused from the 11th");
    let (code, json, text) = with_state(&["run", "miner", "--direct", "--json"]);
    assert_eq!((code, &json["error"]["kind"]), (1, &Value::from("quarantined")), "--direct too: {text}");

    let (code, json, text) = with_state(&["health", "--json"]);
    assert_eq!(code, 0, "{text}");
    let entries = json.as_array().expect("an array");
    let miner = entries.iter().find(|e| e["extension"] == "miner@1.0.0").expect("miner");
    assert_eq!(miner["status"], "quarantined", "{miner}");
    assert_eq!(miner["breaker"], "open");
    let finding = &miner["recent_anomalies"][0];
    assert_eq!(finding["action"], "quarantine");
    let evidence = &finding["anomaly"];
    assert_eq!(evidence["detector"], "profile_violation");
    assert_eq!(evidence["declared"], 1_000_000);
    assert!(evidence["ratio"].as_f64() > Some(10.0), "{evidence}");
    let text_stats = entries.iter().find(|e| e["extension"] == "text-stats@1.0.0").expect("text-stats");
    assert_eq!(text_stats["status"], "healthy", "{text_stats}");
    let echo = entries.iter().find(|e| e["extension"] == "echo@1.0.0").expect("never-called samples listed");
    assert_eq!(echo["status"], "healthy");

    let (code, json, text) =
        with_state(&["health", "reset", "miner@1.0.0", "--reason", "reviewed", "--json"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["lifted"], true);
    assert_eq!(with_state(&["run", "miner"]).0, 0, "serving again after the lift");

    let (code, _, text) = with_state(&["audit", "verify"]);
    assert_eq!(code, 0, "{text}");
    let log = std::fs::read_to_string(Path::new(&state).join("audit.log")).expect("audit log");
    let events: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let of =
        |kind: &str| events.iter().filter(|e| e["event"] == kind && e["extension"] == "miner@1.0.0").count();
    // The fuel violation quarantines once. On a slow or busy machine the miner's wall time may
    // exceed its declared profile too: that finding only throttles (time alone never quarantines).
    let quarantining = events
        .iter()
        .filter(|e| e["event"] == "anomaly_detected" && e["details"]["action"] == "quarantine")
        .count();
    assert_eq!(quarantining, 1, "{log}");
    let other_actions: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "anomaly_detected" && e["details"]["action"] != "quarantine")
        .map(|e| &e["details"]["action"])
        .collect();
    assert!(other_actions.iter().all(|a| *a == "throttle"), "{other_actions:?}");
    assert_eq!(of("quarantined"), 1);
    assert_eq!(of("quarantine_lifted"), 1);
}

#[test]
fn the_configs_reservation_budget_reaches_the_pool_and_a_call_above_it_is_not_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("symphony.toml");
    let samples = root().join("sample-extensions");
    std::fs::write(
        &config,
        format!(
            "extension_dirs = [{:?}]\n[reservation]\nmemory_budget_bytes = \"1 MiB\"\n",
            samples.display().to_string()
        ),
    )
    .expect("write");
    let config = config.to_str().unwrap_or_default();
    let (code, json, text) = symphony(&["run", "echo", "--input", "{}", "--json", "--config", config]);
    assert_ne!(code, 0, "{text}");
    assert_eq!(json["error"]["kind"], "exceeds_budget", "{json}");
    assert_eq!(json["error"]["class"], "fatal", "{json}");

    std::fs::write(dir.path().join("symphony.toml"), "[reservation]\nfuel_budget = 0\n").expect("write");
    let (code, _, text) = symphony(&["run", "echo", "--input", "{}", "--json", "--config", config]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("reservation.fuel_budget"), "{text}");
}

#[test]
fn check_warns_when_a_ceiling_exceeds_the_reservation_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("symphony.toml");
    std::fs::write(&config, "extension_dirs = []\n[reservation]\nfuel_budget = 1000\n").expect("write");
    let (code, _, text) = symphony(&["check", "--config", config.to_str().unwrap_or_default()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("policy.ceilings.fuel") && text.contains("reservation.fuel_budget"), "{text}");
    assert!(!text.contains("policy.ceilings.memory_bytes"), "memory is within its budget: {text}");
}

/// The binary's raw output, with `RUST_LOG` cleared so its default log filter applies.
fn symphony_output(args: &[&str], envs: &[(&str, &Path)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_symphony"));
    command.args(args).current_dir(root()).env_remove("RUST_LOG");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("spawn")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

#[test]
fn run_of_a_missing_extension_exits_2_with_extension_not_found() {
    let (code, json, text) = symphony(&["run", "no-such-extension", "--json"]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(json["error"]["kind"], "extension_not_found", "{json}");
}

#[test]
fn run_with_input_that_is_not_json_or_not_there_exits_2_as_unusable() {
    let (code, json, text) = symphony(&["run", "echo", "--input", "{not json", "--json"]);
    assert_eq!((code, json["status"].as_str()), (2, Some("unusable")), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.json");
    let (code, json, text) = symphony(&["run", "echo", "--input-file", path_str(&missing), "--json"]);
    assert_eq!((code, json["status"].as_str()), (2, Some("unusable")), "{text}");
}

#[test]
fn run_whose_guest_answers_with_an_error_exits_1() {
    let (code, json, text) = symphony(&["run", "flaky", "--input", r#"{"fail_times":9}"#, "--json"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!((json["status"].as_str(), json["error"]["source"].as_str()), (Some("error"), Some("guest")));
}

#[test]
fn run_with_a_broken_config_file_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("symphony.toml");
    std::fs::write(&config, "extension_dirs = []\n[policy.ceilings]\nmemory_bytes = \"lots\"\n")
        .expect("write");
    let (code, _, text) = symphony(&["--config", path_str(&config), "run", "echo"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(&format!("{}:3", config.display())), "file:line in {text}");

    let absent = dir.path().join("absent.toml");
    let (code, _, text) = symphony(&["--config", path_str(&absent), "run", "echo"]);
    assert_eq!(code, 2, "{text}");
}

#[test]
fn an_unusable_state_directory_exits_2_for_every_command_that_needs_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_dir = dir.path().join("state");
    std::fs::write(&not_a_dir, "a file, not a directory").expect("write");
    let state = path_str(&not_a_dir);
    for args in
        [&["run", "echo"][..], &["health"], &["health", "reset", "echo"], &["pin", "echo"], &["audit"]]
    {
        let mut all = vec!["--state-dir", state];
        all.extend_from_slice(args);
        let (code, _, text) = symphony(&all);
        assert_eq!(code, 2, "{args:?}: {text}");
    }
}

#[test]
fn pin_and_health_reset_of_a_missing_extension_exit_2() {
    let state = tempfile::tempdir().expect("state dir");
    let state = path_str(state.path());
    assert_eq!(symphony(&["--state-dir", state, "pin", "no-such-extension"]).0, 2);
    assert_eq!(symphony(&["--state-dir", state, "health", "reset", "no-such-extension"]).0, 2);
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(symphony(&["run"]).0, 2, "missing EXT");
    assert_eq!(symphony(&["run", "echo", "--no-such-flag"]).0, 2);
    assert_eq!(symphony(&["no-such-command"]).0, 2);
}

#[test]
fn audit_verify_of_a_log_it_cannot_read_exits_2() {
    let state = tempfile::tempdir().expect("state dir");
    // A directory where the log should be: not a broken chain, an unreadable file.
    std::fs::create_dir(state.path().join("audit.log")).expect("mkdir");
    let (code, _, text) = symphony(&["--state-dir", path_str(state.path()), "audit", "verify"]);
    assert_eq!(code, 2, "{text}");
}

/// A config whose only extension directory holds one broken manifest.
fn config_with_a_broken_manifest() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ext = dir.path().join("extensions/bad");
    std::fs::create_dir_all(&ext).expect("mkdir");
    std::fs::write(ext.join("extension.toml"), "name = \"bad\"\nversion = 1\n").expect("write");
    let config = dir.path().join("symphony.toml");
    std::fs::write(&config, format!("extension_dirs = [{:?}]\n", path_str(&dir.path().join("extensions"))))
        .expect("write");
    (dir, config)
}

#[test]
fn check_and_audit_that_find_a_broken_manifest_exit_1() {
    let (dir, config) = config_with_a_broken_manifest();
    let state = dir.path().join("state");
    let (config, state) = (path_str(&config), path_str(&state));
    let (code, _, text) = symphony(&["--config", config, "--state-dir", state, "check"]);
    assert_eq!(code, 1, "{text}");
    let (code, _, text) = symphony(&["--config", config, "--state-dir", state, "audit"]);
    assert_eq!(code, 1, "{text}");
}

#[test]
fn warnings_on_a_pipe_carry_no_colour_codes() {
    let (_dir, ext, state) = echo_copy();
    let (ext, state_str) = (path_str(&ext), path_str(&state));
    assert_eq!(symphony(&["--state-dir", state_str, "pin", ext]).0, 0);
    // A record that does not parse: the next writer warns and restarts the chain.
    let log = state.join("audit.log");
    let mut bytes = std::fs::read(&log).expect("read log");
    bytes.extend_from_slice(b"not a record\n");
    std::fs::write(&log, bytes).expect("write log");
    let out = symphony_output(&["--state-dir", state_str, "run", ext], &[]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" WARN "), "a warning was logged: {stderr}");
    assert!(!stderr.contains('\x1b'), "no escape codes on a pipe: {stderr:?}");

    // clap's own errors too.
    let out = symphony_output(&["run", "--no-such-flag"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\x1b'));
}

/// A dependency-free wasm crate with a manifest, `body` as its `src/lib.rs`.
fn tiny_crate(parent: &Path, name: &str, body: &str) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("extension.toml"),
        format!("name = \"{name}\"\nversion = \"0.1.0\"\ncomponent = \"{name}.wasm\"\n"),
    )
    .expect("write");
    std::fs::write(dir.join("src/lib.rs"), body).expect("write");
    dir
}

#[test]
fn build_off_a_terminal_prints_one_plain_line_per_crate_started_and_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crates = dir.path().join("crates");
    let target = dir.path().join("target");
    let state = dir.path().join("state");
    for name in ["tiny-a", "tiny-b"] {
        tiny_crate(&crates, name, "#[unsafe(no_mangle)]\npub extern \"C\" fn answer() -> i32 { 42 }\n");
    }
    let out = symphony_output(
        &["--state-dir", path_str(&state), "build", path_str(&crates)],
        &[("CARGO_TARGET_DIR", &target)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains('\r') && !stderr.contains('\x1b'), "no redraws on a pipe: {stderr:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    let started: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("building ")).collect();
    let finished: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("built ")).collect();
    assert_eq!(started.len(), 2, "{stderr}");
    assert!(started[0].starts_with("building [1/2] ") && started[0].ends_with("tiny-a"), "{stderr}");
    assert!(started[1].starts_with("building [2/2] ") && started[1].ends_with("tiny-b"), "{stderr}");
    assert_eq!(finished.len(), 2, "{stderr}");
    for (line, id) in finished.iter().zip(["tiny-a@0.1.0", "tiny-b@0.1.0"]) {
        assert!(line.starts_with(&format!("built {id} → ")), "{line}");
        assert!(line.contains(" s, sha256 "), "time and hash: {line}");
    }
    assert!(crates.join("tiny-a/tiny-a.wasm").is_file());
}

#[test]
fn build_exits_1_when_a_crate_does_not_compile_and_2_when_there_is_nothing_to_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("target");
    let state = dir.path().join("state");
    let broken = tiny_crate(dir.path(), "tiny-broken", "pub fn f() -> i32 { \"not a number\" }\n");
    let out = symphony_output(
        &["--state-dir", path_str(&state), "build", path_str(&broken)],
        &[("CARGO_TARGET_DIR", &target)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("failed [1/1] ")), "{stderr}");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = symphony_output(&["--state-dir", path_str(&state), "build", path_str(&empty)], &[]);
    assert_eq!(out.status.code(), Some(2));
}
