//! Workflows: chains of extensions (A → B → C, or any DAG) with data contracts checked between
//! steps.
//!
//! - [`definition`]: the TOML file (or embedder data) parsed into typed steps;
//! - [`mapping`]: how a step's input is assembled from the workflow input and its ancestors'
//!   outputs;
//! - [`contract`]: JSON Schemas (`jsonschema`, no remote `$ref`) and what they allow;
//! - [`check`](mod@check): static validation, every [`Finding`] with file, line and step;
//! - [`prepared`] + [`runner`]: resolve once, then run through the
//!   [`Conductor`](symphony_conductor::Conductor), steps in parallel where the graph allows,
//!   outputs checked by [`contracted`] before they are handed on;
//! - [`progress`]: live per-step progress and the critical-path ETA;
//! - [`journal`] + [`durable`]: the checkpoint journal, resume after a crash or a cancel, and
//!   [`staging`] for outputs that appear whole or not at all.
//!
//! Like the conductor, this crate never names wasmtime: extensions are reached through
//! [`Catalog`] and [`Invoke`](symphony_conductor::Invoke).

pub mod catalog;
pub mod check;
pub mod checkpoints;
pub mod contract;
pub mod contracted;
pub mod definition;
pub mod durable;
pub mod finding;
pub mod journal;
pub mod mapping;
pub mod prepared;
pub mod progress;
pub mod run_metrics;
pub mod run_result;
pub mod runner;
pub mod staging;

pub use catalog::{CallTarget, Catalog, CatalogError, ExtensionInfo};
pub use check::{CheckReport, DEFAULT_MAX_DEPTH, DEFAULT_MAX_STEPS, WorkflowLimits, check};
pub use contract::{Schema, SchemaError};
pub use definition::{OnFailure, WorkflowDefinition, WorkflowSpec};
pub use durable::{DurableError, DurableOptions, DurableOutcome, IndeterminateStep, ResumeDecisions};
pub use finding::{Finding, FindingKind, Severity};
pub use journal::record::JournalStatus;
pub use journal::{Journal, JournalError, Retention, RunSummary};
pub use prepared::{PrepareError, PreparedWorkflow};
pub use progress::{ProgressSnapshot, RunProgress, StepPhase, StepSnapshot, Waiting};
pub use run_result::{RunResult, RunStatus, StepError, StepReport, StepStatus};
pub use runner::{DEFAULT_CANCEL_GRACE_MS, RunControl, RunOptions};
pub use staging::{Staging, StagingError};
