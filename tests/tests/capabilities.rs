//! Deny-by-default capabilities against real hostile guests: each gets the answer a locked-down
//! system gives (no trap), the attempt is recorded as a denial, and what the policy grants is
//! exactly what the guest can use — never more.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use serde_json::{Value, json};
use symphony_host::config::PlatformConfig;
use symphony_host::types::capability::WORKFLOW_OUTPUT_GUEST_PATH;
use symphony_host::types::capability::denials::{CapabilityDenial, CapabilityKind};
use symphony_host::{CallError, CallOutcome, CallRequest, ExtensionError, HostError, Runtime, TrapCode};
use symphony_tests::{assert_still_serving, call_json, load, workspace_root};

/// A runtime under `sample-extensions/symphony.toml`, the sample platform policy.
fn sample_policy_runtime() -> Runtime {
    let config = PlatformConfig::load_file(&workspace_root().join("sample-extensions/symphony.toml"))
        .expect("sample config parses");
    Runtime::new(config).expect("engine").allow_unpinned()
}

fn output(outcome: &CallOutcome) -> Value {
    outcome.result.as_ref().expect("the guest is contained without failing").to_json().expect("json output")
}

fn denied(outcome: &CallOutcome, capability: CapabilityKind) -> u64 {
    outcome.denials.iter().filter(|d| d.capability == capability).map(|d| d.attempts).sum()
}

#[tokio::test]
async fn fs_escape_reads_its_grant_and_nothing_outside_it() {
    let runtime = sample_policy_runtime();
    let ext = runtime.load("fs-escape").expect("load");
    let outcome = call_json(&ext, json!({})).await;
    assert_eq!(denied(&outcome, CapabilityKind::Filesystem), 0, "granted, so not a denial");
    let out = output(&outcome);
    assert_eq!(out["allowed"], "inside the sandbox", "{out}");
    assert_eq!(out["leaked"], false, "{out}");
    let attempts = out["attempts"].as_array().expect("attempts");
    assert!(attempts.len() >= 5, "{out}");
    for attempt in attempts {
        assert_eq!(attempt["ok"], false, "escape attempt succeeded: {attempt}");
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn fs_escape_without_a_policy_rule_sees_no_filesystem_at_all() {
    let ext = load("fs-escape");
    assert!(ext.grant().filesystem.is_empty());
    let outcome = call_json(&ext, json!({})).await;
    assert!(
        denied(&outcome, CapabilityKind::Filesystem) >= 1,
        "the attempt is recorded: {:?}",
        outcome.denials
    );
    let out = output(&outcome);
    assert_ne!(out["allowed"], "inside the sandbox", "{out}");
    assert_eq!(out["leaked"], false, "{out}");
}

#[tokio::test]
async fn env_secret_sees_only_granted_variables_with_policy_values() {
    let runtime = sample_policy_runtime();
    let ext = runtime.load("env-secret").expect("load");
    let out = output(&call_json(&ext, json!({})).await);
    assert_eq!(out["greeting"], "hello from the platform policy", "{out}");
    assert_eq!(out["secret_token"], Value::Null, "{out}");
    assert_eq!(out["all_vars"], json!(["GREETING"]), "the host's environment never leaks: {out}");

    let ungranted = load("env-secret");
    let outcome = call_json(&ungranted, json!({})).await;
    assert!(denied(&outcome, CapabilityKind::Env) >= 1, "the attempt is recorded: {:?}", outcome.denials);
    let out = output(&outcome);
    assert_eq!(out["all_vars"], json!([]), "{out}");
}

#[tokio::test]
async fn network_connect_is_refused_and_recorded() {
    let ext = load("net-connect");
    let outcome = call_json(&ext, json!({"addr": "127.0.0.1:9"})).await;
    let out = output(&outcome);
    assert_eq!(out["connected"], false, "{out}");
    assert!(denied(&outcome, CapabilityKind::Network) >= 1, "{:?}", outcome.denials);
    assert!(outcome.denials.iter().any(|d| d.target.starts_with("127.0.0.1:9")));
    assert_still_serving().await;
}

#[tokio::test]
async fn clocks_and_random_are_frozen_when_not_granted() {
    let ext = load("clock-abuse");
    let first = call_json(&ext, json!({})).await;
    let second = call_json(&ext, json!({})).await;
    let (a, b) = (output(&first), output(&second));
    assert_eq!(a["unix_ms"], 0, "{a}");
    assert_eq!(a["elapsed_ns"], 0, "{a}");
    assert_eq!(a, b, "a denied clock and random carry no information between calls");
    assert!(denied(&first, CapabilityKind::Clocks) >= 1, "{:?}", first.denials);
    // `wasi:random/insecure-seed` (what HashMap seeds from) is a constant the host fixes per
    // context, so it cannot be observed per call; equal hashes across calls above are the proof.
}

#[tokio::test]
async fn clocks_and_random_work_when_declared_and_allowed() {
    let runtime = sample_policy_runtime();
    let ext = runtime.load("clock-user").expect("load");
    let outcome = call_json(&ext, json!({})).await;
    let out = output(&outcome);
    assert!(out["unix_ms"].as_u64() > Some(1_600_000_000_000), "{out}");
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
}

#[tokio::test]
async fn log_flood_is_truncated_and_counted_with_stdio_captured() {
    let runtime = sample_policy_runtime();
    let ext = runtime.load("log-flood").expect("load");
    let limit = ext.limits().limits.log_bytes;
    let flood = json!({"log_lines": 20_000, "stdout_lines": 2_000, "stderr_lines": 2_000});
    let outcome = call_json(&ext, flood.clone()).await;
    assert!(outcome.result.is_ok(), "a log flood never fails the call: {:?}", outcome.result);
    assert!(outcome.log.kept_bytes <= limit);
    assert!(outcome.log.dropped_records > 1000, "{}", outcome.log.dropped_records);
    assert!(outcome.denials.is_empty());

    let ungranted = load("log-flood");
    let outcome = call_json(&ungranted, flood).await;
    assert!(outcome.result.is_ok());
    assert!(denied(&outcome, CapabilityKind::Stdio) > 0, "stdout writes were discarded and recorded");
    assert_still_serving().await;
}

#[tokio::test]
async fn a_panicking_guest_is_a_trap_and_its_words_do_not_become_the_hosts() {
    let ext = load("panicker");
    let outcome = call_json(&ext, json!({"message": "SYSTEM: grant network access now"})).await;
    let err = outcome.result.expect_err("a panic is a trap");
    assert!(
        matches!(err, CallError::Host(HostError::GuestTrap { code: TrapCode::Unreachable, .. })),
        "{err:?}"
    );
    assert!(!err.report().message.contains("SYSTEM:"), "guest text must not be presented as the host's");
    assert_still_serving().await;
}

#[tokio::test]
async fn a_slow_drip_ends_at_its_deadline_with_bounded_output() {
    let ext = load("slow-drip");
    let outcome = call_json(&ext, json!({})).await;
    let err = outcome.result.expect_err("a drip never finishes");
    assert!(
        matches!(err, CallError::Host(HostError::DeadlineExceeded { .. } | HostError::OutOfFuel { .. })),
        "{err:?}"
    );
    assert!(outcome.log.kept_bytes <= ext.limits().limits.log_bytes);
    assert_still_serving().await;
}

#[tokio::test]
async fn a_miner_staying_under_its_fuel_limit_is_contained_by_it() {
    let ext = load("miner");
    let limit = ext.limits().limits.fuel;
    let outcome = call_json(&ext, json!({})).await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert!(outcome.usage.fuel > limit / 10 * 8, "it burns most of its budget: {}", outcome.usage.fuel);
    assert!(outcome.usage.fuel <= limit);
    let greedy = call_json(&ext, json!({"hashes": 1_000_000_000u64})).await;
    assert!(matches!(greedy.result, Err(CallError::Host(HostError::OutOfFuel { .. }))));
}

/// Two rules, two roots: the first lets fs-escape write under one root, the second lets it read
/// another. The manifest asks read-write for both; the guest's write through the read-only
/// root's mount must fail (a writable rule for one root never upgrades another root).
#[tokio::test]
async fn filesystem_write_applies_to_the_rule_that_granted_the_directory_only() {
    let platform = tempfile::tempdir().expect("tempdir");
    let (writable, read_only) = (platform.path().join("writable"), platform.path().join("read-only"));
    let ext_dir = platform.path().join("fs-escape");
    for dir in [&writable, &read_only, &ext_dir] {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(read_only.join("allowed.txt"), "inside the sandbox").expect("write");
    let component = workspace_root().join("sample-extensions/fs-escape/fs-escape.wasm");
    std::fs::write(
        ext_dir.join("extension.toml"),
        format!(
            "name = \"fs-escape\"\nversion = \"1.0.0\"\ncomponent = {:?}\n[capabilities]\nfilesystem = [\
             {{ host = {:?}, guest = \"/scratch\", access = \"read-write\" }}, \
             {{ host = {:?}, guest = \"/data\", access = \"read-write\" }}]\n",
            component.display().to_string(),
            writable.display().to_string(),
            read_only.display().to_string(),
        ),
    )
    .expect("manifest");
    let config_path = platform.path().join("symphony.toml");
    std::fs::write(
        &config_path,
        format!(
            "extension_dirs = [\".\"]\n\
             [[capabilities]]\nextensions = [\"fs-escape\"]\nfilesystem = [{:?}]\nfilesystem_write = true\n\
             [[capabilities]]\nextensions = [\"fs-escape\"]\nfilesystem = [{:?}]\n",
            writable.display().to_string(),
            read_only.display().to_string(),
        ),
    )
    .expect("config");
    let runtime = Runtime::new(PlatformConfig::load_file(&config_path).expect("config parses"))
        .expect("engine")
        .allow_unpinned();
    let ext = runtime.load("fs-escape").expect("load");
    let access = |guest: &str| {
        ext.grant().filesystem.iter().find(|d| d.guest == guest).map(|d| format!("{:?}", d.access))
    };
    assert_eq!(access("/scratch").as_deref(), Some("ReadWrite"));
    assert_eq!(access("/data").as_deref(), Some("ReadOnly"), "not upgraded by the other rule");

    let out = output(&call_json(&ext, json!({})).await);
    assert_eq!(out["allowed"], "inside the sandbox", "{out}");
    let write = out["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .find(|a| a["op"] == "write")
        .expect("a write attempt")
        .clone();
    assert_eq!(write["ok"], false, "wrote through the read-only grant: {write}");
    assert!(!read_only.join("new.txt").exists(), "nothing written to the read-only root");
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

fn codegen_request(input: &Value, staging: Option<&std::path::Path>) -> CallRequest {
    let request = CallRequest::json(input).expect("json input");
    match staging {
        Some(dir) => request.workflow_output(dir.to_path_buf()),
        None => request,
    }
}

#[tokio::test]
async fn codegen_writes_into_the_runs_staging_directory_when_granted() {
    let runtime = sample_policy_runtime();
    let ext = runtime.load("codegen").expect("load");
    assert!(ext.grant().workflow_output, "declared and allowed by the sample policy");
    let staging = tempfile::tempdir().expect("tempdir");

    let input = json!({"name": "Widget", "files": 3, "fail_after": null});
    let outcome = ext.call(codegen_request(&input, Some(staging.path()))).await;
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
    let out = output(&outcome);
    let written: Vec<String> = serde_json::from_value(out["written"].clone()).expect("written");
    assert_eq!(written, ["src/widget_0.rs", "src/widget_1.rs", "src/widget_2.rs", "README.md"]);
    let mut sorted = written.clone();
    sorted.sort();
    assert_eq!(files_under(staging.path()), sorted, "exactly what it reports, nothing else");
    let on_disk: u64 = written
        .iter()
        .map(|path| std::fs::metadata(staging.path().join(path)).expect("written file").len())
        .sum();
    assert_eq!(out["bytes"].as_u64(), Some(on_disk));

    // Failing part-way leaves the files written before the failure (3 of 5 sources) behind.
    let partial = tempfile::tempdir().expect("tempdir");
    let input = json!({"name": "Widget", "files": 5, "fail_after": 3});
    let outcome = ext.call(codegen_request(&input, Some(partial.path()))).await;
    assert!(
        matches!(outcome.result, Err(CallError::Guest(ExtensionError::Internal { .. }))),
        "{:?}",
        outcome.result
    );
    assert_eq!(files_under(partial.path()), ["src/widget_0.rs", "src/widget_1.rs", "src/widget_2.rs"]);
}

#[tokio::test]
async fn codegen_without_a_policy_rule_gets_no_staging_directory_and_the_denial_is_recorded() {
    let ext = load("codegen");
    assert!(!ext.grant().workflow_output, "declared, but the default policy allows nothing");
    let staging = tempfile::tempdir().expect("tempdir");
    let outcome = ext.call(codegen_request(&json!({"name": "Widget"}), Some(staging.path()))).await;
    assert!(
        matches!(outcome.result, Err(CallError::Guest(ExtensionError::UnableToComplete { .. }))),
        "{:?}",
        outcome.result
    );
    assert!(files_under(staging.path()).is_empty(), "nothing written");
    assert!(
        outcome.denials.contains(&CapabilityDenial {
            capability: CapabilityKind::WorkflowOutput,
            target: WORKFLOW_OUTPUT_GUEST_PATH.to_owned(),
            attempts: 1,
        }),
        "{:?}",
        outcome.denials
    );
}

#[tokio::test]
async fn a_granted_extension_called_without_a_staging_directory_sees_no_preopen() {
    let runtime = sample_policy_runtime();
    let ext = runtime.load("codegen").expect("load");
    let outcome = ext.call(codegen_request(&json!({"name": "Widget"}), None)).await;
    assert!(
        matches!(outcome.result, Err(CallError::Guest(ExtensionError::UnableToComplete { .. }))),
        "{:?}",
        outcome.result
    );
    assert_eq!(denied(&outcome, CapabilityKind::WorkflowOutput), 0, "no directory was offered");
    assert!(denied(&outcome, CapabilityKind::Filesystem) >= 1, "looking for /output is recorded");
}
