//! [`CommandError`]: why a command could not do its job (exit code 2), typed by where it
//! failed, so each command branches on variants and prints one message naming the file or
//! part at fault.

use std::path::PathBuf;

use symphony_bench::BenchError;
use symphony_conductor::anomaly::HealthStoreError;
use symphony_host::PlatformError;
use symphony_host::engine::EngineError;
use symphony_host::extension_build::BuildError;
use symphony_host::integrity::IntegrityError;
use symphony_host::runtime::LookupError;
use symphony_host::state::StateError;
use symphony_types::manifest::MANIFEST_FILE_NAME;

use super::scaffold::NameProblem;

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// The platform (engine, state directory, health history) could not be assembled.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The engine could not be built from the config.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The state directory could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// The health history could not be opened, read or written.
    #[error(transparent)]
    HealthStore(#[from] HealthStoreError),
    /// No extension matches, or its manifest is invalid.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A pin could not be recorded.
    #[error("cannot record the pin: {0}")]
    Pin(#[from] IntegrityError),
    /// An extension crate could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A benchmark scenario failed.
    #[error("{scenario}: {source}")]
    Bench {
        /// The scenario's name.
        scenario: &'static str,
        /// What failed.
        source: BenchError,
    },
    /// A benchmark child process (one per in-flight count) could not run or report.
    #[error("in-flight child for {count} calls: {reason}")]
    BenchChild {
        /// The in-flight count it measured.
        count: usize,
        /// What went wrong, with the child's own error output.
        reason: String,
    },
    /// `symphony new`: the name cannot be both an extension's and a crate's.
    #[error("`{name}` cannot name an extension: {problem}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// `symphony new`: the crate's directory already exists and is not empty.
    #[error("{} already exists and is not an empty directory: pick another name or --path", path.display())]
    TargetExists {
        /// The directory.
        path: PathBuf,
    },
    /// A file or directory could not be created or written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `symphony check PATH`: PATH is neither a manifest nor a directory holding one.
    #[error("{}: no {MANIFEST_FILE_NAME} here (give an extension crate, a directory holding {MANIFEST_FILE_NAME}, or a manifest path)", path.display())]
    NoManifest {
        /// The path given.
        path: PathBuf,
    },
    /// A report could not be encoded as JSON.
    #[error("cannot encode the report: {0}")]
    Json(#[from] serde_json::Error),
}
