//! The READMEs are tested: what they show is what happens.
//!
//! - Every ```` ```console ```` block of `README.md` and `guest-sdk/README.md` is a session:
//!   each `$ symphony …` line is run (by `bash`, from the workspace root, with the `symphony`
//!   built for this test first on `PATH`), and the lines under it are what it must print, in
//!   order (stdout, then stderr). In an expected line `…` stands for any text. A `(exit N)` line
//!   says the command exits with N; without one it must exit 0.
//! - Every fenced block right after an `<!-- file: PATH -->` comment must be the file at PATH,
//!   byte for byte (less trailing blank lines): the SDK README's example extension and harness
//!   test are the sample crates the workspace builds and tests.
//!
//! A README whose example changed shape fails here instead of failing the reader.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wildcard of expected output.
const ANY: &str = "…";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One fenced block: its info string, its lines, the marker comment before it and its line.
struct Block {
    info: String,
    lines: Vec<String>,
    file_marker: Option<String>,
    line: usize,
}

/// Every fenced block of `text`.
fn blocks(text: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut current: Option<Block> = None;
    let mut marker: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        match &mut current {
            Some(_) if line.trim_start().starts_with("```") => found.extend(current.take()),
            Some(block) => block.lines.push(line.to_owned()),
            None if line.trim_start().starts_with("```") => {
                let info = line.trim_start().trim_start_matches('`').trim().to_owned();
                current =
                    Some(Block { info, lines: Vec::new(), file_marker: marker.take(), line: number + 1 });
            }
            None => {
                let trimmed = line.trim();
                if let Some(path) = trimmed.strip_prefix("<!-- file:").and_then(|r| r.strip_suffix("-->")) {
                    marker = Some(path.trim().to_owned());
                } else if !trimmed.is_empty() {
                    marker = None;
                }
            }
        }
    }
    found
}

/// Whether `actual` is `expected` with each `…` standing for any text.
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split(ANY).collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return expected == actual;
    }
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() || !actual.ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Run `command` as a reader would, with this build's `symphony` first on `PATH`.
fn run(command: &str) -> (i32, Vec<String>) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_symphony")).parent().expect("bin dir").to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir];
    dirs.extend(std::env::split_paths(&path));
    let output = Command::new("bash")
        .args(["-c", command])
        .current_dir(root())
        .env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .output()
        .expect("bash runs");
    let text =
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text.lines().map(|l| l.trim_end().to_owned()).collect())
}

/// Check one console block; returns a description of each mismatch.
fn check_session(readme: &str, block: &Block) -> Vec<String> {
    let mut problems = Vec::new();
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in &block.lines {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push((command.to_owned(), Vec::new()));
        } else if let Some((_, expected)) = steps.last_mut() {
            expected.push(line.trim_end().to_owned());
        }
    }
    for (command, expected) in steps {
        assert!(
            command.starts_with("symphony "),
            "{readme}:{}: a session runs `symphony …`: {command}",
            block.line
        );
        let exit = expected
            .iter()
            .find_map(|l| l.strip_prefix("(exit ").and_then(|r| r.strip_suffix(')')))
            .map_or(0, |n| n.parse::<i32>().expect("(exit N)"));
        let (code, output) = run(&command);
        if code != exit {
            problems
                .push(format!("{readme}:{}: `{command}` exited {code}, the README says {exit}", block.line));
        }
        let mut at = 0;
        for want in expected.iter().filter(|l| !l.is_empty() && !l.starts_with("(exit ")) {
            match output[at..].iter().position(|got| line_matches(want, got)) {
                Some(found) => at += found + 1,
                None => {
                    problems.push(format!(
                        "{readme}:{}: `{command}` printed no line like\n  {want}\nafter line {at} of:\n  {}",
                        block.line,
                        output.join("\n  ")
                    ));
                    break;
                }
            }
        }
    }
    problems
}

fn check_readme(relative: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(relative)).expect("README");
    let mut problems = Vec::new();
    let mut sessions = 0;
    for block in blocks(&text) {
        if let Some(file) = &block.file_marker {
            let actual = std::fs::read_to_string(root().join(file)).unwrap_or_default();
            let shown = block.lines.join("\n");
            if shown.trim_end() != actual.trim_end() {
                problems.push(format!("{relative}:{}: the block is not {file} as it is", block.line));
            }
        }
        if block.info == "console" {
            sessions += 1;
            problems.extend(check_session(relative, &block));
        }
    }
    assert!(sessions > 0, "{relative} has console sessions to test");
    problems
}

#[test]
fn every_readme_session_prints_what_the_readme_shows() {
    let problems: Vec<String> =
        ["README.md", "guest-sdk/README.md"].iter().flat_map(|r| check_readme(r)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_wildcard_matcher_matches_only_what_it_should() {
    assert!(line_matches("ok", "ok"));
    assert!(!line_matches("ok", "ok!"));
    assert!(line_matches("a…c", "abbbc"));
    assert!(line_matches("a…", "a"));
    assert!(line_matches("{\"status\":\"ok\",…,\"fuel\":…}", "{\"status\":\"ok\",\"x\":1,\"fuel\":2}"));
    assert!(!line_matches("a…b…c", "acb"));
    assert!(!line_matches("ab…ba", "aba"), "prefix and suffix may not overlap");
}
