//! `fs-escape` (hostile): tries to read and write outside the one directory it was granted.
//!
//! The manifest grants `sandbox/` (beside the manifest) read-only at `/data`. The guest reads
//! `/data/allowed.txt` (which should work), then tries with plain `std::fs` to climb out with
//! `..`, to open absolute host paths, to follow a symlink shipped inside the grant
//! (`sandbox/link-out` → `../secret.txt`), to list directories outside the grant, and to write
//! through the read-only grant. `secret.txt` beside the manifest holds `TOP SECRET`: it is the
//! escape target.
//!
//! The host is expected to contain it through WASI preopens: only `/data` exists for the guest,
//! `..` and symlinks may not resolve outside it, and a read-only grant refuses writes. The
//! guest never panics; it reports every attempt so tests can assert that each one failed and
//! that `leaked` is false. Output:
//! `{"allowed": "<content or error>", "leaked": bool, "attempts": [{"path", "op", "ok",
//! "error", "content"}...]}`. Should a write succeed anyway, the guest deletes the file again
//! (best effort) so a broken host does not leave litter in the crate directory.

use std::io::Write;

use serde::Serialize;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// Where the manifest mounts the granted directory inside the guest.
const GRANT: &str = "/data";
/// The text of the escape target; seeing it in any result means the sandbox leaked.
const SECRET_MARKER: &str = "TOP SECRET";
/// At most this many bytes of anything read are echoed back, so `/etc/passwd` cannot bloat
/// the output.
const CONTENT_PREVIEW_BYTES: usize = 256;

/// Paths read in an attempt to leave the grant.
const READ_ATTEMPTS: [&str; 6] = [
    "/data/../secret.txt",
    "/data/../Cargo.toml",
    "/data/../../Cargo.toml",
    "/etc/passwd",
    "/secret.txt",
    "/data/link-out",
];
/// Directories listed in an attempt to see outside the grant.
const LIST_ATTEMPTS: [&str; 3] = ["/", "/data/..", "/etc"];
/// A path written through the read-only grant.
const WRITE_ATTEMPT: &str = "/data/new.txt";

/// The fs-escape extension.
struct FsEscape;

/// What one attempt achieved.
#[derive(Serialize)]
struct Attempt {
    path: &'static str,
    /// `read`, `list` or `write`.
    op: &'static str,
    ok: bool,
    /// The I/O error (`Kind: message`) when the attempt failed.
    error: Option<String>,
    /// What was read or listed (at most [`CONTENT_PREVIEW_BYTES`]), when the attempt worked.
    content: Option<String>,
    /// Whether the full result contained [`SECRET_MARKER`].
    leaked: bool,
}

impl Attempt {
    fn from_result(path: &'static str, op: &'static str, result: std::io::Result<String>) -> Self {
        match result {
            Ok(text) => Self {
                path,
                op,
                ok: true,
                error: None,
                leaked: text.contains(SECRET_MARKER),
                content: Some(preview(&text)),
            },
            Err(error) => {
                Self { path, op, ok: false, error: Some(describe(&error)), content: None, leaked: false }
            }
        }
    }
}

/// The report returned.
#[derive(Serialize)]
struct Report {
    allowed: String,
    leaked: bool,
    attempts: Vec<Attempt>,
}

fn describe(error: &std::io::Error) -> String {
    format!("{:?}: {error}", error.kind())
}

fn preview(text: &str) -> String {
    text.char_indices()
        .take_while(|(at, c)| at + c.len_utf8() <= CONTENT_PREVIEW_BYTES)
        .map(|(_, c)| c)
        .collect()
}

fn read(path: &str) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn list(path: &str) -> std::io::Result<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names.join(","))
}

fn write(path: &str) -> std::io::Result<String> {
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    file.write_all(b"written by fs-escape")?;
    drop(file);
    // The write worked, so the grant is broken; do not leave the evidence in the source tree.
    let cleanup = std::fs::remove_file(path).map_or_else(|e| describe(&e), |()| "removed".to_owned());
    Ok(format!("wrote 20 bytes; cleanup: {cleanup}"))
}

impl Extension for FsEscape {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "escapes-filesystem".into()]
    }

    fn invoke(_request: Request) -> Result<Response, ExtensionError> {
        let allowed = read(&format!("{GRANT}/allowed.txt")).unwrap_or_else(|e| describe(&e));
        let mut attempts: Vec<Attempt> =
            READ_ATTEMPTS.iter().map(|path| Attempt::from_result(path, "read", read(path))).collect();
        attempts.extend(LIST_ATTEMPTS.iter().map(|path| Attempt::from_result(path, "list", list(path))));
        attempts.push(Attempt::from_result(WRITE_ATTEMPT, "write", write(WRITE_ATTEMPT)));
        let leaked = allowed.contains(SECRET_MARKER) || attempts.iter().any(|a| a.leaked);
        Response::json(&Report { allowed, leaked, attempts })
    }
}

register_extension!(FsEscape);
