//! What the service adds to a call: `echo` (98 B) through a real `symphony serve` child over
//! HTTP/1.1 on loopback (`POST /v1/extensions/echo/invoke`, keep-alive, the response body read
//! whole) vs the same call made in process with `Platform::call` (the conductor path serve
//! itself takes), on a platform opened from the same config. Interleaved in batches of 10 after
//! a warm-up, each call timed on its own; the ratio is of medians, and the note gives the
//! difference in microseconds, which is what a caller pays per request.

use std::path::Path;
use std::time::Instant;

use super::per_call::Workload;
use super::serve_child::{ServeChild, ServeSetup};
use super::stats::Samples;
use super::{BenchError, BenchOptions, Row, Scenario, ratio, tokio_runtime};
use symphony_host::Platform;
use symphony_host::config::PlatformConfig;
use symphony_types::payload::CallRequest;

/// Calls per batch of one way before the other way's batch.
const BATCH: usize = 10;

/// Measure; `exe` is the `symphony` binary, `pins_from` a state directory holding pins.
///
/// # Errors
/// [`BenchError`] when the server, the platform or a call fails.
pub fn run(
    config: &PlatformConfig,
    exe: &Path,
    pins_from: &Path,
    options: BenchOptions,
) -> Result<Vec<Row>, BenchError> {
    let setup = ServeSetup::new(config, &[], "")?;
    let server = ServeChild::start(exe, &setup, &setup.state_dir("serve", pins_from)?)?;
    let runtime = tokio_runtime(0)?;
    // The platform starts its health tasks on the runtime it is opened in.
    let _entered = runtime.enter();
    let platform = Platform::open(setup.platform_config()?, setup.state_dir("local", pins_from)?)
        .map_err(|e| BenchError::State(e.to_string()))?;
    let echo = platform.load("echo").map_err(|e| BenchError::load("echo", e))?;
    let input = Workload::Echo.input();
    let client = reqwest::Client::new();
    let url = server.url("/v1/extensions/echo/invoke");
    let failed = |path: &'static str, message: String| BenchError::CallFailed {
        extension: "echo".into(),
        path,
        message,
    };
    let calls = options.calls.unwrap_or_else(|| options.pick(500, 4_000));
    let (local, http, server_cpu) = runtime.block_on(async {
        let in_process = || async {
            let started = Instant::now();
            let outcome = platform.call(&echo, CallRequest::new(input.clone())).await;
            outcome.result.map_err(|e| failed("in-process", e.to_string()))?;
            Ok::<_, BenchError>(started.elapsed())
        };
        let over_http = || async {
            let started = Instant::now();
            let response = client
                .post(&url)
                .header("content-type", input.content_type.as_str())
                .body(input.bytes.clone())
                .send()
                .await
                .map_err(|e| failed("serve", e.to_string()))?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| failed("serve", e.to_string()))?;
            if !status.is_success() {
                return Err(failed("serve", format!("{status}: {}", String::from_utf8_lossy(&body))));
            }
            Ok(started.elapsed())
        };
        for _ in 0..options.pick(50, 300) {
            in_process().await?;
            over_http().await?;
        }
        let mut local = Samples::with_capacity(calls);
        let mut http = Samples::with_capacity(calls);
        let server_cpu_before = server.cpu_ns();
        while local.len() < calls {
            for _ in 0..BATCH {
                local.push(in_process().await?);
            }
            for _ in 0..BATCH {
                http.push(over_http().await?);
            }
        }
        let server_cpu = server.cpu_ns().zip(server_cpu_before).map(|(after, before)| after - before);
        Ok::<_, BenchError>((local.summary(), http.summary(), server_cpu))
    })?;
    let us = |ns: f64| ns / 1_000.0;
    let mut base = Row::new(Scenario::ServeOverhead, "echo in process", "us", us(local.median_ns));
    base.p99 = Some(us(local.p99_ns));
    base.ratio = Some(1.0);
    base.samples = local.count;
    base.note = Some("Platform::call on a platform opened from the server's config".into());
    let mut served = Row::new(Scenario::ServeOverhead, "echo through serve", "us", us(http.median_ns));
    served.p99 = Some(us(http.p99_ns));
    served.ratio = ratio(http.median_ns, local.median_ns);
    served.baseline = Some(base.variant.clone());
    served.samples = http.count;
    let server_cpu = server_cpu.map_or_else(
        || "server CPU unknown".to_owned(),
        |ns| format!("server CPU {:.1} us per request", us(ns as f64 / http.count.max(1) as f64)),
    );
    served.note = Some(format!(
        "POST /v1/extensions/echo/invoke over loopback HTTP/1.1 keep-alive to a `symphony serve` child, \
         response read whole: +{:.1} us per call at the median; {server_cpu} (guest included)",
        us(http.median_ns - local.median_ns)
    ));
    Ok(vec![base, served])
}
