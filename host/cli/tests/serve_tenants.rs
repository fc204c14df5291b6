//! Tenants of `symphony serve`, against a real server on loopback: a wrong or missing key is
//! 401; a tenant calling an extension it is not allowed gets 403 and the guest never runs; a
//! tenant over its fuel per minute gets 429 with `Retry-After` while another is served; calls
//! beyond its concurrency quota and bodies beyond its size quota are refused; a tenant sees its
//! own use in `/v1/health`; a bad `[[tenants]]` entry names its file, line and field.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::process::Command;

use serde_json::Value;
use symphony_host::tenants::api_key_sha256;

mod support;

use support::{ServedConfig, metric, samples_config};

/// `symphony serve` under a config with `tenants` (TOML).
type Server = ServedConfig;

/// The samples, with `batch` granted its clock, and `tenants`.
fn config_text(tenants: &str) -> String {
    format!("[[capabilities]]\nextensions = [\"batch\"]\nclocks = true\n\n{tenants}")
}

fn serve(tenants: &str) -> Server {
    ServedConfig::start(&config_text(tenants))
}

fn tenant(id: &str, key: &str, extensions: &[&str], quotas: &str) -> String {
    format!(
        "[[tenants]]\nid = {id:?}\napi_key_sha256 = {:?}\nextensions = {extensions:?}\n[tenants.quotas]\n{quotas}\n\n",
        api_key_sha256(key)
    )
}

async fn call(
    server: &Server,
    key: Option<&str>,
    extension: &str,
    body: &str,
) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/extensions/{extension}/invoke", server.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("response");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, response.json().await.unwrap_or(Value::Null), retry_after)
}

async fn health(server: &Server, key: &str) -> Value {
    let response =
        reqwest::Client::new().get(format!("{}/v1/health", server.base)).bearer_auth(key).send().await;
    response.expect("health").json().await.expect("json")
}

fn calls_of(health: &Value, extension: &str) -> u64 {
    health["extensions"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["extension"] == extension))
        .and_then(|e| e["calls"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn keys_allow_lists_and_fuel_quotas_hold_per_tenant() {
    let tenants = tenant("acme", "acme-key", &["echo"], "fuel_per_minute = 3_000")
        + &tenant("beta", "beta-key", &["echo", "text-stats"], "");
    let server = serve(&tenants);

    for key in [None, Some("wrong")] {
        let (status, body, _) = call(&server, key, "echo", "{}").await;
        assert_eq!((status, body["error"]["kind"].as_str()), (401, Some("unauthenticated")), "{body}");
    }
    let unauthenticated =
        reqwest::Client::new().get(format!("{}/v1/health", server.base)).send().await.expect("health");
    assert_eq!(unauthenticated.status().as_u16(), 401);
    assert_eq!(unauthenticated.headers()["www-authenticate"], "Bearer");

    // Not allowed: refused before the guest runs.
    let (status, body, _) = call(&server, Some("acme-key"), "text-stats", r#"{"text": "a b"}"#).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (403, Some("forbidden")), "{body}");
    assert_eq!(calls_of(&health(&server, "beta-key").await, "text-stats@1.0.0"), 0, "the guest never ran");

    // echo burns ~1.6k fuel: two calls fit acme's 3k (the second takes it below zero), the third waits.
    for _ in 0..2 {
        let (status, body, _) = call(&server, Some("acme-key"), "echo", r#"{"n": 1}"#).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tenant"], "acme");
    }
    let echo_calls = calls_of(&health(&server, "acme-key").await, "echo@1.0.0");
    let (status, body, retry_after) = call(&server, Some("acme-key"), "echo", r#"{"n": 1}"#).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (429, Some("fuel_quota")), "{body}");
    assert!(
        retry_after.as_deref().and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s >= 1),
        "{retry_after:?}"
    );
    assert_eq!(
        calls_of(&health(&server, "acme-key").await, "echo@1.0.0"),
        echo_calls,
        "refused without running"
    );
    let (status, _, _) = call(&server, Some("beta-key"), "echo", r#"{"n": 1}"#).await;
    assert_eq!(status, 200, "beta is served while acme waits");

    let acme = health(&server, "acme-key").await;
    assert_eq!(acme["tenant"]["id"], "acme", "{acme}");
    assert_eq!((acme["tenant"]["calls"].as_u64(), acme["tenant"]["refusals"].as_u64()), (Some(2), Some(2)));
    assert!(acme["tenant"]["fuel_used"].as_u64() > Some(3_000), "{acme}");
    let beta = health(&server, "beta-key").await;
    assert_eq!(beta["tenant"]["id"], "beta", "each tenant sees only its own use");

    // Refusals as they happen and each tenant's use at shutdown, in the audit log.
    let mut server = server;
    assert!(server.served.terminate(), "exit 0 after SIGTERM");
    let log = std::fs::read_to_string(server.dir.path().join("audit.log")).expect("audit log");
    let events: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).expect("a JSON record")).collect();
    let of = |kind: &str, tenant: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["event"] == kind && e["details"]["tenant"] == tenant)
            .map(|e| e["details"].clone())
            .collect()
    };
    let reasons: Vec<String> =
        of("tenant_refused", "acme").iter().filter_map(|d| d["reason"].as_str().map(str::to_owned)).collect();
    assert_eq!(reasons, ["forbidden", "fuel_quota"], "{log}");
    let acme_usage = of("tenant_usage", "acme");
    assert_eq!(acme_usage.len(), 1, "{log}");
    assert_eq!((acme_usage[0]["calls"].as_u64(), acme_usage[0]["refusals"].as_u64()), (Some(2), Some(2)));
    assert!(acme_usage[0]["fuel"].as_u64() > Some(3_000), "{log}");
    let beta_usage = of("tenant_usage", "beta");
    assert_eq!((beta_usage.len(), beta_usage[0]["calls"].as_u64()), (1, Some(1)), "{log}");
}

#[tokio::test]
async fn concurrency_and_body_quotas_refuse_before_anything_runs() {
    let server = serve(&tenant(
        "gamma",
        "gamma-key",
        &["echo", "batch"],
        "concurrent_calls = 1\nmax_body_bytes = 200",
    ));
    let long = {
        let base = server.base.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/v1/extensions/batch/invoke"))
                .bearer_auth("gamma-key")
                .body(r#"{"items": 20, "item_ms": 50}"#)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    // Wait until the long call holds gamma's one slot.
    let mut held = false;
    for _ in 0..200 {
        if health(&server, "gamma-key").await["tenant"]["in_flight"] == 1 {
            held = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(held, "the long call never started");
    let (status, body, _) = call(&server, Some("gamma-key"), "echo", "{}").await;
    assert_eq!((status, body["error"]["kind"].as_str()), (429, Some("concurrency_quota")), "{body}");
    assert_eq!(long.await.expect("join").expect("the long call"), 200);

    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(300));
    let (status, body, _) = call(&server, Some("gamma-key"), "echo", &big).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (413, Some("body_too_large")), "{body}");
    let (status, _, _) = call(&server, Some("gamma-key"), "echo", "{}").await;
    assert_eq!(status, 200, "the slot came back");
}

#[test]
fn a_bad_tenant_names_its_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = tenant("acme", "k1", &["echo"], "");
    let bad = "[[tenants]]\nid = \"beta\"\napi_key_sha256 = \"not-a-hash\"\n";
    let path = samples_config(dir.path(), &config_text(&(good + bad)));
    let out = Command::new(env!("CARGO_BIN_EXE_symphony"))
        .arg("--state-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&path)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&path).expect("config");
    let line = text.lines().position(|l| l.contains("not-a-hash")).expect("bad line") + 1;
    assert!(stderr.contains(&format!("symphony.toml:{line}")), "{stderr}");
    assert!(stderr.contains("tenants[1].api_key_sha256"), "{stderr}");
}

/// Memory the reservation pool holds for calls in flight, from `/metrics`.
async fn pool_in_use_bytes(server: &Server, key: &str) -> f64 {
    metric(&server.base, Some(key), "symphony_reservation_in_use_bytes").await.unwrap_or(0.0)
}

/// Start a long `batch` call for `key` (`items` × 50 ms) and wait until the reservation pool
/// holds it; returns its status once it ends.
async fn hold_with_batch(
    server: &Server,
    key: &'static str,
    items: u32,
    claim: Option<&'static str>,
) -> tokio::task::JoinHandle<u16> {
    let base = server.base.clone();
    let long = tokio::spawn(async move {
        let mut request = reqwest::Client::new()
            .post(format!("{base}/v1/extensions/batch/invoke"))
            .bearer_auth(key)
            .body(format!(r#"{{"items": {items}, "item_ms": 50}}"#));
        if let Some(claim) = claim {
            request = request.header("symphony-priority", claim);
        }
        request.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    });
    for _ in 0..300 {
        if pool_in_use_bytes(server, key).await > 0.0 {
            return long;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the long call never started");
}

#[tokio::test]
async fn a_tenants_reservation_share_bounds_what_its_calls_hold_at_once() {
    // batch reserves its 16 MiB limit: one fits delta's half of 48 MiB, two do not.
    let server = serve(&format!(
        "{}\n[reservation]\nmemory_budget_bytes = \"48 MiB\"\n",
        tenant("delta", "delta-key", &["batch"], "reservation_share = 0.5")
    ));
    let long = hold_with_batch(&server, "delta-key", 20, None).await;
    let held = health(&server, "delta-key").await;
    assert_eq!(held["tenant"]["reserved_memory_bytes"], 16 << 20, "{held}");
    let (status, body, retry_after) = call(&server, Some("delta-key"), "batch", r#"{"items": 1}"#).await;
    assert_eq!((status, body["error"]["kind"].as_str()), (429, Some("reservation_share")), "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(long.await.expect("join"), 200);
    assert_eq!(calls_of(&health(&server, "delta-key").await, "batch@1.0.0"), 1, "the refused call never ran");
    let (status, body, _) = call(&server, Some("delta-key"), "batch", r#"{"items": 1}"#).await;
    assert_eq!(status, 200, "the share came back: {body}");
    assert_eq!(health(&server, "delta-key").await["tenant"]["reserved_memory_bytes"], 0);
}

#[tokio::test]
async fn a_tenant_cannot_claim_above_its_max_priority_and_its_calls_are_capped_there() {
    // The pool holds one batch call; an optional call that cannot start at once is refused
    // (its queue holds none), a recommended one waits its turn.
    let tenants = format!(
        "{}max_priority = \"optional\"\n{}max_priority = \"essential\"\n\
         [reservation]\nmemory_budget_bytes = \"16 MiB\"\nqueue_timeout_ms = 10_000\n\
         queue_capacity = {{ optional = 0 }}\n",
        tenant("low", "low-key", &["batch"], "").replace("[tenants.quotas]\n\n", ""),
        tenant("high", "high-key", &["batch"], "").replace("[tenants.quotas]\n\n", ""),
    );
    let server = serve(&tenants);
    let request = |key: &'static str, claim: Option<&'static str>| {
        let mut request = reqwest::Client::new()
            .post(format!("{}/v1/extensions/batch/invoke", server.base))
            .bearer_auth(key)
            .body(r#"{"items": 1}"#);
        if let Some(claim) = claim {
            request = request.header("symphony-priority", claim);
        }
        request
    };
    let kind = |body: &Value| body["error"]["kind"].as_str().map(str::to_owned);

    let response = request("low-key", Some("essential")).send().await.expect("response");
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(kind(&body).as_deref(), Some("priority_not_allowed"), "{body}");
    let response = request("high-key", Some("urgent")).send().await.expect("response");
    assert_eq!(response.status().as_u16(), 400);

    let long = hold_with_batch(&server, "high-key", 30, Some("essential")).await;
    // batch's manifest says recommended; low's calls are capped at optional, so refused.
    let response = request("low-key", None).send().await.expect("response");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    assert_eq!((status, kind(&body).as_deref()), (503, Some("overloaded")), "{body}");
    // high's calls at the manifest's class and at a claimed essential wait for the pool, each
    // in its class's queue, and are served.
    let waiting = tokio::spawn(request("high-key", None).send());
    let claiming = tokio::spawn(request("high-key", Some("essential")).send());
    let queued = |class: &str| format!("symphony_reservation_queued{{priority=\"{class}\"}}");
    let mut seen_queued = false;
    for _ in 0..300 {
        let recommended = metric(&server.base, Some("high-key"), &queued("recommended")).await;
        let essential = metric(&server.base, Some("high-key"), &queued("essential")).await;
        let optional = metric(&server.base, Some("high-key"), &queued("optional")).await;
        if (recommended, essential, optional) == (Some(1.0), Some(1.0), Some(0.0)) {
            seen_queued = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(seen_queued, "the waiting calls never showed in their classes' queues");
    let response = waiting.await.expect("join").expect("response");
    assert_eq!(response.status().as_u16(), 200);
    let response = claiming.await.expect("join").expect("response");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(long.await.expect("join"), 200);
    let low = health(&server, "low-key").await;
    assert_eq!(low["tenant"]["max_priority"], "optional", "{low}");
}
