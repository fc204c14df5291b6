//! Durable workflows through real `symphony` processes and real components: a run killed with
//! SIGKILL at random points and resumed each time loses no committed step, runs none twice and
//! ends with the output of an uninterrupted run, its files never visible half-written; a flipped
//! byte in the journal is reported, not trusted; a run whose step fails part-way leaves the output
//! directory exactly as it was.
//!
//! `SYMPHONY_CRASH_KILLS` sets how many kills must land mid-run (default 20).

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use symphony_host::workflow::journal::record::JournalStatus;
use symphony_host::workflow::{Journal, JournalError};

const CRASH: &str = "tests/workflows/durable/crash.toml";
const FAILS: &str = "tests/workflows/durable/codegen-fails.toml";

mod support;

use support::{root, state_dir};

fn command(state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_symphony"));
    command
        .arg("--state-dir")
        .arg(state)
        .args(["--config", "sample-extensions/symphony.toml"])
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null());
    command
}

fn symphony(state: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = command(state, args).output().expect("spawn symphony");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stdout + &String::from_utf8_lossy(&out.stderr))
}

/// Every file under `dir` with its content; `None` when `dir` does not exist.
fn tree(dir: &Path) -> Option<BTreeMap<String, Vec<u8>>> {
    if !dir.exists() {
        return None;
    }
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        for entry in std::fs::read_dir(&next).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("inside").display().to_string();
                files.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    Some(files)
}

/// Completed steps of `run` (output hash, commit time) and how often each step was started.
type Journaled = (Option<JournalStatus>, BTreeMap<String, (String, u64)>, BTreeMap<String, u32>);

fn journaled(state: &Path, key: &str) -> Journaled {
    let journal = Journal::open(&Journal::default_path(state)).expect("journal free once the child died");
    let Some(run_id) = journal.run_for_key(key).expect("read") else {
        return (None, BTreeMap::new(), BTreeMap::new());
    };
    let run = journal.load(&run_id).expect("every record intact");
    let completed = run.completed.into_iter().map(|(s, c)| (s, (c.output_sha256, c.completed_ms))).collect();
    let started = run.started.into_iter().map(|(s, r)| (s, r.attempt)).collect();
    (Some(run.run.status), completed, started)
}

/// A small xorshift generator: kill points vary per run, and the seed is printed to replay one.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

#[test]
fn kill_9_at_random_points_loses_nothing_and_repeats_nothing() {
    let wanted: u32 = std::env::var("SYMPHONY_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let state = state_dir();
    let scratch = tempfile::tempdir().expect("tempdir");

    // Uninterrupted runs: the first warms the compiled cache, the second gives the reference
    // output and tree and how long a whole run takes (kill points fall inside it).
    let mut uninterrupted = Vec::new();
    let mut whole_run_ms = 0;
    for name in ["warm", "reference"] {
        let dir = scratch.path().join(name);
        let started = Instant::now();
        let out = dir.to_str().expect("utf-8 path");
        let (code, result, text) =
            symphony(state.path(), &["workflow", "run", CRASH, "--json", "--output-dir", out]);
        assert_eq!(code, 0, "{text}");
        whole_run_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        uninterrupted.push((result, tree(&dir).expect("an uninterrupted run publishes its files")));
    }
    let (reference, reference_tree) = uninterrupted.pop().expect("two runs");
    assert_eq!(uninterrupted[0].1, reference_tree, "the workflow is deterministic");
    assert_eq!(reference_tree.len(), 6, "five sources and a README: {:?}", reference_tree.keys());

    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64)
            | 1;
    eprintln!("crash test: seed {seed}, {wanted} kills, one run takes {whole_run_ms} ms");
    let mut random = Xorshift(seed);
    let (mut kills, mut rounds, mut spawned) = (0u32, 0u32, 0u32);
    while kills < wanted {
        rounds += 1;
        let key = format!("round-{rounds}");
        let out = scratch.path().join(format!("out-{rounds}"));
        let out_arg = out.to_str().expect("utf-8 path").to_owned();
        let args = ["workflow", "run", CRASH, "--json", "--idempotency-key", &key, "--output-dir", &out_arg];
        let mut before: Journaled = (None, BTreeMap::new(), BTreeMap::new());
        loop {
            spawned += 1;
            assert!(spawned < 40 * wanted + 40, "the run never finishes under kills");
            let mut child = command(state.path(), &args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            let delay = Duration::from_millis(random.below(whole_run_ms));
            let deadline = Instant::now() + delay;
            let mut exited = None;
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().expect("wait") {
                    exited = Some(status);
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if exited.is_none() {
                child.kill().expect("SIGKILL");
            }
            child.wait().expect("reap");
            let now = journaled(state.path(), &key);
            let (status, completed, started) = &now;
            // Nothing committed is lost, or changed.
            for (step, record) in &before.1 {
                assert_eq!(
                    completed.get(step),
                    Some(record),
                    "round {rounds}: committed step `{step}` lost or rewritten"
                );
                // ... and nothing committed ran again.
                assert_eq!(
                    started.get(step),
                    before.2.get(step),
                    "round {rounds}: committed step `{step}` started again"
                );
            }
            // The output directory is absent or whole, never partial.
            match tree(&out) {
                None => assert_ne!(*status, Some(JournalStatus::Succeeded), "succeeded without its files"),
                Some(files) => assert_eq!(
                    files, reference_tree,
                    "round {rounds}: a partial output directory was visible"
                ),
            }
            let finished = *status == Some(JournalStatus::Succeeded);
            if exited.is_none() && !finished {
                kills += 1;
            }
            if finished {
                break;
            }
            before = now;
        }
        // The finished run: same output as the uninterrupted one, every step committed once.
        let (code, result, text) = symphony(state.path(), &args);
        assert_eq!(code, 0, "{text}");
        assert_eq!(result["output"], reference["output"], "round {rounds}");
        let (_, completed, _) = journaled(state.path(), &key);
        assert_eq!(completed.len(), 7, "every step committed exactly once");
        assert_eq!(tree(&out).as_ref(), Some(&reference_tree));
        assert!(!scratch.path().join(format!(".out-{rounds}.staging")).exists(), "no staging left");
    }
    eprintln!(
        "crash test: {kills} kills landed mid-run over {rounds} runs ({spawned} processes), 0 lost, 0 repeated"
    );
}

#[test]
fn a_flipped_byte_in_the_journal_is_reported_not_trusted() {
    let state = state_dir();
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = scratch.path().join("out");
    let marker = "flip-me-7d1c0e";
    let input = format!("{{\"tag\": \"{marker}\"}}");
    let args =
        ["workflow", "run", FAILS, "--json", "--input", &input, "--output-dir", out.to_str().expect("utf-8")];
    let (code, result, text) = symphony(state.path(), &args);
    assert_eq!(code, 1, "codegen fails on purpose: {text}");
    let run_id = result["run_id"].as_str().expect("journaled run id").to_owned();

    // Flip one byte of the marker wherever the journal file holds it (the run's input).
    let path = Journal::default_path(state.path());
    let mut bytes = std::fs::read(&path).expect("journal");
    let mut flipped = 0;
    for at in 0..bytes.len().saturating_sub(marker.len()) {
        if &bytes[at..at + marker.len()] == marker.as_bytes() {
            bytes[at] ^= 0x01;
            flipped += 1;
        }
    }
    assert!(flipped > 0, "the input is in the journal");
    std::fs::write(&path, bytes).expect("write journal");

    let journal = Journal::open(&path).expect("the file itself still opens");
    let loaded = journal.load(&run_id);
    assert!(matches!(loaded, Err(JournalError::Corrupt { .. })), "{loaded:?}");
    drop(journal);
    let (code, runs, text) = symphony(state.path(), &["workflow", "runs", "--json"]);
    assert_eq!(code, 0, "{text}");
    let listed =
        runs.as_array().and_then(|r| r.iter().find(|r| r["run_id"] == run_id.as_str())).expect("listed");
    assert!(listed["status"].is_null() && listed["corrupt"].is_string(), "{listed}");
    let (code, _, text) = symphony(state.path(), &["workflow", "resume", &run_id]);
    assert_eq!(code, 2, "a corrupt run is not resumed: {text}");
    assert!(text.contains("corrupt"), "{text}");
}

#[test]
fn a_failed_run_leaves_the_output_directory_exactly_as_it_was() {
    let state = state_dir();
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = scratch.path().join("out");
    std::fs::create_dir_all(out.join("src")).expect("mkdir");
    std::fs::write(out.join("src/kept.rs"), "// from an earlier run\n").expect("write");
    std::fs::write(out.join("README.md"), "earlier\n").expect("write");
    let before = tree(&out);

    let args = ["workflow", "run", FAILS, "--json", "--output-dir", out.to_str().expect("utf-8")];
    let (code, result, text) = symphony(state.path(), &args);
    assert_eq!(code, 1, "{text}");
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["steps"][1]["error"]["kind"], "internal", "{result}");
    assert_eq!(tree(&out), before, "the output directory is untouched");
    assert!(!scratch.path().join(".out.staging").exists(), "the staging was rolled back");
    let (_, runs, _) = symphony(state.path(), &["workflow", "runs", "--json"]);
    assert_eq!(runs[0]["status"], "failed", "{runs}");
}

#[test]
fn a_journal_held_by_a_running_symphony_is_reported_busy_not_waited_on_forever() {
    let state = state_dir();
    let _held = Journal::open(&Journal::default_path(state.path())).expect("journal");
    let (code, _, text) = symphony(state.path(), &["workflow", "runs"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("held by another symphony process"), "{text}");
}
