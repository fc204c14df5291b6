//! Memory per idle in-flight call: the process's peak resident set while N conductor calls of
//! the `sleeper` sample wait at once (each guest parked on a WASI timer, running no code), minus
//! the resident set just before, divided by N.
//!
//! The engine is sized for the load: `max_concurrent_instances` is N plus headroom, so the
//! pooling allocator (whose slots are reserved virtual memory, not resident) has a slot for
//! every call, and the reservation pool's budgets are N times one call's demand, so admission
//! never queues: this measures the memory of calls in flight, not admission. The peak is the
//! larger of `VmHWM` (reset through `/proc/self/clear_refs` first, where the kernel allows it)
//! and `VmRSS` sampled every `SAMPLE_INTERVAL`. Whether all N overlapped is checked from each
//! call's start and end (the last start must precede the first end).
//!
//! Run it in a fresh process (`symphony bench` does) so earlier work cannot raise the peak.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{BenchError, BenchOptions, Row, Scenario, Target, tokio_runtime};
use symphony_conductor::{
    Clock, Conductor, ConductorConfig, Demand, ReservationPolicy, ResourcePool, SystemClock,
};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_types::payload::{CallRequest, Payload};

/// The waiting sample.
pub const SLEEPER: &str = "sleeper";
/// In-flight counts measured.
pub const IN_FLIGHT_COUNTS: [usize; 2] = [1_000, 10_000];
/// Target: host memory per idle in-flight call, in KiB.
pub const TARGET_KIB_PER_CALL: f64 = 100.0;
/// Instance slots kept beyond N, in instances.
const POOL_HEADROOM_INSTANCES: u32 = 64;
/// How often `VmRSS` is sampled while calls are in flight.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);
/// Shortest wait of each guest, in milliseconds; longer for larger N (see [`sleep_ms`]).
const MIN_SLEEP_MS: u64 = 1_000;
/// Tokio workers driving the calls.
const WORKERS: usize = 2;

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    /// Calls in flight at once.
    pub calls: usize,
    /// Resident set just before the calls started, in KiB.
    pub baseline_rss_kib: u64,
    /// Peak resident set while they were in flight, in KiB.
    pub peak_rss_kib: u64,
    /// `(peak - baseline) / calls`, in KiB.
    pub per_call_kib: f64,
    /// Whether every call was in flight at the same moment.
    pub all_in_flight: bool,
    /// Whether the pooling allocator was in use.
    pub pooling: bool,
    /// How long each guest waited, in milliseconds.
    pub sleep_ms: u64,
}

impl InFlight {
    /// The report row.
    #[must_use]
    pub fn row(&self) -> Row {
        let mut row = Row::new(
            Scenario::InFlightMemory,
            format!("{} in flight", self.calls),
            "KiB/call",
            self.per_call_kib,
        );
        row.samples = 1;
        row.target = Some(Target::at_most("median", TARGET_KIB_PER_CALL, self.per_call_kib));
        row.note = Some(format!(
            "RSS {} -> {} MiB, {}, {}",
            self.baseline_rss_kib / 1024,
            self.peak_rss_kib / 1024,
            if self.pooling { "pooling allocator" } else { "on-demand allocator" },
            if self.all_in_flight { "all overlapped" } else { "NOT all overlapped" }
        ));
        row
    }
}

/// How long each guest waits so that all `calls` are started before the first ends.
#[must_use]
pub fn sleep_ms(calls: usize) -> u64 {
    MIN_SLEEP_MS.max(u64::try_from(calls / 2).unwrap_or(u64::MAX))
}

/// Hold `calls` sleeper calls in flight through the conductor and measure the peak RSS.
///
/// # Errors
/// [`BenchError`] when the runtime, the sample or a call fails.
pub fn measure(
    config: &PlatformConfig,
    calls: usize,
    _options: BenchOptions,
) -> Result<InFlight, BenchError> {
    let mut config = config.clone();
    config.engine.max_concurrent_instances =
        u32::try_from(calls).unwrap_or(u32::MAX).saturating_add(POOL_HEADROOM_INSTANCES);
    let runtime = Runtime::new(config)?.allow_unpinned();
    let extension = Arc::new(runtime.load(SLEEPER).map_err(|source| BenchError::load(SLEEPER, source))?);
    let demand = extension.demand();
    let n = u64::try_from(calls).unwrap_or(u64::MAX);
    let policy = ReservationPolicy::default()
        .memory_budget_bytes(demand.memory_bytes.saturating_mul(n))
        .fuel_budget(demand.fuel.saturating_mul(n));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
    let conductor = Arc::new(super::subject::with_health_monitor(
        Conductor::from_config(Arc::clone(&clock), ConductorConfig::default())
            .with_pool(ResourcePool::new(policy, Arc::clone(&clock))),
        clock,
    ));
    let profile = conductor.config().default_profile.clone();
    let tokio = tokio_runtime(WORKERS)?;
    let sleep = sleep_ms(calls);
    let input = |ms: u64| Payload::json(&serde_json::json!({ "ms": ms }));
    let warm = input(1).map_err(json_error)?;
    let payload = input(sleep).map_err(json_error)?;

    // One call first, so lazily built state (timers, the first pool slot) is in the baseline.
    tokio.block_on(call_once(&conductor, &profile, &extension, demand, warm))?;
    let baseline = read_status_kib("VmRSS:")?;
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();

    let done = Arc::new(AtomicBool::new(false));
    let sampled_peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&sampled_peak));
        std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if let Ok(rss) = read_status_kib("VmRSS:") {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(SAMPLE_INTERVAL);
                }
            })
            .map_err(|source| BenchError::Io { what: "sampler thread".into(), source })?
    };
    let spans = tokio.block_on(async {
        let mut tasks = Vec::with_capacity(calls);
        for _ in 0..calls {
            let (conductor, profile, extension, payload) =
                (Arc::clone(&conductor), profile.clone(), Arc::clone(&extension), payload.clone());
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                call_once(&conductor, &profile, &extension, demand, payload).await?;
                Ok::<_, BenchError>((started, Instant::now()))
            }));
        }
        let mut spans = Vec::with_capacity(calls);
        for task in tasks {
            spans.push(
                task.await.map_err(|e| BenchError::Io { what: "bench task".into(), source: e.into() })??,
            );
        }
        Ok::<_, BenchError>(spans)
    });
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let spans = spans?;
    let hwm = if hwm_reset { read_status_kib("VmHWM:").unwrap_or(0) } else { 0 };
    let peak = hwm.max(sampled_peak.load(Ordering::Relaxed));
    let last_start = spans.iter().map(|s| s.0).max();
    let first_end = spans.iter().map(|s| s.1).min();
    Ok(InFlight {
        calls,
        baseline_rss_kib: baseline,
        peak_rss_kib: peak,
        per_call_kib: peak.saturating_sub(baseline) as f64 / calls.max(1) as f64,
        all_in_flight: matches!((last_start, first_end), (Some(s), Some(e)) if s < e),
        pooling: runtime.engine().pooling(),
        sleep_ms: sleep,
    })
}

async fn call_once(
    conductor: &Conductor,
    profile: &str,
    extension: &symphony_host::sandbox::LoadedExtension,
    demand: Demand,
    payload: Payload,
) -> Result<(), BenchError> {
    conductor
        .call_profile(profile, extension, Some(demand), CallRequest::new(payload))
        .await
        .result
        .map(drop)
        .map_err(|e| BenchError::CallFailed {
            extension: SLEEPER.to_owned(),
            path: "conductor",
            message: e.to_string(),
        })
}

fn json_error(e: serde_json::Error) -> BenchError {
    BenchError::Io { what: "sleeper input".into(), source: e.into() }
}

/// A `kB` field of `/proc/self/status` (`VmRSS:`, `VmHWM:`), in KiB.
///
/// # Errors
/// [`BenchError::Io`] where `/proc` is not available or the field is missing.
pub fn read_status_kib(field: &str) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|source| BenchError::Io { what: "/proc/self/status".into(), source })?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| BenchError::Io {
            what: format!("/proc/self/status {field}"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
}
