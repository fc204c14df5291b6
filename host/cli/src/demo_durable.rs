//! The durability part of `symphony demo`: the sample `generate` workflow (echo → codegen)
//! run durably into a scratch output directory that already holds an earlier tree. First
//! codegen writes three of its five files and fails: the staging is rolled back and the
//! directory is shown unchanged. Then it succeeds: the five files and the README appear in one
//! rename, replacing the earlier tree whole. Then the same idempotency key again: the journal
//! answers the committed result and nothing runs. Returns how many scenarios did not behave as
//! shown.

use std::path::Path;

use serde_json::json;

use symphony_host::Platform;
use symphony_host::config::PlatformConfig;
use symphony_host::types::capability::CapabilityRule;
use symphony_host::workflow::{DurableOptions, DurableOutcome, RunControl, RunOptions, RunStatus};
use symphony_types::payload::Payload;

use super::workflow::print_result;

/// The sample workflow the demo runs.
const WORKFLOW: &str = "generate";
/// The extension the demo's policy grants `workflow_output`.
const GENERATOR: &str = "codegen";

/// The demo's policy: the platform's, plus `workflow_output` for `codegen` when no rule gives
/// it (the embedded defaults grant nothing).
pub(crate) fn grant(config: &mut PlatformConfig) {
    let granted = config.capabilities.rules.iter().any(|rule| {
        rule.workflow_output
            && rule.extensions.iter().any(|p| symphony_host::types::capability::pattern_matches(p, GENERATOR))
    });
    if !granted {
        config.capabilities.rules.push(CapabilityRule {
            extensions: vec![GENERATOR.to_owned()],
            workflow_output: true,
            ..CapabilityRule::default()
        });
    }
}

/// Files under `dir`, relative and sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    found
}

pub(crate) async fn run(platform: &Platform) -> usize {
    println!();
    println!(
        "durable workflow `{WORKFLOW}`: echo → codegen, checkpointed in the journal, files published whole"
    );
    let Ok(scratch) = tempfile::tempdir() else { return 1 };
    let out = scratch.path().join("generated");
    let earlier = out.join("src/earlier.rs");
    if std::fs::create_dir_all(out.join("src"))
        .and_then(|()| std::fs::write(&earlier, "// an earlier run\n"))
        .is_err()
    {
        return 1;
    }
    let prepared = match platform.find_workflow(WORKFLOW).map(|d| platform.prepare_workflow(d)) {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(e)) => {
            println!("  cannot prepare it: {e}");
            return 1;
        }
        Err(e) => {
            println!("  cannot load it: {e}");
            return 1;
        }
    };
    let journal = match platform.open_journal() {
        Ok(journal) => journal,
        Err(e) => {
            println!("  cannot open the journal: {e}");
            return 1;
        }
    };
    println!(
        "(the demo's policy grants {GENERATOR} `workflow_output`; without a rule it is denied, like every capability)"
    );
    println!("output directory {} holds: {}", out.display(), listing(&out).join(", "));
    let key = format!("demo-{}", symphony_host::workflow::checkpoints::new_run_id());
    let cases = [
        (
            "codegen fails after 3 of its 5 files",
            json!({"name": "Widget", "files": 5, "fail_after": 3}),
            None,
        ),
        ("codegen writes all 5 files", json!({"name": "Widget", "files": 5}), Some(key.clone())),
        ("the same idempotency key again", json!({"name": "Widget", "files": 5}), Some(key)),
    ];
    let mut unexpected = 0;
    for (index, (what, input, key)) in cases.into_iter().enumerate() {
        println!();
        println!("{what}:");
        let Ok(input) = Payload::json(&input) else {
            unexpected += 1;
            continue;
        };
        let control = RunControl::new(&prepared);
        let options = DurableOptions {
            idempotency_key: key,
            output_dir: Some(out.clone()),
            ..DurableOptions::default()
        };
        let outcome = platform
            .run_workflow_durable(&journal, &prepared, input, &control, RunOptions::default(), &options)
            .await;
        let files = listing(&out);
        match (index, outcome) {
            (0, Ok(DurableOutcome::Ran(result))) if result.status == RunStatus::Failed => {
                print_result(&result);
                let untouched = files == ["src/earlier.rs"];
                println!(
                    "the run failed: its staging was rolled back; {} holds {}",
                    out.display(),
                    if untouched { "exactly what it held before".to_owned() } else { files.join(", ") }
                );
                unexpected += usize::from(!untouched);
            }
            (1, Ok(DurableOutcome::Ran(result))) if result.status == RunStatus::Succeeded => {
                print_result(&result);
                println!("published in one rename, replacing the earlier tree whole: {}", files.join(", "));
                unexpected += usize::from(files.len() != 6 || earlier.exists());
            }
            (2, Ok(DurableOutcome::Finished { run_id, status, .. })) => {
                println!(
                    "run {run_id} had already {}: its committed result is returned and nothing runs again.",
                    status.as_str()
                );
            }
            (_, other) => {
                println!("  unexpected: {other:?}");
                unexpected += 1;
            }
        }
    }
    unexpected
}
