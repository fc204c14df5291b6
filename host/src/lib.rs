//! Symphony's host: runs untrusted WebAssembly component extensions inside hard, typed limits.
//!
//! Start with [`Runtime`]: it builds the one sandboxed engine from a [`PlatformConfig`] and
//! loads extensions ([`LoadedExtension`]) whose every call runs in a fresh store under fuel,
//! deadline, memory, table, instance, stack, input, output and log limits. Every failure is a
//! [`CallError`]: the guest's typed [`ExtensionError`] or the sandbox's [`HostError`], each with
//! a source, a snake_case kind and a class.
//!
//! The plain data (errors, payloads, limits, manifests, policy) lives in `symphony-types` and the
//! resilience layer in `symphony-conductor`; both are re-exported here so an embedder needs one
//! dependency.

pub mod audit;
mod bindings;
mod call_state;
mod capability;
pub mod component_info;
pub mod config;
pub mod durable_runs;
pub mod engine;
pub mod extension_build;
pub mod health_store;
pub mod integrity;
pub mod platform;
pub mod registry;
pub mod runtime;
pub mod sandbox;
pub mod state;
pub mod telemetry;
pub mod tenants;
pub mod workflows;

pub use symphony_conductor as conductor;
pub use symphony_types as types;
pub use symphony_workflow as workflow;

pub use component_info::{ApiVersion, ComponentInfo};
pub use config::{Metering, PlatformConfig};
pub use platform::{Platform, PlatformError};
pub use runtime::Runtime;
pub use sandbox::{CallOutcome, ExtensionMetadata, LoadedExtension};
pub use symphony_types::{
    CallError, CallLog, CallRequest, CancelToken, ConductorError, ErrorClass, ErrorReport, ErrorSource,
    ExtensionError, ExtensionManifest, HealthStatus, HostError, Limits, LogLevel, LogRecord, Payload,
    PlatformPolicy, Priority, TrapCode, Usage,
};
