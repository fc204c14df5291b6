//! Measures per-call latency of the `echo` sample through the sandbox, sequentially and with
//! concurrent callers. Run after `symphony build`:
//! `cargo run -p symphony-cli --example call_latency [CALLS]` (use `--release` for real numbers).

use std::sync::Arc;
use std::time::Instant;

use symphony_host::{CallRequest, PlatformConfig, Runtime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let runtime = Runtime::new(PlatformConfig::default())?.allow_unpinned();
    let echo = Arc::new(runtime.load("echo")?);
    let input = serde_json::json!({"payload": "x".repeat(80)});

    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let outcome = echo.call(CallRequest::json(&input)?).await;
        samples.push(started.elapsed().as_micros());
        outcome.result?;
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!("sequential: {calls} calls, median {} µs, p99 {} µs", pct(0.5), pct(0.99));

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(calls);
    for _ in 0..calls {
        let echo = Arc::clone(&echo);
        let request = CallRequest::json(&input)?;
        tasks.push(tokio::spawn(async move { echo.call(request).await.result.is_ok() }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += usize::from(task.await?);
    }
    println!("concurrent: {ok}/{calls} ok in {} ms", started.elapsed().as_millis());
    Ok(())
}
