//! The dashboard in a real browser: `symphony serve` on loopback, the miner driven into
//! quarantine through the API, then the page loaded in headless Chromium (Debian's `chromium`;
//! `tests/run.sh` installs it when missing) and its rendered DOM read back: the miner's row says
//! "quarantined", echo's "healthy", and summarize 2.0.0's fallback rate shows the call its
//! route served from 1.0.0. A screenshot of it is saved as `docs/dashboard.png`.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::Path;
use std::process::{Command, Stdio};

mod support;

use support::{Served, root};

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
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1000"])
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
    let server = Served::start(state.path(), Path::new("sample-extensions/symphony.toml"), &[]);
    let base = server.base.clone();

    let client = reqwest::Client::new();
    let invoke = |name: &str| client.post(format!("{base}/v1/extensions/{name}/invoke")).body("{}").send();
    assert_eq!(invoke("echo").await.expect("echo").status().as_u16(), 200);
    // summarize 2.0.0 refuses texts over 200 characters; its route falls back to 1.0.0.
    let long = serde_json::json!({ "text": "the quick brown fox jumps over the lazy dog. ".repeat(10) });
    let summarized = client.post(format!("{base}/v1/extensions/summarize/invoke")).json(&long).send().await;
    let summarized: serde_json::Value = summarized.expect("summarize").json().await.expect("json");
    assert_eq!(
        (summarized["fallback"].as_bool(), summarized["served_by"].as_str()),
        (Some(true), Some("summarize@1.0.0"))
    );
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
    let summarize = row("summarize@2.0.0");
    assert!(summarize.contains(r#"data-cell="fallbacks">100 %<"#), "the fallback rate: {summarize}");
    let reliability = html.find(r#"id="reliability""#).map(|at| &html[at..]).expect("the reliability line");
    assert!(reliability.contains(r#"data-rate="fallbacks">"#), "{reliability}");
    assert!(reliability.contains("mean time to recovery"), "{reliability}");

    let screenshot = root().join("docs/dashboard.png");
    let shot = headless(&[&format!("--screenshot={}", screenshot.display()), &format!("{base}/?poll")]);
    assert!(shot.status.success() && screenshot.is_file(), "no screenshot: {shot:?}");
}
