//! The error taxonomy every caller branches on.
//!
//! Three layers can fail a call: the **guest** (it handled what it could and returned a typed
//! [`ExtensionError`]), the **host** sandbox (a limit, a trap, a bad component: [`HostError`]), and
//! later the conductor. Each error has a [`ErrorSource`], a stable snake_case `kind` and a
//! [`ErrorClass`] saying whether retrying can help. Callers match on variants, never on text.
//! Building these errors from wasmtime traps is the sandbox's job, not this file's.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::state_dir::DEFAULT_STATE_DIR;

use serde::Serialize;

use crate::config_file::ConfigFileError;

mod conductor_error;
pub use conductor_error::ConductorError;

/// Which layer produced an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorSource {
    /// The extension returned a typed error.
    Guest,
    /// The sandbox stopped or refused the call.
    Host,
    /// Orchestration (retry, breaker, fallback, admission) failed the call.
    Conductor,
}

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The same call may succeed later: retry (with backoff, within budget).
    Transient,
    /// The same call will fail again, but another route (fallback, degraded result) may serve it.
    Recoverable,
    /// Nothing will help; never retried.
    Fatal,
}

impl fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Guest => "guest",
            Self::Host => "host",
            Self::Conductor => "conductor",
        })
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "transient",
            Self::Recoverable => "recoverable",
            Self::Fatal => "fatal",
        })
    }
}

/// A typed error returned by the guest (the WIT `extension-error` variant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// The input is wrong; retrying the same input never helps.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What the guest said.
        message: String,
    },
    /// Something the guest depends on is down; worth retrying.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What the guest said.
        message: String,
        /// The guest's hint, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// The guest or its dependency is throttling.
    #[error("rate limited: {message} (retry after {retry_after_ms} ms)")]
    RateLimited {
        /// What the guest said.
        message: String,
        /// Earliest useful retry, in milliseconds.
        retry_after_ms: u64,
    },
    /// The guest ran out of something it manages itself.
    #[error("resource exhausted: {message}")]
    ResourceExhausted {
        /// What the guest said.
        message: String,
    },
    /// The guest understood the request but cannot produce a result.
    #[error("unable to complete: {message}")]
    UnableToComplete {
        /// What the guest said.
        message: String,
    },
    /// A bug inside the guest.
    #[error("internal error: {message}")]
    Internal {
        /// What the guest said.
        message: String,
    },
}

impl ExtensionError {
    /// Stable snake_case name of the variant (matches the WIT case name).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_input",
            Self::Unavailable { .. } => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
            Self::ResourceExhausted { .. } => "resource_exhausted",
            Self::UnableToComplete { .. } => "unable_to_complete",
            Self::Internal { .. } => "internal",
        }
    }

    /// Whether retrying can help.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Unavailable { .. } | Self::RateLimited { .. } => ErrorClass::Transient,
            Self::ResourceExhausted { .. } | Self::UnableToComplete { .. } | Self::Internal { .. } => {
                ErrorClass::Recoverable
            }
            Self::InvalidInput { .. } => ErrorClass::Fatal,
        }
    }

    /// The guest's own message.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidInput { message }
            | Self::Unavailable { message, .. }
            | Self::RateLimited { message, .. }
            | Self::ResourceExhausted { message }
            | Self::UnableToComplete { message }
            | Self::Internal { message } => message,
        }
    }

    /// The guest's retry hint, in milliseconds, if it gave one.
    #[must_use]
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::Unavailable { retry_after_ms, .. } => *retry_after_ms,
            Self::RateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

/// Why a trap stopped the guest, for traps that are not a limit breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrapCode {
    /// `unreachable` executed (a Rust guest's panic or abort lands here).
    Unreachable,
    /// Out-of-bounds linear memory access.
    MemoryOutOfBounds,
    /// Out-of-bounds table access.
    TableOutOfBounds,
    /// Call through a null table entry.
    IndirectCallToNull,
    /// Indirect call with the wrong signature.
    BadSignature,
    /// Integer overflow.
    IntegerOverflow,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Float to int conversion out of range.
    BadConversionToInteger,
    /// Misaligned atomic access.
    HeapMisaligned,
    /// The component model refused to enter or leave the component.
    ComponentModel,
    /// Any other trap wasmtime reports.
    Other,
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Unreachable => "unreachable",
            Self::MemoryOutOfBounds => "memory_out_of_bounds",
            Self::TableOutOfBounds => "table_out_of_bounds",
            Self::IndirectCallToNull => "indirect_call_to_null",
            Self::BadSignature => "bad_signature",
            Self::IntegerOverflow => "integer_overflow",
            Self::IntegerDivisionByZero => "integer_division_by_zero",
            Self::BadConversionToInteger => "bad_conversion_to_integer",
            Self::HeapMisaligned => "heap_misaligned",
            Self::ComponentModel => "component_model",
            Self::Other => "other",
        };
        f.write_str(text)
    }
}

/// The sandbox stopped or refused a call.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The call used its whole fuel budget.
    #[error("out of fuel: the call used its budget of {limit_fuel} fuel units")]
    OutOfFuel {
        /// The budget, in fuel units.
        limit_fuel: u64,
    },
    /// The call ran past its wall-clock deadline.
    #[error("deadline exceeded: the call ran longer than {limit_ms} ms")]
    DeadlineExceeded {
        /// The deadline, in milliseconds.
        limit_ms: u64,
    },
    /// The guest tried to grow its linear memory past the limit.
    #[error(
        "memory limit: the guest asked for {requested_bytes} bytes of linear memory, limit is {limit_bytes}"
    )]
    MemoryLimit {
        /// Total bytes across all memories the guest asked for.
        requested_bytes: u64,
        /// The limit, in bytes.
        limit_bytes: u64,
    },
    /// The guest tried to grow its tables past the limit.
    #[error(
        "table limit: the guest asked for {requested_elements} table elements, limit is {limit_elements}"
    )]
    TableLimit {
        /// Total elements across all tables the guest asked for.
        requested_elements: u64,
        /// The limit, in elements.
        limit_elements: u64,
    },
    /// The component needs more core instances than allowed.
    #[error("instance limit: the component creates {needed} core instances, limit is {limit}")]
    InstanceLimit {
        /// Core instances the component creates.
        needed: u64,
        /// The limit, in instances.
        limit: u64,
    },
    /// The guest overflowed its wasm stack.
    #[error("stack overflow: the guest exceeded its {limit_bytes}-byte wasm stack")]
    StackOverflow {
        /// The engine's wasm stack size, in bytes.
        limit_bytes: u64,
    },
    /// The input was larger than allowed; the guest never ran.
    #[error("input too large: {size_bytes} bytes, limit is {limit_bytes}")]
    InputTooLarge {
        /// Size of the input, in bytes.
        size_bytes: u64,
        /// The limit, in bytes.
        limit_bytes: u64,
    },
    /// The guest produced more output than allowed; the output was discarded.
    #[error("output too large: {size_bytes} bytes, limit is {limit_bytes}")]
    OutputTooLarge {
        /// Size of the output, in bytes.
        size_bytes: u64,
        /// The limit, in bytes.
        limit_bytes: u64,
    },
    /// The guest trapped for a reason that is not a limit.
    #[error("guest trap ({code}): {message}")]
    GuestTrap {
        /// What kind of trap.
        code: TrapCode,
        /// wasmtime's description, with the guest backtrace when there is one.
        message: String,
    },
    /// The component could not be read, compiled or instantiated.
    #[error("invalid component {}: {reason}", path.display())]
    InvalidComponent {
        /// The component file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// No extension matches the reference: not a manifest path, not a directory holding one,
    /// not a name (or `name@version`) in the extension directories.
    #[error("{}", not_found_message(reference, did_you_mean.as_deref(), searched, unreadable))]
    ExtensionNotFound {
        /// What the caller asked for.
        reference: String,
        /// The known extension name closest to `reference`, when one is close enough to be a
        /// likely typo.
        did_you_mean: Option<String>,
        /// The extension directories searched.
        searched: Vec<PathBuf>,
        /// Manifests met on the way that could not be read (one may be the one meant).
        unreadable: Vec<ConfigFileError>,
    },
    /// The extension's manifest (or the platform config) is invalid.
    #[error(transparent)]
    ManifestInvalid(#[from] ConfigFileError),
    /// Every instance slot of the pooling allocator is in use; the call never started.
    #[error("instance pool exhausted: too many calls in flight (engine.max_concurrent_instances)")]
    PoolExhausted,
    /// The component targets an API version this host does not support.
    #[error("incompatible API: the component uses {found}; this host supports {supported}")]
    IncompatibleApi {
        /// What the component imports or exports.
        found: String,
        /// The versions this host links.
        supported: String,
    },
    /// The component's `describe()` names another extension, another version, or fewer
    /// features than its manifest declares; it is refused at load.
    #[error(
        "identity mismatch: the manifest says {manifest} but the component says it is {component}{}",
        if missing_features.is_empty() { String::new() } else { format!(" and lacks features {missing_features:?}") }
    )]
    IdentityMismatch {
        /// `name@version` from the manifest.
        manifest: String,
        /// `name@version` from the component's `describe()`.
        component: String,
        /// Features the manifest declares that the component does not provide.
        missing_features: Vec<String>,
    },
    /// What `describe()` returned is larger than the metadata limits allow.
    #[error(
        "metadata too large: describe() returned {size_bytes} bytes in {features} features, limits are {limit_bytes} bytes and {limit_features} features"
    )]
    MetadataTooLarge {
        /// Bytes of name, version and features together.
        size_bytes: u64,
        /// The limit, in bytes.
        limit_bytes: u64,
        /// Features listed.
        features: u64,
        /// The limit, in features.
        limit_features: u64,
    },
    /// The host task running the guest ended without an answer (a host bug, never the guest's).
    #[error("sandbox task failed: {reason}")]
    SandboxTaskFailed {
        /// What the executor reported.
        reason: String,
    },
    /// The component's bytes differ from the sha256 pinned for its `name@version`.
    #[error(
        "hash mismatch for {}: {} pins sha256 {expected_sha256}, the file has {actual_sha256}; \
         if you rebuilt it yourself and trust it, run `{}`",
        path.display(),
        pins_file.display(),
        pin_command(pins_file, manifest)
    )]
    HashMismatch {
        /// The component file.
        path: PathBuf,
        /// Lowercase hex sha256 recorded in the pin store.
        expected_sha256: String,
        /// Lowercase hex sha256 of the bytes on disk.
        actual_sha256: String,
        /// The pins file consulted (`<state_dir>/pins.toml`).
        pins_file: PathBuf,
        /// The extension's manifest, what `symphony pin` takes.
        manifest: PathBuf,
    },
    /// No sha256 is pinned for the extension, and the platform requires one.
    #[error("{}", unpinned_message(path, extension, pins_file.as_deref(), manifest))]
    Unpinned {
        /// The component file.
        path: PathBuf,
        /// The extension id, `name@version`.
        extension: String,
        /// The pins file consulted (`<state_dir>/pins.toml`); `None` when the runtime has no
        /// state directory, so nothing can be pinned.
        pins_file: Option<PathBuf>,
        /// The extension's manifest, what `symphony pin` takes.
        manifest: PathBuf,
    },
}

/// The command that pins `manifest` into the state directory holding `pins_file`.
fn pin_command(pins_file: &Path, manifest: &Path) -> String {
    let state_dir = pins_file.parent().filter(|dir| !dir.as_os_str().is_empty());
    match state_dir {
        Some(dir) if dir != Path::new(DEFAULT_STATE_DIR) => {
            format!("symphony --state-dir {} pin {}", dir.display(), manifest.display())
        }
        _ => format!("symphony pin {}", manifest.display()),
    }
}

/// [`HostError::Unpinned`]'s message: which component, where pins were looked for, the fix.
fn unpinned_message(path: &Path, extension: &str, pins_file: Option<&Path>, manifest: &Path) -> String {
    match pins_file {
        Some(pins_file) => format!(
            "component {} is not pinned: {} records no sha256 for {extension}; \
             to trust it as it is now, run `{}` (`symphony build` pins what it builds)",
            path.display(),
            pins_file.display(),
            pin_command(pins_file, manifest)
        ),
        None => format!(
            "component {} of {extension} is not pinned: this runtime has no state directory to \
             hold pins; embed `Platform::open` or `Runtime::with_state`, or opt out by name with \
             `Runtime::allow_unpinned`",
            path.display()
        ),
    }
}

impl HostError {
    /// Stable snake_case name of the variant.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::DeadlineExceeded { .. } => "deadline_exceeded",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::TableLimit { .. } => "table_limit",
            Self::InstanceLimit { .. } => "instance_limit",
            Self::StackOverflow { .. } => "stack_overflow",
            Self::InputTooLarge { .. } => "input_too_large",
            Self::OutputTooLarge { .. } => "output_too_large",
            Self::GuestTrap { .. } => "guest_trap",
            Self::InvalidComponent { .. } => "invalid_component",
            Self::ExtensionNotFound { .. } => "extension_not_found",
            Self::ManifestInvalid(_) => "manifest_invalid",
            Self::IncompatibleApi { .. } => "incompatible_api",
            Self::PoolExhausted => "instance_pool_exhausted",
            Self::HashMismatch { .. } => "hash_mismatch",
            Self::IdentityMismatch { .. } => "identity_mismatch",
            Self::MetadataTooLarge { .. } => "metadata_too_large",
            Self::SandboxTaskFailed { .. } => "sandbox_task_failed",
            Self::Unpinned { .. } => "component_unpinned",
        }
    }

    /// Whether retrying can help. Limit breaches and traps are deterministic for the same
    /// input and limits, so they are fatal: retrying only burns more resources. A full instance
    /// pool is the one transient host error: the same call succeeds once others finish.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::PoolExhausted => ErrorClass::Transient,
            _ => ErrorClass::Fatal,
        }
    }
}

/// The message of [`HostError::ExtensionNotFound`].
fn not_found_message(
    reference: &str,
    did_you_mean: Option<&str>,
    searched: &[PathBuf],
    unreadable: &[ConfigFileError],
) -> String {
    let dirs: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
    let mut message = format!(
        "no extension `{reference}`: not a manifest, a directory with {}, or a name in {}",
        crate::manifest::MANIFEST_FILE_NAME,
        if dirs.is_empty() { "(no extension directories)".to_owned() } else { dirs.join(", ") }
    );
    if let Some(name) = did_you_mean {
        message.push_str(&format!("; did you mean `{name}`?"));
    }
    for broken in unreadable {
        message.push_str("; unreadable manifest ");
        message.push_str(&broken.to_string());
    }
    message
}

/// Why one call failed: the guest's typed error or the sandbox's.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest returned a typed error.
    #[error(transparent)]
    Guest(#[from] ExtensionError),
    /// The sandbox stopped or refused the call.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The conductor refused or gave up.
    #[error(transparent)]
    Conductor(#[from] ConductorError),
}

impl CallError {
    /// Which layer failed.
    #[must_use]
    pub fn source_layer(&self) -> ErrorSource {
        match self {
            Self::Guest(_) => ErrorSource::Guest,
            Self::Host(_) => ErrorSource::Host,
            Self::Conductor(_) => ErrorSource::Conductor,
        }
    }

    /// Stable snake_case kind.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Guest(e) => e.kind(),
            Self::Host(e) => e.kind(),
            Self::Conductor(e) => e.kind(),
        }
    }

    /// Whether retrying can help.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Guest(e) => e.class(),
            Self::Host(e) => e.class(),
            Self::Conductor(e) => e.class(),
        }
    }

    /// The retry hint in milliseconds, from the guest or the conductor.
    #[must_use]
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::Guest(e) => e.retry_after_ms(),
            Self::Host(_) => None,
            Self::Conductor(e) => e.retry_after_ms(),
        }
    }

    /// The flat, serialisable form used by `--json` output and logs.
    #[must_use]
    pub fn report(&self) -> ErrorReport {
        ErrorReport {
            source: self.source_layer(),
            kind: self.kind(),
            class: self.class(),
            message: match self {
                Self::Guest(e) => e.message().to_owned(),
                Self::Host(e) => e.to_string(),
                Self::Conductor(e) => e.to_string(),
            },
            retry_after_ms: self.retry_after_ms(),
        }
    }
}

/// An error flattened for JSON output: `{"source","kind","class","message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// Which layer failed.
    pub source: ErrorSource,
    /// Stable snake_case kind.
    pub kind: &'static str,
    /// Whether retrying can help.
    pub class: ErrorClass,
    /// Human-readable explanation.
    pub message: String,
    /// Retry hint in milliseconds, when the guest gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[cfg(test)]
mod tests;
