//! The workflow runs API of `symphony serve` against a real server and real components: a run
//! started over HTTP is polled to its result; another tenant's run answers 404 like an unknown
//! one; a run is cancelled mid-way and resumed with its finished steps taken from the journal;
//! the same `Idempotency-Key` names the same run; a tenant not allowed a workflow gets 403.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use symphony_host::tenants::api_key_sha256;

mod support;

use support::{Served as Server, root};

const QUICK: &str = "name = \"quick\"\n[[steps]]\nid = \"only\"\nextension = \"echo\"\n";
const SLOW: &str = "name = \"slow\"\n[[steps]]\nid = \"first\"\nextension = \"echo\"\n\n[[steps]]\nid = \"long\"\nextension = \"batch\"\nneeds = [\"first\"]\ninput = { items = 40, item_ms = 50 }\n\n[[steps]]\nid = \"last\"\nextension = \"echo\"\nneeds = [\"first\", \"long\"]\ninput = { first = \"$steps.first\", done = \"$steps.long/done\" }\n";

/// A server over the state directory `dir` (set up on first use).
fn serve(dir: &Path) -> Server {
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).expect("mkdir");
    std::fs::write(flows.join("quick.toml"), QUICK).expect("quick");
    std::fs::write(flows.join("slow.toml"), SLOW).expect("slow");
    let tenant = |id: &str, workflows: &str, quotas: &str| {
        format!(
            "[[tenants]]\nid = \"{id}\"\napi_key_sha256 = \"{}\"\nextensions = [\"echo\"]\nworkflows = {workflows}\n[tenants.quotas]\n{quotas}\n\n",
            api_key_sha256(&format!("{id}-key"))
        )
    };
    let config = dir.join("symphony.toml");
    std::fs::write(
        &config,
        format!(
            "extension_dirs = [{:?}]\nworkflow_dirs = [\"flows\"]\n\n[[capabilities]]\nextensions = [\"batch\"]\nclocks = true\n\n{}{}{}",
            root().join("sample-extensions").display().to_string(),
            tenant("acme", "[\"*\"]", ""),
            tenant("beta", "[\"quick\"]", ""),
            tenant("solo", "[\"*\"]\nmax_priority = \"optional\"", "concurrent_calls = 1")
        ),
    )
    .expect("config");
    Server::start(dir, &config, &[])
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("response");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn start(
    server: &Server,
    tenant: &str,
    workflow: &str,
    input: &Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/workflows/{workflow}/runs", server.base))
        .bearer_auth(format!("{tenant}-key"))
        .json(input);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    send(request).await
}

async fn show(server: &Server, tenant: &str, run: &str) -> (u16, Value) {
    send(
        reqwest::Client::new()
            .get(format!("{}/v1/runs/{run}", server.base))
            .bearer_auth(format!("{tenant}-key")),
    )
    .await
}

async fn act(server: &Server, tenant: &str, run: &str, action: &str) -> (u16, Value) {
    let url = format!("{}/v1/runs/{run}/{action}", server.base);
    send(reqwest::Client::new().post(url).bearer_auth(format!("{tenant}-key"))).await
}

/// Poll `run` until its status is not `running`.
async fn until_done(server: &Server, tenant: &str, run: &str) -> Value {
    for _ in 0..1_000 {
        let (status, body) = show(server, tenant, run).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] != "running" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {run} never ended");
}

#[tokio::test]
async fn runs_are_started_polled_kept_apart_cancelled_and_resumed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path());
    let (status, body) = start(&server, "acme", "quick", &json!({"a": 1}), None).await;
    assert_eq!(status, 202, "{body}");
    let run = body["run_id"].as_str().expect("run id").to_owned();
    let done = until_done(&server, "acme", &run).await;
    assert_eq!((done["status"].as_str(), &done["output"]), (Some("succeeded"), &json!({"a": 1})), "{done}");

    // Another tenant's run is indistinguishable from no run.
    let (status, theirs) = show(&server, "beta", &run).await;
    let (_, none) = show(&server, "beta", "no-such-run").await;
    assert_eq!((status, theirs["error"]["kind"].as_str()), (404, Some("unknown_run")), "{theirs}");
    assert_eq!(theirs["error"]["kind"], none["error"]["kind"]);
    assert_eq!(act(&server, "beta", &run, "cancel").await.0, 404);

    let (status, body) = start(&server, "beta", "slow", &json!({}), None).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (403, Some("forbidden")), "{body}");
    let (status, body) = start(&server, "acme", "nope", &json!({}), None).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (404, Some("unknown_workflow")), "{body}");

    // Same key, same run.
    let (_, first) = start(&server, "acme", "quick", &json!({"k": 1}), Some("k-1")).await;
    let first_id = first["run_id"].as_str().expect("id").to_owned();
    until_done(&server, "acme", &first_id).await;
    let (_, again) = start(&server, "acme", "quick", &json!({"k": 1}), Some("k-1")).await;
    assert_eq!(again["run_id"], first_id.as_str());
    let (_, beta_same_key) = start(&server, "beta", "quick", &json!({"k": 1}), Some("k-1")).await;
    assert_ne!(beta_same_key["run_id"], first_id.as_str(), "keys are scoped to the tenant");

    // Cancel mid-way, then resume: the finished step comes from the journal.
    let slow = start_slow(&server).await;
    let (status, body) = act(&server, "acme", &slow, "cancel").await;
    assert_eq!(status, 202, "{body}");
    let cancelled = until_done(&server, "acme", &slow).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let (status, body) = act(&server, "acme", &slow, "resume").await;
    assert_eq!(status, 202, "{body}");
    let resumed = until_done(&server, "acme", &slow).await;
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    assert_eq!(resumed["steps"][0]["resumed"], true, "first came from the journal: {resumed}");
    assert_eq!(resumed["output"], json!({"first": {"n": 7}, "done": 40}));
}

/// Start the slow workflow for acme and return once its long step reports progress.
async fn start_slow(server: &Server) -> String {
    let (_, body) = start(server, "acme", "slow", &json!({"n": 7}), None).await;
    let slow = body["run_id"].as_str().expect("id").to_owned();
    for _ in 0..1_000 {
        let (_, now) = show(server, "acme", &slow).await;
        if now["progress"]["steps"][1]["fraction"].as_f64() > Some(0.0) {
            return slow;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the long step never reported progress");
}

#[tokio::test]
async fn sigterm_checkpoints_running_workflows_and_a_restarted_server_resumes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = serve(dir.path());
    let slow = start_slow(&server).await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().expect("wait");
        drop(server);
        status
    })
    .await
    .expect("join");
    assert!(exited.success(), "{exited:?}");

    let server = serve(dir.path());
    let (status, body) = show(&server, "acme", &slow).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")), "journaled, resumable: {body}");
    assert_eq!(body["steps_done"], 1, "{body}");
    assert_eq!(show(&server, "beta", &slow).await.0, 404, "still acme's alone after a restart");
    let (status, body) = act(&server, "acme", &slow, "resume").await;
    assert_eq!(status, 202, "{body}");
    let resumed = until_done(&server, "acme", &slow).await;
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    assert_eq!(resumed["steps"][0]["resumed"], true);
}

#[tokio::test]
async fn events_carry_a_tenants_own_run_progress_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path());
    let subscribe = |tenant: &str| {
        reqwest::Client::new()
            .get(format!("{}/v1/events", server.base))
            .bearer_auth(format!("{tenant}-key"))
            .send()
    };
    let mut acme = subscribe("acme").await.expect("acme events");
    let mut beta = subscribe("beta").await.expect("beta events");
    assert_eq!(
        reqwest::get(format!("{}/v1/events", server.base)).await.expect("anonymous").status().as_u16(),
        401
    );
    let slow = start_slow(&server).await;
    let mut seen = String::new();
    while !seen.contains(&slow) {
        match tokio::time::timeout(Duration::from_secs(20), acme.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("acme's stream ended before its run showed: {other:?} {seen}"),
        }
    }
    assert!(seen.contains("event: runs"), "{seen}");
    let mut theirs = String::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(1_500);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, beta.chunk()).await {
        theirs.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!theirs.contains(&slow), "beta saw acme's run: {theirs}");
}

#[tokio::test]
async fn a_run_holds_one_of_its_tenants_call_slots_and_its_steps_are_capped_at_its_priority() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path());
    let echo = |server: &Server| {
        send(
            reqwest::Client::new()
                .post(format!("{}/v1/extensions/echo/invoke", server.base))
                .bearer_auth("solo-key")
                .body("{}"),
        )
    };
    let (status, body) = start(&server, "solo", "slow", &json!({}), None).await;
    assert_eq!(status, 202, "{body}");
    let run = body["run_id"].as_str().expect("run id").to_owned();
    // solo's one slot is the run's: a call and a second run are refused while it goes.
    let (status, body) = echo(&server).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (429, Some("concurrency_quota")), "{body}");
    let (status, body) = start(&server, "solo", "quick", &json!({}), None).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (429, Some("concurrency_quota")), "{body}");
    let done = until_done(&server, "solo", &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let (status, body) = echo(&server).await;
    assert_eq!(status, 200, "the slot came back with the run's end: {body}");

    // solo may claim no more than optional: the run's batch step (recommended by its
    // manifest) was admitted to the pool as optional, like every other step.
    let admitted = |priority: &'static str| {
        let series = format!("symphony_reservation_wait_seconds_count{{priority=\"{priority}\"}}");
        let base = server.base.clone();
        async move { support::metric(&base, Some("solo-key"), &series).await.unwrap_or(0.0) }
    };
    assert_eq!(admitted("recommended").await, 0.0);
    assert!(admitted("optional").await >= 4.0, "three steps and the call");
}
