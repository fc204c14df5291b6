//! What the CLI's integration tests share: the workspace root, a state directory that trusts
//! the components `symphony build` pinned, a real `symphony serve` child on an ephemeral
//! loopback port (also with a config of its own over the samples), and a reader of one series
//! of its `/metrics`.

#![allow(dead_code, clippy::expect_used)] // each test binary uses part of it; a failed expectation is the test failing

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Trust in `state` the components the workspace's `.symphony/` pinned.
pub fn trust_pins(state: &Path) {
    std::fs::copy(root().join(".symphony/pins.toml"), state.join("pins.toml"))
        .expect("the workspace's pins (tests/run.sh runs `symphony build` first)");
}

/// A state directory of its own (its own journal and health), trusting the pinned components.
pub fn state_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    trust_pins(dir.path());
    dir
}

/// A `symphony serve` child on `127.0.0.1:0`, killed when dropped.
pub struct Served {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Served {
    /// Serve with `state` (pins trusted) and `config` (relative to the workspace root or
    /// absolute), plus `extra` arguments to `serve`; returns once it listens.
    pub fn start(state: &Path, config: &Path, extra: &[&str]) -> Self {
        trust_pins(state);
        let mut child = Command::new(env!("CARGO_BIN_EXE_symphony"))
            .arg("--state-dir")
            .arg(state)
            .arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn symphony serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the listening line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self { base: base.to_owned(), child }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }
}

impl Served {
    /// SIGTERM, then wait (at most 30 s) for it to exit; whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.success();
            }
            assert!(std::time::Instant::now() < deadline, "serve did not stop after SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// `symphony.toml` in `dir`: the sample extensions, then `rest` (TOML).
pub fn samples_config(dir: &Path, rest: &str) -> PathBuf {
    let path = dir.join("symphony.toml");
    let text =
        format!("extension_dirs = [{:?}]\n\n{rest}", root().join("sample-extensions").display().to_string());
    std::fs::write(&path, text).expect("config");
    path
}

/// A `symphony serve` child over [`samples_config`] with `rest`, in a directory of its own
/// (its config and state); the server stops before the directory goes.
pub struct ServedConfig {
    /// The server.
    pub served: Served,
    /// Its config and state directory.
    pub dir: tempfile::TempDir,
}

impl ServedConfig {
    /// Serve the samples with `rest` added to the config.
    pub fn start(rest: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = samples_config(dir.path(), rest);
        Self { served: Served::start(dir.path(), &config, &[]), dir }
    }
}

impl std::ops::Deref for ServedConfig {
    type Target = Served;
    fn deref(&self) -> &Served {
        &self.served
    }
}

/// The value of `series` (its name and labels as Prometheus prints them) in `base`'s
/// `/metrics`, asked with `key` when given; `None` when the series is not there.
pub async fn metric(base: &str, key: Option<&str>, series: &str) -> Option<f64> {
    let mut request = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let text = request.send().await.expect("metrics").text().await.expect("text");
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
