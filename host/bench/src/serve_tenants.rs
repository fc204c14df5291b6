//! Noisy neighbour between tenants of one real `symphony serve`: tenant `steady` calls `echo`
//! at a steady pace (one call every [`PACING`], the call timed), while a flooding tenant keeps
//! one client more than its concurrent-call quota hammering `infinite-loop`, `memory-bomb` and
//! `miner` (a refused client waits 1 ms and tries again, so the flood holds its quota full all
//! the time). The flood's extensions run without breaker, retries or quarantine, so every call
//! the quota admits runs its guest: the worst case. Two flooding tenants, measured in turn: one
//! with a quota of half the cores, one with a quota of every core ([`FLOOD_QUOTAS`], for the 2
//! cores this project's machines have). Rounds alternate `steady` alone and beside each flood,
//! in one run, against one server.
//!
//! Reported: `steady`'s p50/p99 per call alone and beside each flood, the ratio of p99s (target
//! ≤ 2×), and what each flood got: calls that ran a guest, quota refusals (429), and calls a
//! breaker or a quarantine refused (503). The steady client and the flood run on threads of
//! their own, as two clients would.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::per_call::Workload;
use super::serve_child::{BenchTenant, ServeChild, ServeSetup};
use super::stats::Samples;
use super::{BenchError, BenchOptions, Row, Scenario, Target, ratio, tokio_runtime};
use symphony_host::config::PlatformConfig;

/// Pause between the steady tenant's calls.
pub const PACING: Duration = Duration::from_millis(2);
/// The flooding tenants' concurrent-call quotas: half the cores, every core (of 2).
pub const FLOOD_QUOTAS: [usize; 2] = [1, 2];
/// Target: p99 beside the flood over p99 alone.
pub const TARGET_P99_RATIO: f64 = 2.0;
const HOSTILE: [&str; 3] = ["infinite-loop", "memory-bomb", "miner"];
/// The worst case for the steady tenant: the flood's extensions never trip a breaker and are
/// never quarantined or throttled, and are not retried, so every call its quota admits runs
/// its guest to the limit that stops it.
const WORST_CASE: &str = r#"
[conductor.profiles.unbroken]
retry = { max_attempts = 1 }
breaker = { minimum_calls = 4294967295 }

[[conductor.routes]]
extension = "infinite-loop"
profile = "unbroken"

[[conductor.routes]]
extension = "memory-bomb"
profile = "unbroken"

[[conductor.routes]]
extension = "miner"
profile = "unbroken"

[anomaly.actions]
profile_violation = "record"
error_burst = "record"
"#;
const STEADY_KEY: &str = "steady-bench-key";
const FLOOD_KEYS: [&str; 2] = ["flood-1-bench-key", "flood-2-bench-key"];
const FLOOD_IDS: [&str; 2] = ["flood-1", "flood-2"];

/// What the flood's requests were answered.
#[derive(Debug, Default)]
struct FloodCounts {
    ran: AtomicU64,
    quota: AtomicU64,
    refused: AtomicU64,
}

/// Measure; `exe` is the `symphony` binary, `pins_from` a state directory holding pins.
///
/// # Errors
/// [`BenchError`] when the server fails or a steady call does not succeed.
pub fn run(
    config: &PlatformConfig,
    exe: &Path,
    pins_from: &Path,
    options: BenchOptions,
) -> Result<Vec<Row>, BenchError> {
    let mut tenants = vec![BenchTenant {
        id: "steady",
        key: STEADY_KEY,
        extensions: &["echo"],
        quotas: "concurrent_calls = 4".into(),
    }];
    for (index, quota) in FLOOD_QUOTAS.iter().enumerate() {
        tenants.push(BenchTenant {
            id: FLOOD_IDS[index],
            key: FLOOD_KEYS[index],
            extensions: &HOSTILE,
            quotas: format!("concurrent_calls = {quota}"),
        });
    }
    let setup = ServeSetup::new(config, &tenants, WORST_CASE)?;
    let server = ServeChild::start(exe, &setup, &setup.state_dir("serve", pins_from)?)?;
    let rounds = options.pick(2, 4);
    let phase = Duration::from_millis(options.pick(1_000, 3_000) as u64);
    let steady_runtime = tokio_runtime(0)?;
    let client = reqwest::Client::new();
    let echo_url = server.url("/v1/extensions/echo/invoke");
    let input = Workload::Echo.input();
    let steady_phase = |samples: &mut Samples| -> Result<(), BenchError> {
        steady_runtime.block_on(async {
            let mut ticks = tokio::time::interval(PACING);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let end = Instant::now() + phase;
            while Instant::now() < end {
                ticks.tick().await;
                let started = Instant::now();
                let response = client
                    .post(&echo_url)
                    .bearer_auth(STEADY_KEY)
                    .header("content-type", input.content_type.as_str())
                    .body(input.bytes.clone())
                    .send()
                    .await;
                let status = match response {
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(e) => return Err(steady_failed(e.to_string())),
                };
                if !status.is_success() {
                    return Err(steady_failed(format!("answered {status}")));
                }
                samples.push(started.elapsed());
            }
            Ok(())
        })
    };
    let counts: [Arc<FloodCounts>; 2] = Default::default();
    let mut alone = Samples::default();
    let mut beside: [Samples; 2] = Default::default();
    // Warm-up: the server's first calls load and instantiate.
    let mut warm = Samples::default();
    steady_phase(&mut warm)?;
    for _ in 0..rounds {
        for (index, quota) in FLOOD_QUOTAS.iter().enumerate() {
            steady_phase(&mut alone)?;
            let flood = Flood::start(&server, FLOOD_KEYS[index], quota + 1, Arc::clone(&counts[index]))?;
            // Let it fill its quota before measuring.
            std::thread::sleep(Duration::from_millis(200));
            let measured = steady_phase(&mut beside[index]);
            flood.stop();
            measured?;
        }
    }
    let alone = alone.summary();
    let us = |ns: f64| ns / 1_000.0;
    let mut base = Row::new(Scenario::ServeTenants, "tenant steady alone", "us", us(alone.median_ns));
    base.p99 = Some(us(alone.p99_ns));
    base.ratio = Some(1.0);
    base.samples = alone.count;
    base.baseline = Some(base.variant.clone());
    base.note = Some(format!(
        "echo over HTTP every {} ms, the call timed; {rounds} rounds of {} ms",
        PACING.as_millis(),
        phase.as_millis()
    ));
    let mut rows = vec![base];
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    for (index, quota) in FLOOD_QUOTAS.iter().enumerate() {
        let beside = beside[index].summary();
        let variant = format!("steady beside a flood at quota {quota}");
        let mut loaded = Row::new(Scenario::ServeTenants, variant, "us", us(beside.median_ns));
        loaded.p99 = Some(us(beside.p99_ns));
        let p99_ratio = ratio(beside.p99_ns, alone.p99_ns);
        loaded.ratio = p99_ratio;
        loaded.baseline = Some("tenant steady alone (ratio of p99s)".into());
        loaded.target = Some(Target::at_most("ratio", TARGET_P99_RATIO, p99_ratio.unwrap_or(f64::MAX)));
        loaded.samples = beside.count;
        let counts = &counts[index];
        loaded.note = Some(format!(
            "{} clients on {} at a quota of {quota} concurrent calls ({cores} cores); \
             {} ran a guest, {} refused by the quota (429), {} by a breaker or quarantine (503)",
            quota + 1,
            HOSTILE.join(", "),
            counts.ran.load(Ordering::Relaxed),
            counts.quota.load(Ordering::Relaxed),
            counts.refused.load(Ordering::Relaxed),
        ));
        rows.push(loaded);
    }
    Ok(rows)
}

fn steady_failed(message: String) -> BenchError {
    BenchError::CallFailed { extension: "echo".into(), path: "serve (tenant steady)", message }
}

/// The flooding tenant's clients, on a thread and runtime of their own.
struct Flood {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Flood {
    fn start(
        server: &ServeChild,
        key: &'static str,
        clients: usize,
        counts: Arc<FloodCounts>,
    ) -> Result<Self, BenchError> {
        let stop = Arc::new(AtomicBool::new(false));
        let urls: Vec<String> =
            HOSTILE.iter().map(|name| server.url(&format!("/v1/extensions/{name}/invoke"))).collect();
        let runtime = tokio_runtime(0)?;
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("symphony-bench-flood".into())
            .spawn(move || {
                let client = reqwest::Client::new();
                runtime.block_on(async {
                    let clients = (0..clients).map(|first| {
                        let (client, urls, flag, counts) =
                            (client.clone(), urls.clone(), Arc::clone(&flag), Arc::clone(&counts));
                        tokio::spawn(async move {
                            let mut next = first;
                            while !flag.load(Ordering::Relaxed) {
                                let url = &urls[next % urls.len()];
                                next += 1;
                                let sent = client
                                    .post(url)
                                    .bearer_auth(key)
                                    .header("content-type", "application/json")
                                    .body("{}")
                                    .send()
                                    .await;
                                let status = match sent {
                                    Ok(response) => {
                                        let status = response.status().as_u16();
                                        let _ = response.bytes().await;
                                        status
                                    }
                                    Err(_) => 0,
                                };
                                let counter = match status {
                                    429 => &counts.quota,
                                    503 => &counts.refused,
                                    _ => &counts.ran,
                                };
                                counter.fetch_add(1, Ordering::Relaxed);
                                // Refused without running anything: a client at its quota, not a
                                // request flood.
                                if matches!(status, 0 | 429 | 503) {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                            }
                        })
                    });
                    let clients: Vec<_> = clients.collect();
                    for client in clients {
                        let _ = client.await;
                    }
                });
            })
            .map_err(|source| BenchError::Io { what: "flood thread".into(), source })?;
        Ok(Self { stop, thread })
    }

    /// Stop the clients and wait for their last requests to be answered.
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
