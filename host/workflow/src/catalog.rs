//! [`Catalog`]: what a workflow needs to know about the extensions it names, without naming the
//! sandbox. The host implements it over its registry (manifests, schema files, loaded
//! components); tests implement it over scripted targets.

use std::sync::Arc;

use symphony_conductor::{Demand, Invoke};

use crate::contract::Schema;

/// What an extension declares, as the checker and the runner see it.
#[derive(Debug, Clone)]
pub struct ExtensionInfo {
    /// `name@version`.
    pub id: String,
    /// The extension's name (routes are keyed by it).
    pub name: String,
    /// Features it provides.
    pub features: Vec<String>,
    /// Schema every input must satisfy (`[schema] input`).
    pub input_schema: Option<Schema>,
    /// Schema every output satisfies (`[schema] output`).
    pub output_schema: Option<Schema>,
    /// Typical wall time of a call as the manifest declares it (`[expected] latency_ms`), in
    /// milliseconds: the ETA's estimate until the health monitor has a baseline.
    pub expected_latency_ms: Option<u64>,
    /// Whether a call may run twice without harm (the manifest's `idempotent`): a durable run
    /// re-runs a started-but-unrecorded step only when it is.
    pub idempotent: bool,
}

/// A loaded extension a step can call.
#[derive(Clone)]
pub struct CallTarget {
    /// What it declares.
    pub info: Arc<ExtensionInfo>,
    /// The callable extension.
    pub invoker: Arc<dyn Invoke>,
    /// What each attempt reserves from the pool.
    pub demand: Option<Demand>,
}

impl std::fmt::Debug for CallTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallTarget").field("id", &self.info.id).finish_non_exhaustive()
    }
}

/// Why a reference could not be described or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// No extension answers to the reference.
    #[error("no extension `{reference}`{}", did_you_mean.as_ref().map(|d| format!(" (did you mean `{d}`?)")).unwrap_or_default())]
    NotFound {
        /// As written.
        reference: String,
        /// The closest known name.
        did_you_mean: Option<String>,
    },
    /// It exists but its manifest, schema or component is not usable.
    #[error("extension `{reference}` is not usable: {reason}")]
    Unusable {
        /// As written.
        reference: String,
        /// Why (the underlying error, rendered with its file and line).
        reason: String,
    },
}

/// Where workflows find their extensions.
pub trait Catalog: Send + Sync {
    /// Describe the extension `reference` names (a name or `name@version`) from its manifest
    /// and schemas, without loading its component.
    ///
    /// # Errors
    /// [`CatalogError`] when it does not exist or cannot be read.
    fn describe(&self, reference: &str) -> Result<Arc<ExtensionInfo>, CatalogError>;

    /// Load the extension `reference` names, ready to call.
    ///
    /// # Errors
    /// [`CatalogError`] when it does not exist, is not trusted or does not load.
    fn load(&self, reference: &str) -> Result<CallTarget, CatalogError>;
}
