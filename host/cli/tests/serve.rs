//! `symphony serve` over HTTP: a real server process on an ephemeral loopback port, real
//! components behind it, real requests (`reqwest`, and a raw socket for a slow body). Every
//! error comes in one JSON shape with the status of its kind; bad input is refused before any
//! extension runs; SIGTERM drains and exits cleanly; a non-loopback address is refused.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::{Served, root};

/// A `symphony serve` child under the sample config, with a state directory of its own.
struct Server {
    served: Served,
    _state: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let state = tempfile::tempdir().expect("tempdir");
        let served = Served::start(state.path(), Path::new("sample-extensions/symphony.toml"), extra);
        Self { served, _state: state }
    }
}

impl std::ops::Deref for Server {
    type Target = Served;
    fn deref(&self) -> &Served {
        &self.served
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Served {
        &mut self.served
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    try_post(client, url, body).await.expect("response")
}

async fn try_post(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> Result<(u16, Value, reqwest::header::HeaderMap), reqwest::Error> {
    let response = client.post(url).header("content-type", "application/json").body(body).send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Ok((status, response.json().await.unwrap_or(Value::Null), headers))
}

#[tokio::test]
async fn invoke_answers_like_run_json_and_every_error_has_one_shape_and_its_status() {
    let server = Server::start(&["--max-body-bytes", "4096"]);
    let client = reqwest::Client::new();

    let (status, body, _) = post(&client, &server.url("/v1/extensions/echo/invoke"), r#"{"a": 1}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["status"].as_str(), &body["output"]), (Some("ok"), &json!({"a": 1})));
    assert_eq!(body["served_by"], "echo@1.0.0");
    assert!(body["usage"]["fuel"].as_u64() > Some(0), "{body}");

    // The guest's own typed refusal: 422, the run --json body with the guest's error.
    let (status, body, _) = post(&client, &server.url("/v1/extensions/text-stats/invoke"), "{}").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["source"], "guest");
    assert_eq!(body["error"]["kind"], "invalid_input");
    assert_eq!(body["error"]["class"], "fatal");

    let (status, body, _) = post(&client, &server.url("/v1/extensions/ecoh/invoke"), "{}").await;
    assert_eq!((status, body["error"]["kind"].as_str()), (404, Some("extension_not_found")), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("did you mean `echo`")), "{body}");

    for name in ["..%2F..%2Fetc", "Echo", "echo@", "a%20b"] {
        let (status, body, _) =
            post(&client, &server.url(&format!("/v1/extensions/{name}/invoke")), "{}").await;
        assert_eq!(
            (status, body["error"]["kind"].as_str()),
            (400, Some("bad_extension_name")),
            "{name}: {body}"
        );
        assert_eq!(body["error"]["source"], "service");
    }

    let (status, body, _) = post(&client, &server.url("/v1/extensions/echo/invoke"), vec![b' '; 5_000]).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (413, Some("body_too_large")), "{body}");

    let response = client.get(server.url("/v2/anything")).send().await.expect("response");
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["kind"], "unknown_route");

    for (path, want) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let body: Value =
            client.get(server.url(path)).send().await.expect("response").json().await.expect("json");
        assert_eq!(body["status"], want, "{path}");
    }
    let health: Value =
        client.get(server.url("/v1/health")).send().await.expect("health").json().await.expect("json");
    let echo = health["extensions"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["extension"] == "echo@1.0.0"))
        .expect("echo in /v1/health");
    assert_eq!(echo["calls"], 1, "exactly the one good call reached echo: {echo}");
}

#[test]
fn a_body_slower_than_the_timeout_is_refused_with_408() {
    let server = Server::start(&["--body-timeout-ms", "300"]);
    let mut socket = TcpStream::connect(server.addr()).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let started = Instant::now();
    write!(
        socket,
        "POST /v1/extensions/echo/invoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":"
    )
    .expect("write");
    let mut answer = String::new();
    let mut buffer = [0u8; 4096];
    while !answer.contains("body_timeout") {
        let n = socket.read(&mut buffer).expect("the server answers before the client gives up");
        assert!(n > 0, "closed without an answer: {answer}");
        answer.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn sigterm_drains_and_exits_cleanly_and_a_public_address_is_refused() {
    let mut server = Server::start(&[]);
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exited = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exited.success(), "{exited:?}");

    let out = Command::new(env!("CARGO_BIN_EXE_symphony"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .current_dir(root())
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"), "{out:?}");
}

/// SIGTERM to `server`, then how long until it exited and whether it exited 0.
fn terminate(server: &mut Server) -> (Duration, bool) {
    let started = Instant::now();
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            return (started.elapsed(), status.success());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "serve did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn an_in_flight_call_finishes_within_the_drain_and_is_cut_beyond_it() {
    // batch: 30 items of 50 ms, about 1.5 s on the guest's clock.
    let slow = r#"{"items": 30, "item_ms": 50}"#;
    for (drain_ms, finishes) in [("10000", true), ("100", false)] {
        let mut server = Server::start(&["--drain-ms", drain_ms]);
        let client = reqwest::Client::new();
        let url = server.url("/v1/extensions/batch/invoke");
        let call = tokio::spawn(async move { try_post(&client, &url, slow).await });
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (took, clean) = tokio::task::spawn_blocking(move || {
            let stopped = terminate(&mut server);
            drop(server);
            stopped
        })
        .await
        .expect("join");
        assert!(clean, "exit 0 after SIGTERM (drain {drain_ms} ms)");
        match call.await.expect("join") {
            Ok((status, body, _)) if finishes => {
                assert_eq!((status, body["output"]["done"].as_u64()), (200, Some(30)), "{body}");
            }
            Ok((status, body, _)) => panic!("cut off after {took:?}, yet answered {status}: {body}"),
            Err(e) if finishes => panic!("the drained call failed: {e}"),
            Err(_) => {}
        }
    }
}

/// `name{labels}` → value, from Prometheus text (comments skipped); a line that does not
/// parse fails the test.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a value: {line}"));
            (series.to_owned(), value)
        })
        .collect()
}

async fn scrape(client: &reqwest::Client, server: &Server) -> std::collections::BTreeMap<String, f64> {
    let response = client.get(server.url("/metrics")).send().await.expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    parse_metrics(&response.text().await.expect("text"))
}

#[tokio::test]
async fn metrics_count_the_calls_made_by_outcome() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let before = scrape(&client, &server).await;
    for _ in 0..3 {
        let (status, _, _) = post(&client, &server.url("/v1/extensions/echo/invoke"), r#"{"n": 1}"#).await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = post(&client, &server.url("/v1/extensions/text-stats/invoke"), "{}").await;
    assert_eq!(status, 422);
    let after = scrape(&client, &server).await;
    let delta =
        |series: &str| after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0);
    assert_eq!(
        delta(r#"symphony_extension_calls_total{extension="echo@1.0.0",outcome="ok"}"#),
        3.0,
        "{after:?}"
    );
    assert_eq!(
        delta(r#"symphony_extension_calls_total{extension="text-stats@1.0.0",outcome="invalid_input"}"#),
        1.0
    );
    assert_eq!(delta(r#"symphony_extension_call_duration_seconds_count{extension="echo@1.0.0"}"#), 3.0);
    assert!(delta(r#"symphony_extension_call_fuel_sum{extension="echo@1.0.0"}"#) > 0.0);
    assert_eq!(after.get(r#"symphony_breaker_state{extension="echo@1.0.0"}"#), Some(&0.0), "closed");
    assert_eq!(after.get(r#"symphony_extension_quarantined{extension="miner@1.0.0"}"#), Some(&0.0));
    assert_eq!(after.get("symphony_reservation_in_use_bytes"), Some(&0.0), "nothing in flight");
    let admitted: f64 = ["optional", "recommended", "essential"]
        .iter()
        .map(|p| delta(&format!(r#"symphony_reservation_wait_seconds_count{{priority="{p}"}}"#)))
        .sum();
    assert_eq!(admitted, 4.0, "every call's reservation wait is recorded: {after:?}");
    assert!(after.get("symphony_audit_records_written_total").is_some_and(|n| *n >= 1.0), "{after:?}");
    assert_eq!(after.get("symphony_audit_records_dropped_total"), Some(&0.0));
}

/// Read `response`'s SSE stream until a chunk contains `needle`, at most `within`; what was read.
async fn read_events_until(response: &mut reqwest::Response, needle: &str, within: Duration) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !seen.contains(needle) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    seen
}

#[tokio::test]
async fn events_stream_breaker_transitions_as_they_happen() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let mut events = client.get(server.url("/v1/events")).send().await.expect("events");
    assert_eq!(events.status().as_u16(), 200);
    assert!(events.headers()["content-type"].to_str().is_ok_and(|t| t.starts_with("text/event-stream")));
    // panicker fails every call: its breaker opens once the window has enough calls.
    let mut seen = String::new();
    for _ in 0..40 {
        let _ = post(&client, &server.url("/v1/extensions/panicker/invoke"), "{}").await;
        seen.push_str(&read_events_until(&mut events, "\"to\":\"open\"", Duration::from_millis(50)).await);
        if seen.contains("\"to\":\"open\"") {
            break;
        }
    }
    assert!(seen.contains("event: breaker_state_changed"), "{seen}");
    let data = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|d| d["to"] == "open")
        .expect("an open transition");
    assert_eq!(
        (data["extension"].as_str(), data["from"].as_str()),
        (Some("panicker@1.0.0"), Some("closed")),
        "{data}"
    );
}

#[tokio::test]
async fn health_reports_each_breakers_recovery_and_each_extensions_fallbacks() {
    let server = Server::start(&[]);
    let client = reqwest::Client::new();
    let flaky = server.url("/v1/extensions/flaky/invoke");
    // Every attempt fails until its breaker opens and the API answers 503.
    let mut open = false;
    for _ in 0..40 {
        let (status, body, _) = post(&client, &flaky, r#"{"fail_times": 99}"#).await;
        if status == 503 && body["error"]["kind"] == "circuit_open" {
            open = true;
            break;
        }
    }
    assert!(open, "flaky's breaker never opened");
    // After the open period, succeeding probes close it: one trip recovered.
    let mut closed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, _, _) = post(&client, &flaky, "{}").await;
        let health: Value =
            client.get(server.url("/v1/health")).send().await.expect("health").json().await.expect("json");
        let entry = health["extensions"]
            .as_array()
            .and_then(|all| all.iter().find(|e| e["extension"] == "flaky@1.0.0").cloned())
            .expect("flaky's entry");
        if status == 200 && entry["recovery"]["recovered_trips"] == 1 {
            assert!(entry["recovery"]["mean_recovery_ms"].as_u64().is_some(), "{entry}");
            assert_eq!(entry["recovery"]["state"], "closed", "{entry}");
            assert_eq!(entry["fallback"]["fallbacks"], 0, "flaky has no fallback: {entry}");
            assert!(entry["fallback"]["calls"].as_u64() > Some(1), "{entry}");
            closed = true;
            break;
        }
    }
    assert!(closed, "flaky's breaker never recovered");
}
