//! The bounded queue between finished spans and the collector: a [`SpanProcessor`] whose
//! `on_end` only tries to put the span in a channel of `queue_spans` slots (full: the span is
//! dropped and counted, the caller never waits), and one thread of its own that takes spans off
//! in batches and hands each batch to the OTLP [`SpanExporter`] under the export timeout. What
//! happened is counted in [`ExportCounters`]; reading them as a snapshot is
//! [`Telemetry`](super::Telemetry)'s.
//!
//! The SDK's `BatchSpanProcessor` bounds its queue the same way but only logs how many spans it
//! dropped; a service that says "degraded (N spans dropped)" needs the number.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use super::export_client::TransportError;

/// Most spans sent to the collector in one request, in spans.
pub const MAX_EXPORT_BATCH_SPANS: usize = 512;

/// Why an export failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The collector did not answer within the export timeout.
    #[error("the collector did not answer within {limit_ms} ms")]
    TimedOut {
        /// The export timeout, in milliseconds.
        limit_ms: u64,
    },
    /// The collector could not be reached (refused connection, unknown host, reset).
    #[error("the collector could not be reached: {message}")]
    Unreachable {
        /// The transport's error and its causes.
        message: String,
    },
    /// The collector refused the batch (an HTTP error status), or it could not be encoded.
    #[error("{message}")]
    Failed {
        /// What the exporter reported.
        message: String,
    },
    /// The export thread stopped on a bug; every span since is dropped.
    #[error("the trace export thread stopped")]
    ThreadStopped,
}

/// What the exporter has done since it started, shared by the processor (drops), the export
/// thread (exports, failures) and whoever reads them.
#[derive(Debug, Default)]
pub(crate) struct ExportCounters {
    exported: AtomicU64,
    dropped: AtomicU64,
    export_failures: AtomicU64,
    /// `dropped` when the last export succeeded: more since then means spans are being lost now.
    dropped_at_last_success: AtomicU64,
    last_export_failed: AtomicBool,
    last_error: Mutex<Option<ExportError>>,
}

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportCounts {
    pub(crate) exported: u64,
    pub(crate) dropped: u64,
    pub(crate) export_failures: u64,
    /// The last export failed, or spans were dropped since the last one that succeeded.
    pub(crate) degraded: bool,
    pub(crate) last_error: Option<ExportError>,
}

impl ExportCounters {
    pub(crate) fn read(&self) -> ExportCounts {
        let dropped = self.dropped.load(Ordering::Relaxed);
        let failing = self.last_export_failed.load(Ordering::Relaxed);
        ExportCounts {
            exported: self.exported.load(Ordering::Relaxed),
            dropped,
            export_failures: self.export_failures.load(Ordering::Relaxed),
            degraded: failing || dropped > self.dropped_at_last_success.load(Ordering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn exported(&self, spans: u64) {
        self.exported.fetch_add(spans, Ordering::Relaxed);
        self.dropped_at_last_success.store(self.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
        self.last_export_failed.store(false, Ordering::Relaxed);
    }

    fn failed(&self, error: ExportError) {
        self.export_failures.fetch_add(1, Ordering::Relaxed);
        self.last_export_failed.store(true, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}

/// Finished spans into a bounded queue; a thread of its own exports them.
#[derive(Debug)]
pub(crate) struct BoundedSpanProcessor {
    /// `Some(span)`: a span to export; `None`: a wake-up, so a thread waiting on an empty queue
    /// sees `closing`.
    queue: SyncSender<Option<SpanData>>,
    counters: Arc<ExportCounters>,
    closing: Arc<AtomicBool>,
    /// Told when the export thread has sent what was left and ended.
    done: Mutex<Option<Receiver<()>>>,
}

impl BoundedSpanProcessor {
    /// Start the export thread (`symphony-otlp`) for `exporter`, with `resource` on every
    /// batch, `queue_spans` slots and `export_timeout` per export.
    ///
    /// # Errors
    /// When the thread or its runtime cannot be started.
    pub(crate) fn start<E: SpanExporter + 'static>(
        mut exporter: E,
        resource: &Resource,
        queue_spans: usize,
        export_timeout: Duration,
        counters: Arc<ExportCounters>,
        transport_error: TransportError,
    ) -> std::io::Result<Self> {
        exporter.set_resource(resource);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (queue, spans) = sync_channel(queue_spans.max(1));
        let (done_tx, done) = sync_channel(1);
        let closing = Arc::new(AtomicBool::new(false));
        let thread = ExportThread {
            exporter,
            runtime,
            spans,
            counters: Arc::clone(&counters),
            closing: Arc::clone(&closing),
            timeout: export_timeout,
            transport_error,
        };
        let told = Arc::clone(&counters);
        std::thread::Builder::new().name("symphony-otlp".to_owned()).spawn(move || {
            // A bug in the exporter must not go unnoticed: spans are then dropped, and said why.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| thread.run())).is_err() {
                told.failed(ExportError::ThreadStopped);
            }
            let _ = done_tx.send(());
        })?;
        Ok(Self { queue, counters, closing, done: Mutex::new(Some(done)) })
    }
}

impl SpanProcessor for BoundedSpanProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if self.closing.load(Ordering::Relaxed) {
            self.counters.drop_one();
            return;
        }
        match self.queue.try_send(Some(span)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.counters.drop_one(),
        }
    }

    /// Nothing to do: spans leave as soon as the export thread is free; shutdown sends the rest.
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    /// Stop taking spans, let the thread send what is queued, and wait for it at most `timeout`.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.closing.store(true, Ordering::Release);
        // A full queue means the thread is busy and looks at `closing` after its batch.
        let _ = self.queue.try_send(None);
        let Some(done) = self.done.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        match done.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
        }
    }

    /// The exporter was given the resource when the thread started.
    fn set_resource(&mut self, _resource: &Resource) {}
}

/// What the export thread owns.
struct ExportThread<E> {
    exporter: E,
    runtime: tokio::runtime::Runtime,
    spans: Receiver<Option<SpanData>>,
    counters: Arc<ExportCounters>,
    closing: Arc<AtomicBool>,
    timeout: Duration,
    /// Why the client's last request could not be sent, taken when an export fails.
    transport_error: TransportError,
}

impl<E: SpanExporter> ExportThread<E> {
    fn run(self) {
        while let Ok(first) = self.spans.recv() {
            let batch = self.batch(first);
            if !batch.is_empty() {
                self.export(batch);
            }
            if self.closing.load(Ordering::Acquire) {
                // What was queued before shutdown still goes, batch by batch, each bounded.
                loop {
                    let batch = self.batch(None);
                    if batch.is_empty() {
                        break;
                    }
                    self.export(batch);
                }
                break;
            }
        }
        let _ = self.exporter.shutdown_with_timeout(self.timeout);
    }

    /// `first` and whatever else is queued, up to [`MAX_EXPORT_BATCH_SPANS`].
    fn batch(&self, first: Option<SpanData>) -> Vec<SpanData> {
        let mut batch: Vec<SpanData> = first.into_iter().collect();
        while batch.len() < MAX_EXPORT_BATCH_SPANS {
            match self.spans.try_recv() {
                Ok(Some(span)) => batch.push(span),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        batch
    }

    fn export(&self, batch: Vec<SpanData>) {
        let spans = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        let limit_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        // Made inside the runtime: the timer needs its time driver.
        let exported = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, self.exporter.export(batch)).await });
        match exported {
            Ok(Ok(())) => self.counters.exported(spans),
            Ok(Err(e)) => {
                let unsent = self.transport_error.lock().unwrap_or_else(PoisonError::into_inner).take();
                self.counters.failed(match unsent {
                    Some(message) => ExportError::Unreachable { message },
                    None => ExportError::Failed { message: e.to_string() },
                });
            }
            Err(_elapsed) => self.counters.failed(ExportError::TimedOut { limit_ms }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use opentelemetry::trace::{Tracer, TracerProvider};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// Tells the test when a batch arrives, then answers what the test says (or never).
    #[derive(Debug)]
    struct GatedExporter {
        arrived: SyncSender<usize>,
        answers: Arc<Mutex<Receiver<bool>>>,
    }

    impl SpanExporter for GatedExporter {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let _ = self.arrived.send(batch.len());
            let answers = Arc::clone(&self.answers);
            // Waits for the test's word without holding the runtime thread's executor hostage
            // past the export timeout.
            let answer = tokio::task::spawn_blocking(move || {
                answers.lock().unwrap_or_else(PoisonError::into_inner).recv().ok()
            });
            match answer.await {
                Ok(Some(true)) => Ok(()),
                Ok(Some(false)) => Err(OTelSdkError::InternalFailure("refused".into())),
                _ => std::future::pending::<OTelSdkResult>().await,
            }
        }
    }

    struct Harness {
        provider: SdkTracerProvider,
        counters: Arc<ExportCounters>,
        arrived: Receiver<usize>,
        answer: SyncSender<bool>,
    }

    fn harness(queue_spans: usize, timeout: Duration) -> Harness {
        let (arrived_tx, arrived) = mpsc::sync_channel(64);
        let (answer, answers) = mpsc::sync_channel(64);
        let exporter = GatedExporter { arrived: arrived_tx, answers: Arc::new(Mutex::new(answers)) };
        let counters = Arc::new(ExportCounters::default());
        let processor = BoundedSpanProcessor::start(
            exporter,
            &Resource::builder_empty().build(),
            queue_spans,
            timeout,
            Arc::clone(&counters),
            TransportError::default(),
        )
        .unwrap();
        let provider = SdkTracerProvider::builder().with_span_processor(processor).build();
        Harness { provider, counters, arrived, answer }
    }

    impl Harness {
        fn finish_spans(&self, n: usize) {
            let tracer = self.provider.tracer("test");
            for _ in 0..n {
                tracer.in_span("work", |_| {});
            }
        }

        /// The length of the next batch the exporter is handed (bounded wait).
        fn next_batch(&self) -> usize {
            self.arrived.recv_timeout(Duration::from_secs(30)).expect("a batch reaches the exporter")
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_every_span_beyond_its_size_and_never_blocks() {
        let h = harness(3, Duration::from_secs(60));
        h.finish_spans(1);
        assert_eq!(h.next_batch(), 1, "the thread holds one span in an export that has not answered");
        h.finish_spans(10);
        let counts = h.counters.read();
        assert_eq!(counts.dropped, 7, "3 wait in the queue, the other 7 are dropped: {counts:?}");
        assert!(counts.degraded);
        h.answer.send(true).unwrap();
        assert_eq!(h.next_batch(), 3, "the queued spans go out in one batch");
        h.answer.send(true).unwrap();
        let shut = h.provider.shutdown_with_timeout(Duration::from_secs(30));
        assert!(shut.is_ok(), "{shut:?}");
        let counts = h.counters.read();
        assert_eq!((counts.exported, counts.dropped, counts.export_failures), (4, 7, 0), "{counts:?}");
        assert!(!counts.degraded, "no drops since the last export that succeeded");
    }

    #[test]
    fn an_export_that_never_answers_fails_at_the_export_timeout() {
        let h = harness(16, Duration::from_millis(20));
        h.finish_spans(1);
        assert_eq!(h.next_batch(), 1);
        // No answer: only the export timeout ends this export; the next span's export shows it did.
        h.finish_spans(1);
        assert_eq!(h.next_batch(), 1, "the thread moved on to the next batch");
        let counts = h.counters.read();
        assert!(counts.export_failures >= 1, "{counts:?}");
        assert!(matches!(counts.last_error, Some(ExportError::TimedOut { limit_ms: 20 })), "{counts:?}");
        assert!(counts.degraded);
        h.answer.send(false).unwrap();
        h.answer.send(false).unwrap();
        let _ = h.provider.shutdown_with_timeout(Duration::from_secs(30));
    }

    #[test]
    fn a_refused_export_is_counted_and_kept_as_the_last_error_until_one_succeeds() {
        let h = harness(16, Duration::from_secs(60));
        h.finish_spans(2);
        let mut seen = h.next_batch();
        h.answer.send(false).unwrap();
        if seen < 2 {
            seen += h.next_batch();
            h.answer.send(false).unwrap();
        }
        assert_eq!(seen, 2);
        h.finish_spans(1);
        assert_eq!(h.next_batch(), 1);
        let counts = h.counters.read();
        assert!(counts.export_failures >= 1 && counts.degraded, "{counts:?}");
        assert!(matches!(counts.last_error, Some(ExportError::Failed { .. })), "{counts:?}");
        h.answer.send(true).unwrap();
        let _ = h.provider.shutdown_with_timeout(Duration::from_secs(30));
        let counts = h.counters.read();
        assert_eq!(counts.exported, 1, "{counts:?}");
        assert!(!counts.degraded, "the last export succeeded: {counts:?}");
    }

    #[test]
    fn shutdown_waits_for_a_hanging_export_no_longer_than_its_timeout() {
        let h = harness(4, Duration::from_secs(600));
        h.finish_spans(1);
        assert_eq!(h.next_batch(), 1);
        let shut = h.provider.shutdown_with_timeout(Duration::from_millis(10));
        assert!(shut.is_err(), "the export never answered, so shutdown gave up: {shut:?}");
    }
}
