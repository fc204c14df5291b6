//! Traces from `symphony serve`, against real parts: a real server process with `[telemetry]`
//! pointing at an OTLP/HTTP receiver this test runs on loopback (protobuf decoded with
//! `opentelemetry-proto`), real components behind it.
//!
//! - A retried call (flaky failing twice) arrives as one tree: the request span is the parent
//!   of three attempt spans, each the parent of its sandbox-call span, with the extension,
//!   attempt, error kind, fuel and memory attributes, under the configured `service.name`.
//! - A collector nothing listens on: every call still answers 200, and `/v1/health`, `/metrics`
//!   and the dashboard say telemetry is degraded, with failed exports.
//! - A collector that never answers and `queue_spans = 1`: spans beyond the queue are dropped
//!   and counted (with the default queue none would be), and with a long export timeout no
//!   export has failed yet; with a short one exports fail at it, calls do not, and SIGTERM still
//!   exits, the final flush bounded by the export timeout.
//! - A workflow run arrives as one tree too: the run span, a span per step under it, the
//!   conductor's attempts under each step.
//! - Without `[telemetry]`: telemetry off.
//!
//! Waits poll with a bound; nothing asserts on how long anything took.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;

mod support;

use support::{ServedConfig, root};

/// The longest any poll here waits for what it expects.
const WAIT: Duration = Duration::from_secs(60);

/// `symphony serve` under a config of the samples plus `telemetry` (TOML).
type Server = ServedConfig;

fn serve(telemetry: &str) -> Server {
    ServedConfig::start(telemetry)
}

/// A span as received, with the `service.name` of its resource.
#[derive(Debug, Clone)]
struct Received {
    service: Option<String>,
    span: Span,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&any_value::Value> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.attribute(key) {
            Some(any_value::Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.attribute(key) {
            Some(any_value::Value::IntValue(i)) => Some(*i),
            _ => None,
        }
    }
}

fn text_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref() {
        Some(AnyValue { value: Some(any_value::Value::StringValue(s)) }) => Some(s.clone()),
        _ => None,
    })
}

/// An OTLP/HTTP receiver on `127.0.0.1:0`: `POST /v1/traces` decoded and kept.
struct Receiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&spans);
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
                    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                    for resource in request.resource_spans {
                        let service =
                            resource.resource.as_ref().and_then(|r| text_of(&r.attributes, "service.name"));
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                kept.push(Received { service: service.clone(), span });
                            }
                        }
                    }
                    (
                        [("content-type", "application/x-protobuf")],
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, spans }
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A collector that accepts connections and never answers: every export waits for its timeout.
fn silent_collector() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// An address nothing listens on: a port bound, then closed.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

async fn invoke(server: &Server, extension: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/v1/extensions/{extension}/invoke")))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("response");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn telemetry(server: &Server) -> Value {
    let health: Value =
        reqwest::get(server.url("/v1/health")).await.expect("health").json().await.expect("json");
    health["telemetry"].clone()
}

/// `/v1/health`'s telemetry once `done` holds of it, within [`WAIT`].
async fn telemetry_when(server: &Server, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = telemetry(server).await;
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "telemetry never got there: {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(server: &Server, name: &str) -> f64 {
    support::metric(&server.base, None, name).await.unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// The request span of the retried call with its attempts (in order) and their sandbox calls,
/// once all of it has arrived.
fn call_tree(spans: &[Received]) -> Option<(Received, Vec<(Received, Received)>)> {
    let request = spans.iter().find(|s| {
        s.span.name == "POST /v1/extensions/{ext}/invoke" && s.text("extension") == Some("flaky")
    })?;
    let children = |parent: &Received, name: &str| -> Vec<Received> {
        spans
            .iter()
            .filter(|s| s.span.parent_span_id == parent.span.span_id && s.span.name == name)
            .cloned()
            .collect()
    };
    let mut attempts = children(request, "conductor.attempt");
    attempts.sort_by_key(|a| a.int("attempt"));
    let mut tree = Vec::new();
    for attempt in attempts {
        let [call] = children(&attempt, "sandbox.call").try_into().ok()?;
        tree.push((attempt, call));
    }
    (tree.len() == 3).then(|| (request.clone(), tree))
}

#[tokio::test]
async fn a_retried_call_arrives_as_one_tree_request_attempts_and_sandbox_calls() {
    let receiver = Receiver::start().await;
    let server = serve(&format!(
        "[telemetry]\notlp_endpoint = \"http://{}\"\nservice_name = \"symphony-under-test\"\n",
        receiver.addr
    ));
    let (status, body) = invoke(&server, "flaky", r#"{"fail_times": 2}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attempts"].as_array().map(Vec::len), Some(3), "{body}");

    let deadline = Instant::now() + WAIT;
    let (request, tree) = loop {
        let spans = receiver.spans();
        if let Some(tree) = call_tree(&spans) {
            break tree;
        }
        assert!(Instant::now() < deadline, "the call's spans never all arrived: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(request.service.as_deref(), Some("symphony-under-test"), "service_name is the resource's");
    assert_eq!(request.text("http.route"), Some("/v1/extensions/{ext}/invoke"));
    assert_eq!(request.text("http.request.method"), Some("POST"));
    assert_eq!(request.int("http.response.status_code"), Some(200), "{request:?}");
    assert!(request.span.parent_span_id.is_empty(), "the request span is the root");
    for (number, (attempt, call)) in (1_i64..).zip(&tree) {
        assert_eq!(attempt.span.trace_id, request.span.trace_id, "one trace");
        assert_eq!(call.span.trace_id, request.span.trace_id, "one trace");
        assert_eq!((attempt.text("extension"), attempt.text("version")), (Some("flaky"), Some("1.0.0")));
        assert_eq!(attempt.int("attempt"), Some(number));
        assert_eq!(call.text("extension"), Some("flaky"));
        assert_eq!(call.int("attempt"), Some(number), "the sandbox ran the attempt it is under");
        assert!(call.int("fuel").is_some_and(|f| f > 0), "{call:?}");
        assert!(call.int("memory_peak_bytes").is_some_and(|m| m > 0), "{call:?}");
        let failed = number < 3;
        let (outcome, kind) = if failed { ("error", Some("unavailable")) } else { ("ok", None) };
        assert_eq!(
            (attempt.text("outcome"), attempt.text("error_kind")),
            (Some(outcome), kind),
            "{attempt:?}"
        );
        assert_eq!(attempt.text("error_source"), failed.then_some("guest"), "{attempt:?}");
        assert_eq!((call.text("outcome"), call.text("error_kind")), (Some(outcome), kind), "{call:?}");
    }

    let now = telemetry_when(&server, |t| t["exported"].as_u64() >= Some(7)).await;
    assert_eq!(now["state"], "ok", "{now}");
    assert_eq!(now["enabled"], true, "{now}");
    assert_eq!(now["endpoint"].as_str(), Some(format!("http://{}/v1/traces", receiver.addr).as_str()));
}

#[tokio::test]
async fn an_unreachable_collector_fails_no_call_and_shows_degraded() {
    let server = serve(&format!("[telemetry]\notlp_endpoint = \"http://{}\"\n", closed_port()));
    for i in 0..20 {
        let (status, body) = invoke(&server, "echo", &format!(r#"{{"call": {i}}}"#)).await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    let now = telemetry_when(&server, |t| t["export_failures"].as_u64() > Some(0)).await;
    assert_eq!(now["state"], "degraded", "{now}");
    assert!(now["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{now}");
    assert!(metric(&server, "symphony_telemetry_export_failures_total").await > 0.0);

    // The dashboard says so, in words and in colour.
    let chromium = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .args(["--virtual-time-budget=4000", "--dump-dom", &server.url("/?poll")])
        .stderr(std::process::Stdio::null())
        .output()
        .expect("chromium (tests/run.sh installs it)");
    let html = String::from_utf8_lossy(&chromium.stdout);
    let badge = html
        .find("id=\"telemetry\"")
        .map(|start| &html[start..html[start..].find("</span>").map_or(html.len(), |end| start + end)])
        .unwrap_or_else(|| panic!("no telemetry badge: {html}"));
    assert!(badge.contains("telemetry-degraded") && badge.contains("data-state=\"degraded\""), "{badge}");
    assert!(badge.contains("telemetry degraded (") && badge.contains("last error"), "{badge}");
}

#[tokio::test]
async fn a_full_queue_drops_spans_and_counts_them_while_calls_go_on() {
    // The collector holds the first export for the whole test; the queue holds one span more.
    let server = serve(&format!(
        "[telemetry]\notlp_endpoint = \"http://{}\"\nqueue_spans = 1\nexport_timeout_ms = 60_000\n",
        silent_collector()
    ));
    for i in 0..10 {
        let (status, body) = invoke(&server, "echo", &format!(r#"{{"call": {i}}}"#)).await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    // 10 calls made 30 spans; at most one is being exported and one waits.
    let now = telemetry_when(&server, |t| t["dropped"].as_u64() >= Some(20)).await;
    assert_eq!(now["state"], "degraded", "{now}");
    assert_eq!(now["exported"], 0, "{now}");
    // The first export still waits: its timeout is this config's, not a shorter default.
    assert_eq!(now["export_failures"], 0, "{now}");
    assert!(metric(&server, "symphony_telemetry_spans_dropped_total").await >= 20.0);
}

#[test]
fn a_collector_slower_than_the_export_timeout_fails_exports_not_calls_and_sigterm_exits() {
    let mut server = serve(&format!(
        "[telemetry]\notlp_endpoint = \"http://{}\"\nexport_timeout_ms = 200\n",
        silent_collector()
    ));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (status, _) = runtime.block_on(invoke(&server, "echo", "{}"));
    assert_eq!(status, 200);
    // Only this config's timeout ends an export to a collector that never answers.
    let now = runtime.block_on(telemetry_when(&server, |t| t["export_failures"].as_u64() > Some(0)));
    assert_eq!((now["state"].as_str(), now["exported"].as_u64()), (Some("degraded"), Some(0)), "{now}");
    let pid = server.served.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let deadline = Instant::now() + WAIT;
    let exited = loop {
        if let Some(status) = server.served.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exited.success(), "{exited:?}");
}

#[tokio::test]
async fn without_a_telemetry_section_telemetry_is_off() {
    let server = serve("");
    let (status, _) = invoke(&server, "echo", "{}").await;
    assert_eq!(status, 200);
    let now = telemetry(&server).await;
    assert_eq!((now["state"].as_str(), now["enabled"].as_bool()), (Some("off"), Some(false)), "{now}");
    assert_eq!((now["exported"].as_u64(), now["dropped"].as_u64()), (Some(0), Some(0)), "{now}");
}

#[tokio::test]
async fn a_workflow_run_arrives_as_one_tree_run_steps_and_attempts() {
    let receiver = Receiver::start().await;
    let server = serve(&format!("[telemetry]\notlp_endpoint = \"http://{}\"\n", receiver.addr));
    let input = std::fs::read_to_string(root().join("sample-extensions/workflows/inputs/report-ok.json"))
        .expect("the sample input");
    let response = reqwest::Client::new()
        .post(server.url("/v1/workflows/report/runs"))
        .header("content-type", "application/json")
        .body(input)
        .send()
        .await
        .expect("start the run");
    assert_eq!(response.status().as_u16(), 202);
    let started: Value = response.json().await.expect("json");
    let run_id = started["run_id"].as_str().expect("a run id").to_owned();

    let deadline = Instant::now() + WAIT;
    loop {
        let spans = receiver.spans();
        let run = spans.iter().find(|s| s.span.name == "workflow.run" && s.text("run_id") == Some(&run_id));
        if let Some(run) = run.filter(|r| r.text("status").is_some()) {
            assert_eq!((run.text("workflow"), run.text("status")), (Some("report"), Some("succeeded")));
            let steps: Vec<&Received> = spans
                .iter()
                .filter(|s| s.span.name == "workflow.step" && s.span.parent_span_id == run.span.span_id)
                .collect();
            let mut ids: Vec<&str> = steps.iter().filter_map(|s| s.text("step")).collect();
            ids.sort_unstable();
            if ids.len() == 3 {
                assert_eq!(ids, ["extract", "format", "summarize"]);
                for step in steps {
                    assert_eq!(step.text("status"), Some("ok"));
                    let attempts = spans
                        .iter()
                        .filter(|s| {
                            s.span.name == "conductor.attempt" && s.span.parent_span_id == step.span.span_id
                        })
                        .count();
                    assert!(attempts >= 1, "step {:?} has no attempt span", step.text("step"));
                }
                break;
            }
        }
        assert!(Instant::now() < deadline, "the run's span tree never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
