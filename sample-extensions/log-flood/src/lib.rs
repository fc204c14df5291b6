//! `log-flood` (hostile): floods every output channel it has with far more lines than its log
//! budget allows.
//!
//! Input JSON `{"log_lines": N, "stdout_lines": N, "stderr_lines": N, "empty": bool}`, each
//! optional (defaults 100 000 host log lines, then 50 000 lines each to stdout and stderr:
//! 100 000 stdio lines in all; an empty input means the defaults). With `"empty": true` every
//! host log record has an empty message and no fields: a flood that costs nothing by bytes
//! alone, which the host must still bound (records are counted, and weigh a fixed overhead). Host log lines go through `host::log::info`; stdio
//! lines are written one `write_all` per line to `wasi:cli/stdout` / `stderr`, so every line is
//! its own host call. Writes are checked rather than `println!`ed, so a host that closes stdio
//! makes the guest count errors instead of panicking.
//!
//! The manifest grants `stdio` and caps the call's log at 16 KiB. The host is expected to keep
//! at most 16 KiB of all of it (host log records and captured stdio together), dropping and
//! counting the rest, never buffering the whole flood, and to let the call finish. Output
//! `{"logged": N, "printed": N, "eprinted": N, "stdio_errors": N, "first_stdio_error":
//! str|null}`.

use std::io::Write;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::host::log;
use symphony_guest_sdk::{Extension, ExtensionError, Payload, Request, Response, register_extension};

/// Host log lines written when the input names no count.
const DEFAULT_LOG_LINES: u64 = 100_000;
/// Lines written to stdout, and again to stderr, when the input names no count.
const DEFAULT_STDIO_LINES: u64 = 50_000;

/// The log-flood extension.
struct LogFlood;

/// The expected input: how many lines to write to each channel.
#[derive(Deserialize)]
#[serde(default)]
struct Input {
    log_lines: u64,
    stdout_lines: u64,
    stderr_lines: u64,
    empty: bool,
}

impl Default for Input {
    fn default() -> Self {
        Self {
            log_lines: DEFAULT_LOG_LINES,
            stdout_lines: DEFAULT_STDIO_LINES,
            stderr_lines: DEFAULT_STDIO_LINES,
            empty: false,
        }
    }
}

/// What the guest managed to write.
#[derive(Default, Serialize)]
struct Report {
    /// Lines handed to the host log.
    logged: u64,
    /// Lines written to stdout without an error.
    printed: u64,
    /// Lines written to stderr without an error.
    eprinted: u64,
    /// Writes to stdout or stderr that failed.
    stdio_errors: u64,
    /// The first stdio error (`Kind: message`).
    first_stdio_error: Option<String>,
}

impl Report {
    /// Writes `lines` numbered lines to `out`, one write call per line, returning how many
    /// succeeded. Each line is formatted first: `Stderr` is unbuffered, so `writeln!` straight
    /// to it would cost one host call per format fragment.
    fn flood(&mut self, mut out: impl Write, stream: &str, lines: u64) -> u64 {
        let mut written = 0;
        for line in 0..lines {
            let text =
                format!("log-flood {stream} line {line}: the quick brown fox jumps over the lazy dog\n");
            match out.write_all(text.as_bytes()) {
                Ok(()) => written += 1,
                Err(error) => {
                    self.stdio_errors += 1;
                    self.first_stdio_error.get_or_insert_with(|| format!("{:?}: {error}", error.kind()));
                }
            }
        }
        written
    }
}

fn parse_input(input: &Payload) -> Result<Input, ExtensionError> {
    if input.bytes.is_empty() { Ok(Input::default()) } else { input.parse_json() }
}

impl Extension for LogFlood {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "floods-logs".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let Input { log_lines, stdout_lines, stderr_lines, empty } = parse_input(&request.input)?;
        let mut report = Report::default();
        for line in 0..log_lines {
            if empty {
                log::info("", &[]);
            } else {
                log::info("log-flood: the quick brown fox jumps over the lazy dog", &[("line", &line)]);
            }
            report.logged += 1;
        }
        report.printed = report.flood(std::io::stdout().lock(), "stdout", stdout_lines);
        report.eprinted = report.flood(std::io::stderr().lock(), "stderr", stderr_lines);
        Response::json(&report)
    }
}

register_extension!(LogFlood);
