//! Plain data every layer of Symphony shares: the error taxonomy ([`CallError`]: the guest's
//! [`ExtensionError`], the sandbox's [`HostError`], the conductor's [`ConductorError`]),
//! payloads and requests, usage, limits (one table, [`limits`]), platform policy, extension
//! manifests, capability declarations and decisions, expected profiles, byte sizes, TOML file
//! errors, call logs and health status.
//!
//! No wasmtime and no async runtime: the conductor (`symphony-conductor`) and the sandbox host
//! (`symphony-host`) both build on these types, and an embedder can name them without either.

pub mod byte_size;
pub mod call_log;
pub mod capability;
pub mod config_file;
pub mod did_you_mean;
pub mod error;
pub mod expected_profile;
pub mod health_status;
pub mod limits;
pub mod manifest;
pub mod payload;
pub mod policy;
pub mod progress_log;
pub mod sealed_record;
pub mod state_dir;
pub mod store_open;
pub mod usage;

pub use call_log::{CallLog, LogLevel, LogRecord};
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
pub use usage::Usage;
