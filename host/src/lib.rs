//! Symphony's host: runs untrusted WebAssembly component extensions inside hard, typed limits.
//!
//! Start with [`Runtime`]: it builds the one sandboxed engine from a [`PlatformConfig`] and
//! loads extensions ([`LoadedExtension`]) whose every call runs in a fresh store under fuel,
//! deadline, memory, table, instance, stack, input, output and log limits. Every failure is a
//! [`CallError`]: the guest's typed [`ExtensionError`] or the sandbox's [`HostError`], each with
//! a source, a snake_case kind and a class.

pub mod audit;
pub mod bench;
mod bindings;
pub mod byte_size;
mod call_log;
mod call_state;
pub mod capability;
pub mod cli;
pub mod component_info;
pub mod conductor;
pub mod config;
pub mod config_file;
pub mod engine;
pub mod error;
pub mod expected_profile;
pub mod extension_build;
mod health_status;
pub mod integrity;
pub mod limits;
pub mod manifest;
pub mod payload;
pub mod policy;
pub mod progress_log;
pub mod runtime;
pub mod sandbox;
pub mod state;

pub use call_log::{CallLog, LogLevel, LogRecord};
pub use component_info::{ApiVersion, ComponentInfo};
pub use config::{Metering, PlatformConfig};
pub use config_file::ConfigFileError;
pub use error::{
    CallError, ConductorError, ErrorClass, ErrorReport, ErrorSource, ExtensionError, HostError, TrapCode,
};
pub use expected_profile::ExpectedProfile;
pub use health_status::HealthStatus;
pub use limits::Limits;
pub use manifest::{ExtensionManifest, Priority};
pub use payload::{CallRequest, CancelToken, Payload};
pub use policy::{EffectiveLimits, PlatformPolicy};
pub use progress_log::{ProgressLog, ProgressUpdate};
pub use runtime::Runtime;
pub use sandbox::{CallOutcome, ExtensionMetadata, LoadedExtension, Usage};
