//! Fallback chains: when the extension asked for cannot serve (after its own retries and
//! breaker), try the next step — an alternative extension, an older version of the same one, or
//! a degraded result (a static answer or the cached last good output), clearly marked.
//!
//! A step is only taken if it provides every feature the caller requires. Failures caused by the
//! caller (bad input, cancellation, its own deadline) never fall back: another extension would
//! fail the same way or the caller no longer wants an answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use symphony_types::error::{CallError, ConductorError, ExtensionError, HostError};
use symphony_types::payload::{CallRequest, Payload};

use super::invoke::Invoke;

/// Last good outputs kept for degraded answers, across all extensions.
pub const DEFAULT_LAST_GOOD_ENTRIES: usize = 1_024;

/// One configured step of a chain, as written in `symphony.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum FallbackStep {
    /// Another extension (a name, `name@version`, or a manifest path).
    Extension(String),
    /// A fixed answer, marked degraded.
    Static(serde_json::Value),
    /// The last good output the primary produced for the same input, marked degraded.
    LastGood,
}

/// A loaded fallback target with the features it provides.
pub struct FallbackTarget {
    /// The target.
    pub invoker: Arc<dyn Invoke>,
    /// Features it provides (from its manifest).
    pub features: Vec<String>,
    /// What it reserves per attempt when the conductor has a resource pool.
    pub demand: Option<super::reservation::Demand>,
}

impl std::fmt::Debug for FallbackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackTarget")
            .field("id", &self.invoker.id())
            .field("features", &self.features)
            .finish()
    }
}

/// A resolved step.
#[derive(Debug)]
pub enum ResolvedStep {
    /// Call this target.
    Target(FallbackTarget),
    /// Answer with this payload, degraded.
    Static(Payload),
    /// Answer with the primary's last good output for this input, degraded.
    LastGood,
}

/// Whether an error may be served by a fallback.
#[must_use]
pub fn may_fall_back(error: &CallError) -> bool {
    !matches!(
        error,
        CallError::Guest(ExtensionError::InvalidInput { .. })
            | CallError::Host(HostError::InputTooLarge { .. })
            | CallError::Conductor(
                ConductorError::Cancelled | ConductorError::RequestDeadlineExceeded { .. }
            )
    )
}

/// Whether `provided` covers every feature in `required`.
#[must_use]
pub fn provides_all(provided: &[String], required: &[String]) -> bool {
    required.iter().all(|r| provided.contains(r))
}

/// Last good outputs keyed by extension and input, bounded (oldest evicted first).
#[derive(Debug, Clone)]
pub struct LastGoodCache {
    inner: Arc<Mutex<LastGoodInner>>,
}

#[derive(Debug)]
struct LastGoodInner {
    capacity: usize,
    entries: HashMap<(String, [u8; 32]), Payload>,
    order: VecDeque<(String, [u8; 32])>,
}

impl Default for LastGoodCache {
    fn default() -> Self {
        Self::new(DEFAULT_LAST_GOOD_ENTRIES)
    }
}

fn input_key(request: &CallRequest) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(request.input.content_type.as_bytes());
    hasher.update([0]);
    hasher.update(&request.input.bytes);
    hasher.finalize().into()
}

impl LastGoodCache {
    /// A cache holding at most `capacity` outputs.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(LastGoodInner {
                capacity: capacity.max(1),
                entries: HashMap::new(),
                order: VecDeque::new(),
            })),
        }
    }

    /// Remember `output` as the last good answer of `extension` for this request's input.
    pub fn remember(&self, extension: &str, request: &CallRequest, output: &Payload) {
        let key = (extension.to_owned(), input_key(request));
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.entries.insert(key.clone(), output.clone()).is_none() {
            inner.order.push_back(key);
            while inner.order.len() > inner.capacity {
                if let Some(oldest) = inner.order.pop_front() {
                    inner.entries.remove(&oldest);
                }
            }
        }
    }

    /// The last good answer of `extension` for this request's input.
    #[must_use]
    pub fn recall(&self, extension: &str, request: &CallRequest) -> Option<Payload> {
        let key = (extension.to_owned(), input_key(request));
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).entries.get(&key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_faults_never_fall_back() {
        assert!(!may_fall_back(&CallError::Guest(ExtensionError::InvalidInput { message: String::new() })));
        assert!(!may_fall_back(&CallError::Conductor(ConductorError::Cancelled)));
        assert!(may_fall_back(&CallError::Guest(ExtensionError::UnableToComplete {
            message: String::new()
        })));
        assert!(may_fall_back(&CallError::Host(HostError::OutOfFuel { limit_fuel: 1 })));
        assert!(may_fall_back(&CallError::Conductor(ConductorError::CircuitOpen {
            extension: "x@1".into(),
            retry_after_ms: 5
        })));
    }

    #[test]
    fn features_must_all_be_provided() {
        let provided = vec!["a".to_owned(), "b".to_owned()];
        assert!(provides_all(&provided, &["a".to_owned()]));
        assert!(provides_all(&provided, &[]));
        assert!(!provides_all(&provided, &["a".to_owned(), "c".to_owned()]));
    }

    #[test]
    fn last_good_is_per_input_and_bounded() {
        let cache = LastGoodCache::new(2);
        let req = |s: &str| CallRequest::new(Payload::new("text/plain", s.as_bytes().to_vec()));
        let out = |s: &str| Payload::new("text/plain", s.as_bytes().to_vec());
        cache.remember("e@1", &req("a"), &out("A"));
        cache.remember("e@1", &req("b"), &out("B"));
        assert_eq!(cache.recall("e@1", &req("a")), Some(out("A")));
        assert_eq!(cache.recall("e@2", &req("a")), None, "per extension");
        cache.remember("e@1", &req("c"), &out("C"));
        assert_eq!(cache.recall("e@1", &req("a")), None, "oldest evicted");
        assert_eq!(cache.recall("e@1", &req("c")), Some(out("C")));
    }
}
