//! Memory per idle in-flight call: the process's peak resident set while N conductor calls of
//! the `sleeper` sample wait at once (each guest parked on a WASI timer, running no code), minus
//! the resident set just before, divided by N.
//!
//! The engine is sized for the load ([`sized_config`]): `max_concurrent_instances` is N plus
//! headroom, so the pooling allocator (whose slots are reserved virtual memory, not resident)
//! has a slot for every call, and the reservation pool's budgets are N times one call's demand
//! ([`sized_conductor`]), so admission never queues: this measures the memory of calls in
//! flight, not admission. The peak is [`peak_rss`](super::peak_rss)'s. Whether all N overlapped
//! is checked from each call's start and end (the last start must precede the first end).
//! [`hold`] and the sizing are shared with [`workflow_in_flight`](super::workflow_in_flight),
//! which holds workflow runs instead of calls.
//!
//! Run it in a fresh process (`symphony bench` does) so earlier work cannot raise the peak.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::peak_rss::{PeakRss, Resident, all_overlapped};
use super::{BenchError, BenchOptions, Row, Scenario, Target, tokio_runtime};
use symphony_conductor::{
    Clock, Conductor, ConductorConfig, Demand, ReservationPolicy, ResourcePool, SystemClock,
};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_types::payload::{CallRequest, Payload};

pub use super::peak_rss::read_status_kib;

/// The waiting sample.
pub const SLEEPER: &str = "sleeper";
/// In-flight counts measured.
pub const IN_FLIGHT_COUNTS: [usize; 2] = [1_000, 10_000];
/// Target: host memory per idle in-flight call, in KiB.
pub const TARGET_KIB_PER_CALL: f64 = 100.0;
/// Target: host memory per idle in-flight workflow run, in KiB.
pub const TARGET_KIB_PER_WORKFLOW: f64 = 100.0;
/// Instance slots kept beyond N, in instances.
const POOL_HEADROOM_INSTANCES: u32 = 64;
/// Shortest wait of each guest, in milliseconds; longer for larger N (see [`sleep_ms`]).
const MIN_SLEEP_MS: u64 = 1_000;
/// Tokio workers driving the calls.
pub const WORKERS: usize = 2;

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    /// What was held: [`Scenario::InFlightMemory`] (calls) or [`Scenario::WorkflowInFlight`]
    /// (workflow runs).
    pub scenario: Scenario,
    /// Calls or runs in flight at once.
    pub count: usize,
    /// Resident set just before they started, in KiB.
    pub baseline_rss_kib: u64,
    /// Peak resident set while they were in flight, in KiB.
    pub peak_rss_kib: u64,
    /// `(peak - baseline) / count`, in KiB.
    pub kib_each: f64,
    /// Whether every one was in flight at the same moment.
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
        let (variant, unit, target) = match self.scenario {
            Scenario::WorkflowInFlight => {
                (format!("{} workflows in flight", self.count), "KiB/workflow", TARGET_KIB_PER_WORKFLOW)
            }
            _ => (format!("{} in flight", self.count), "KiB/call", TARGET_KIB_PER_CALL),
        };
        let mut row = Row::new(self.scenario, variant, unit, self.kib_each);
        row.samples = 1;
        row.target = Some(Target::at_most("median", target, self.kib_each));
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

/// How long each guest waits so that all `count` are started before the first ends.
#[must_use]
pub fn sleep_ms(count: usize) -> u64 {
    MIN_SLEEP_MS.max(u64::try_from(count / 2).unwrap_or(u64::MAX))
}

/// `config` with an instance slot for each of `count` guests in flight, plus headroom.
#[must_use]
pub fn sized_config(config: &PlatformConfig, count: usize) -> PlatformConfig {
    let mut config = config.clone();
    config.engine.max_concurrent_instances =
        u32::try_from(count).unwrap_or(u32::MAX).saturating_add(POOL_HEADROOM_INSTANCES);
    config
}

/// A conductor (default config, health monitor on) whose reservation pool admits `count`
/// calls of `demand` at once, so that none queues.
#[must_use]
pub fn sized_conductor(demand: Demand, count: usize) -> Arc<Conductor> {
    let n = u64::try_from(count).unwrap_or(u64::MAX);
    let policy = ReservationPolicy::default()
        .memory_budget_bytes(demand.memory_bytes.saturating_mul(n))
        .fuel_budget(demand.fuel.saturating_mul(n));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
    Arc::new(super::subject::with_health_monitor(
        Conductor::from_config(Arc::clone(&clock), ConductorConfig::default())
            .with_pool(ResourcePool::new(policy, Arc::clone(&clock))),
        clock,
    ))
}

/// What [`hold`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Baseline and peak resident set.
    pub resident: Resident,
    /// Whether every future was in flight at the same moment.
    pub all_in_flight: bool,
}

/// Spawn `count` futures made by `start` on `tokio` at once, wait for them all, and measure the
/// peak resident set over the baseline read just before the first was made.
///
/// # Errors
/// The first error a future returned, or [`BenchError::Io`] when the sampler or a task fails.
pub fn hold<F, Fut>(tokio: &tokio::runtime::Runtime, count: usize, mut start: F) -> Result<Held, BenchError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), BenchError>> + Send + 'static,
{
    let measuring = PeakRss::start()?;
    let spans = tokio.block_on(async {
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let future = start();
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                future.await?;
                Ok::<_, BenchError>((started, Instant::now()))
            }));
        }
        let mut spans = Vec::with_capacity(count);
        for task in tasks {
            spans.push(
                task.await.map_err(|e| BenchError::Io { what: "bench task".into(), source: e.into() })??,
            );
        }
        Ok::<_, BenchError>(spans)
    });
    let resident = measuring.finish();
    let spans = spans?;
    Ok(Held { resident, all_in_flight: all_overlapped(&spans) })
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
    let runtime = Runtime::new(sized_config(config, calls))?.allow_unpinned();
    let extension = Arc::new(runtime.load(SLEEPER).map_err(|source| BenchError::load(SLEEPER, source))?);
    let demand = extension.demand();
    let conductor = sized_conductor(demand, calls);
    let profile = conductor.config().default_profile.clone();
    let tokio = tokio_runtime(WORKERS)?;
    let sleep = sleep_ms(calls);
    let warm = sleeper_input(1)?;
    let payload = sleeper_input(sleep)?;

    // One call first, so lazily built state (timers, the first pool slot) is in the baseline.
    tokio.block_on(call_once(&conductor, &profile, &extension, demand, warm))?;
    let held = hold(&tokio, calls, || {
        let (conductor, profile, extension, payload) =
            (Arc::clone(&conductor), profile.clone(), Arc::clone(&extension), payload.clone());
        async move { call_once(&conductor, &profile, &extension, demand, payload).await }
    })?;
    Ok(InFlight {
        scenario: Scenario::InFlightMemory,
        count: calls,
        baseline_rss_kib: held.resident.baseline_kib,
        peak_rss_kib: held.resident.peak_kib,
        kib_each: held.resident.per_item_kib(calls),
        all_in_flight: held.all_in_flight,
        pooling: runtime.engine().pooling(),
        sleep_ms: sleep,
    })
}

/// The sleeper's input: wait `ms` milliseconds.
///
/// # Errors
/// [`BenchError::Io`] if the JSON cannot be written (it always can).
pub fn sleeper_input(ms: u64) -> Result<Payload, BenchError> {
    Payload::json(&serde_json::json!({ "ms": ms }))
        .map_err(|e| BenchError::Io { what: "sleeper input".into(), source: e.into() })
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
