//! Guest stdout/stderr as WASI output streams: captured into the call's bounded log when the
//! `stdio` capability is granted, discarded (and the attempt recorded) when it is not. Either
//! way every write succeeds from the guest's point of view, so a guest's `println!` never traps
//! and never grows host memory past the log budget.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use symphony_types::call_log::{CallLog, LogLevel, record_weight};
use symphony_types::capability::denials::{CapabilityKind, DenialRecorder};

/// The call log shared by the `log` import and the stdio streams of one call.
pub(crate) type SharedLog = Arc<Mutex<CallLog>>;

/// Which standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StdStream {
    Stdout,
    Stderr,
}

impl StdStream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// A guest output stream: into the log, or into nothing with a recorded denial.
#[derive(Clone)]
pub(crate) enum GuestOutput {
    Captured { log: SharedLog, stream: StdStream },
    Denied { denials: DenialRecorder, stream: StdStream },
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match &*self {
            GuestOutput::Captured { log, stream } => {
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                if !log.has_room() {
                    // Spent: count the write without copying it.
                    log.drop_record(record_weight("", &[]).saturating_add(buf.len() as u64));
                    return Poll::Ready(Ok(buf.len()));
                }
                let text = String::from_utf8_lossy(buf);
                let message = text.strip_suffix('\n').unwrap_or(&text).to_owned();
                let level = if *stream == StdStream::Stderr { LogLevel::Warn } else { LogLevel::Info };
                log.push(level, message, vec![("stream".to_owned(), stream.name().to_owned())]);
            }
            GuestOutput::Denied { denials, stream } => denials.record(CapabilityKind::Stdio, stream.name()),
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
