//! The dashboard in a real browser: `symphony serve` on loopback, the miner driven into
//! quarantine through the API, then the page loaded in headless Chromium (Debian's `chromium`;
//! `tests/run.sh` installs it when missing) and its rendered DOM read back: the miner's row says
//! "quarantined", echo's "healthy". A screenshot of it is saved as `docs/dashboard.png`.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").output();
    assert!(
        found.is_ok_and(|out| out.status.success()),
        "the dashboard test needs Debian's `chromium` (tests/run.sh installs it: apt-get install -y chromium)"
    );
    "chromium"
}

fn headless(args: &[&str]) -> std::process::Output {
    Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,900"])
        .args(["--virtual-time-budget=4000", "--run-all-compositor-stages-before-draw"])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run chromium")
}

#[tokio::test]
async fn the_dashboard_shows_the_quarantined_miner_and_the_healthy_echo() {
    let state = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root().join(".symphony/pins.toml"), state.path().join("pins.toml")).expect("pins");
    let mut child = Command::new(env!("CARGO_BIN_EXE_symphony"))
        .arg("--state-dir")
        .arg(state.path())
        .args(["--config", "sample-extensions/symphony.toml", "serve", "--listen", "127.0.0.1:0"])
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn symphony serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
    let _server = Server(child);
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();

    let client = reqwest::Client::new();
    let invoke = |name: &str| client.post(format!("{base}/v1/extensions/{name}/invoke")).body("{}").send();
    assert_eq!(invoke("echo").await.expect("echo").status().as_u16(), 200);
    // The miner sits just under its fuel limit while declaring a small profile: the monitor
    // quarantines it within a few calls, and then the API answers 503.
    let mut quarantined = false;
    for _ in 0..40 {
        let response = invoke("miner").await.expect("miner");
        if response.status().as_u16() == 503 {
            quarantined = true;
            break;
        }
    }
    assert!(quarantined, "the miner was never quarantined");

    // `?poll`: the page's polling path. An open event stream never lets headless Chromium call
    // the page settled; `/v1/events` has tests of its own.
    let dom = headless(&["--dump-dom", &format!("{base}/?poll")]);
    let html = String::from_utf8_lossy(&dom.stdout);
    let row = |extension: &str| {
        let start = html
            .find(&format!("data-extension=\"{extension}\""))
            .unwrap_or_else(|| panic!("no row for {extension}: {html}"));
        let end = html[start..].find("</tr>").map_or(html.len(), |e| start + e);
        html[start..end].to_owned()
    };
    let miner = row("miner@1.0.0");
    assert!(miner.contains("data-status=\"quarantined\"") && miner.contains(">quarantined<"), "{miner}");
    assert!(miner.contains("s left"), "the countdown: {miner}");
    let echo = row("echo@1.0.0");
    assert!(echo.contains("data-status=\"healthy\"") && echo.contains(">healthy<"), "{echo}");

    let screenshot = root().join("docs/dashboard.png");
    let shot = headless(&[&format!("--screenshot={}", screenshot.display()), &format!("{base}/?poll")]);
    assert!(shot.status.success() && screenshot.is_file(), "no screenshot: {shot:?}");
}
