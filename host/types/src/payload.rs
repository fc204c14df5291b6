//! What goes into and comes out of a call: a content type and bytes, plus the request's
//! context. JSON is the default content type; the bytes are never interpreted by the sandbox.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use crate::progress_log::LiveProgress;

/// Content type of JSON payloads.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// Content type of postcard payloads.
pub const POSTCARD_CONTENT_TYPE: &str = "application/postcard";

/// Bytes tagged with what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// MIME type, `application/json` by default.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Payload {
    /// A payload of raw bytes with a content type.
    #[must_use]
    pub fn new(content_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self { content_type: content_type.into(), bytes }
    }

    /// A JSON payload from any serialisable value.
    ///
    /// # Errors
    /// When `value` cannot be serialised.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::new(JSON_CONTENT_TYPE, serde_json::to_vec(value)?))
    }

    /// Size counted against input/output limits: content type plus bytes, in bytes.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        (self.content_type.len() + self.bytes.len()) as u64
    }

    /// Parse the bytes as JSON.
    ///
    /// # Errors
    /// When the bytes are not valid JSON.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.bytes)
    }
}

/// Lets a caller cancel an in-flight call; the guest sees `cancelled()` return true.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A fresh, uncancelled token.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancel every call holding this token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);
/// This process's id, read once: `std::process::id` is a system call every time.
static PROCESS_ID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// One call's input and context.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The input payload.
    pub input: Payload,
    /// Same across retries of one logical request.
    pub request_id: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Cancellation shared with the caller.
    pub cancel: CancelToken,
    /// Time the caller has left, in milliseconds: the call's deadline is the smaller of this
    /// and its effective `deadline_ms` (the conductor passes its remaining request deadline).
    pub deadline_cap_ms: Option<u64>,
    /// Where the guest's `progress()` calls are mirrored live, when someone watches them.
    pub live_progress: Option<LiveProgress>,
    /// The run's staging directory, preopened read-write at `/output` when the extension is
    /// granted `workflow_output`; set by the workflow runner, never by a guest.
    pub workflow_output: Option<PathBuf>,
    /// The admission class the caller gives this call in place of the manifest's (a service
    /// sets it within what the calling tenant may claim); `None`: the manifest's.
    pub priority: Option<crate::manifest::Priority>,
}

impl CallRequest {
    /// A first attempt with a fresh request id.
    #[must_use]
    pub fn new(input: Payload) -> Self {
        let n = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        Self {
            input,
            request_id: format!("req-{}-{n}", PROCESS_ID.get_or_init(std::process::id)),
            attempt: 1,
            cancel: CancelToken::new(),
            deadline_cap_ms: None,
            live_progress: None,
            workflow_output: None,
            priority: None,
        }
    }

    /// A JSON request from any serialisable value.
    ///
    /// # Errors
    /// When `value` cannot be serialised.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::new(Payload::json(value)?))
    }

    /// Set the attempt number (1-based).
    #[must_use]
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt.max(1);
        self
    }

    /// Set the request id.
    #[must_use]
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = id.into();
        self
    }

    /// Cap this call's deadline at `milliseconds` (never raises it).
    #[must_use]
    pub fn deadline_cap_ms(mut self, milliseconds: u64) -> Self {
        self.deadline_cap_ms = Some(milliseconds);
        self
    }

    /// Mirror the guest's progress updates into `live` as they happen.
    #[must_use]
    pub fn live_progress(mut self, live: LiveProgress) -> Self {
        self.live_progress = Some(live);
        self
    }

    /// Give the call the run's staging directory `dir`, preopened read-write at `/output` when
    /// the extension is granted `workflow_output` (otherwise the host records a denial and the
    /// guest sees no `/output`). Set by the workflow runner, never by a guest.
    #[must_use]
    pub fn workflow_output(mut self, dir: PathBuf) -> Self {
        self.workflow_output = Some(dir);
        self
    }

    /// Admit this call as `priority` instead of its manifest's class.
    #[must_use]
    pub fn priority(mut self, priority: crate::manifest::Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Share a cancellation token with the caller.
    #[must_use]
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }
}
