//! Traces, best-effort: every `tracing` span of Symphony's crates (a served request, each
//! conductor attempt, each sandbox call, a workflow run and its steps) exported to an OTLP/HTTP
//! collector when `[telemetry] otlp_endpoint` is set, and nothing at all when it is not.
//!
//! The guarantee is that a collector that is down, slow or refusing never slows or fails a
//! call: a finished span is only *offered* to a bounded queue (`telemetry/span_queue.rs`; full:
//! dropped and counted), and a thread of its own sends batches under the export timeout
//! (`telemetry/export_client.rs`). [`Telemetry::snapshot`] tells how that is going — exported,
//! dropped, failed exports, the last error — for `/v1/health`, `/metrics` and the dashboard.
//!
//! Spans are made where the work is, with plain `tracing` (the conductor never names
//! OpenTelemetry); this file only bridges them ([`Telemetry::layer`]) for whoever installs the
//! process's subscriber (the `symphony` binary). The `[telemetry]` section is
//! `telemetry/config.rs`'s.

mod config;
mod export_client;
mod span_queue;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, RetryPolicy, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Serialize;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

pub use config::{
    DEFAULT_EXPORT_TIMEOUT_MS, DEFAULT_QUEUE_SPANS, DEFAULT_SERVICE_NAME, MAX_EXPORT_TIMEOUT_MS,
    MAX_QUEUE_SPANS, MAX_SERVICE_NAME_BYTES, TelemetryConfig,
};
pub use export_client::MAX_RESPONSE_BYTES;
pub use span_queue::{ExportError, MAX_EXPORT_BATCH_SPANS};

use export_client::ExportClient;
use span_queue::{BoundedSpanProcessor, ExportCounters};

/// The `tracing` targets exported: Symphony's own crates (`symphony_host`,
/// `symphony_conductor`, `symphony_workflow`, the `symphony` binary...), at `INFO` and above.
pub const EXPORTED_TARGET_PREFIX: &str = "symphony";

/// Why trace export could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The export HTTP client could not be built.
    #[error("cannot build the trace export client: {0}")]
    Client(#[source] reqwest::Error),
    /// The OTLP exporter refused its configuration.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// The export thread could not be started.
    #[error("cannot start the trace export thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Shutting down, the spans still queued were not all sent within the export timeout.
    #[error("spans still queued were not all sent within {limit_ms} ms")]
    ShutdownTimedOut {
        /// The export timeout, in milliseconds.
        limit_ms: u64,
    },
}

/// How trace export is doing, in a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TelemetryState {
    /// No `otlp_endpoint`: nothing is exported.
    Off,
    /// Spans reach the collector.
    Ok,
    /// The last export failed, or spans were dropped since the last one that succeeded.
    Degraded,
}

/// Trace export at one moment (`/v1/health`'s `telemetry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TelemetrySnapshot {
    /// Off, ok or degraded.
    pub state: TelemetryState,
    /// Whether spans are exported at all.
    pub enabled: bool,
    /// Where spans are posted (`…/v1/traces`), when enabled.
    pub endpoint: Option<String>,
    /// Spans the collector accepted, in spans.
    pub exported: u64,
    /// Spans dropped because the queue was full (or export was shutting down), in spans.
    pub dropped: u64,
    /// Exports that failed (unreachable, refused, timed out), in exports.
    pub export_failures: u64,
    /// Why the last failed export failed.
    #[serde(serialize_with = "as_text")]
    pub last_error: Option<ExportError>,
}

fn as_text<S: serde::Serializer>(error: &Option<ExportError>, serializer: S) -> Result<S::Ok, S::Error> {
    match error {
        Some(error) => serializer.collect_str(error),
        None => serializer.serialize_none(),
    }
}

/// The process's trace export: off, or a tracer provider over the bounded queue. Cheap to
/// clone; clones share the exporter and its counters.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    exporting: Option<Arc<Exporting>>,
}

#[derive(Debug)]
struct Exporting {
    provider: SdkTracerProvider,
    counters: Arc<ExportCounters>,
    endpoint: String,
    timeout: Duration,
}

impl Telemetry {
    /// No export.
    #[must_use]
    pub fn off() -> Self {
        Self::default()
    }

    /// Start exporting as `config` says: off without `otlp_endpoint`, else the export thread
    /// is started (nothing is sent until a span ends; an unreachable collector is not an
    /// error here, only a failed export later).
    ///
    /// # Errors
    /// [`TelemetryError`] when the client, the exporter or the thread cannot be built.
    pub fn start(config: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let Some(endpoint) = config.traces_url() else {
            return Ok(Self::off());
        };
        let timeout = Duration::from_millis(config.export_timeout_ms);
        let client = ExportClient::new(timeout).map_err(TelemetryError::Client)?;
        let transport_error = client.transport_error();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint.clone())
            .with_timeout(timeout)
            .with_http_client(client)
            // One try per batch: a retry would hold the thread while new spans are dropped.
            .with_retry_policy(RetryPolicy::disabled())
            .build()
            .map_err(TelemetryError::Exporter)?;
        let resource = Resource::builder_empty().with_service_name(config.service_name.clone()).build();
        let counters = Arc::new(ExportCounters::default());
        let processor = BoundedSpanProcessor::start(
            exporter,
            &resource,
            config.queue_spans,
            timeout,
            Arc::clone(&counters),
            transport_error,
        )
        .map_err(TelemetryError::Thread)?;
        let provider =
            SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
        Ok(Self { exporting: Some(Arc::new(Exporting { provider, counters, endpoint, timeout })) })
    }

    /// The `tracing` layer that turns Symphony's spans into exported ones, `None` when off (a
    /// subscriber without it keeps disabled spans near free). It filters for itself: `INFO`
    /// and above from [`EXPORTED_TARGET_PREFIX`] targets, whatever the other layers show.
    #[must_use]
    pub fn layer<S>(&self) -> Option<impl Layer<S> + 'static>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let exporting = self.exporting.as_ref()?;
        let tracer = exporting.provider.tracer("symphony");
        let targets = Targets::new().with_target(EXPORTED_TARGET_PREFIX, tracing::Level::INFO);
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_threads(false)
                .with_tracked_inactivity(false)
                .with_filter(targets),
        )
    }

    /// Whether spans are exported.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.exporting.is_some()
    }

    /// How export is doing now.
    #[must_use]
    pub fn snapshot(&self) -> TelemetrySnapshot {
        let Some(exporting) = &self.exporting else {
            return TelemetrySnapshot {
                state: TelemetryState::Off,
                enabled: false,
                endpoint: None,
                exported: 0,
                dropped: 0,
                export_failures: 0,
                last_error: None,
            };
        };
        let counts = exporting.counters.read();
        TelemetrySnapshot {
            state: if counts.degraded { TelemetryState::Degraded } else { TelemetryState::Ok },
            enabled: true,
            endpoint: Some(exporting.endpoint.clone()),
            exported: counts.exported,
            dropped: counts.dropped,
            export_failures: counts.export_failures,
            last_error: counts.last_error,
        }
    }

    /// Stop exporting: spans still queued are sent, waiting at most the export timeout; spans
    /// ending afterwards are not exported. Off, or already shut down: nothing to do.
    ///
    /// # Errors
    /// [`TelemetryError::ShutdownTimedOut`] when queued spans were still unsent at the timeout.
    pub fn shutdown(&self) -> Result<(), TelemetryError> {
        let Some(exporting) = &self.exporting else {
            return Ok(());
        };
        match exporting.provider.shutdown_with_timeout(exporting.timeout) {
            // A second shutdown (serve's, then the binary's at exit) has nothing left to send.
            Ok(()) | Err(OTelSdkError::AlreadyShutdown) => Ok(()),
            Err(_) => Err(TelemetryError::ShutdownTimedOut {
                limit_ms: u64::try_from(exporting.timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}
