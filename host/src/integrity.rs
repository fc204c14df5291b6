//! Knowing that the code we run is the code we meant to run: component pins (a lockfile of
//! `name@version` → sha256, [`PinStore`]) and the compiled-component cache ([`CompiledCache`]),
//! whose entries are checksummed and never trusted unverified.
//!
//! Both live in the state directory: `<state_dir>/pins.toml` and `<state_dir>/cache/`. Hashing
//! a component's bytes is [`sha256_hex`]; whether a missing pin is fatal is
//! [`UnpinnedComponents`], chosen by the runtime; auditing the verdict is the state directory's.

mod atomic_file;
mod cache_entry;
mod compiled_cache;
mod pins;
mod unpinned;

use std::path::PathBuf;

pub use compiled_cache::{CacheOutcome, CompiledCache, DEFAULT_CACHE_DIR_NAME, RebuildReason};
pub use pins::{DEFAULT_PINS_FILE_NAME, Pin, PinStore};
pub use unpinned::UnpinnedComponents;

use symphony_types::config_file::ConfigFileError;

/// Why a pin or cache operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// An extension id is not `name@version` with a semver version.
    #[error("invalid extension id `{id}`: expected name@version")]
    InvalidExtensionId {
        /// What was given.
        id: String,
    },
    /// A hash is not 64 hex digits.
    #[error("invalid sha256 `{value}`: expected 64 hex digits")]
    InvalidSha256 {
        /// What was given.
        value: String,
    },
    /// The sha256 the caller gave is not the hash of the bytes it gave.
    #[error("sha256 mismatch: told {declared}, the bytes hash to {actual}")]
    Sha256Mismatch {
        /// The hash passed in.
        declared: String,
        /// The hash of the bytes.
        actual: String,
    },
    /// The pins file cannot be read or does not match its schema.
    #[error(transparent)]
    PinsFile(#[from] ConfigFileError),
    /// A file could not be written, locked or removed.
    #[error("cannot update {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// wasmtime could not compile the component.
    #[error("cannot compile the component: {reason}")]
    Compile {
        /// What the compiler said.
        reason: String,
    },
}

/// The lowercase hex sha256 of `bytes`: what a pin records and a load compares.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase `value` if it is 64 hex digits.
fn normalize_sha256(value: &str) -> Result<String, IntegrityError> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(IntegrityError::InvalidSha256 { value: value.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_checked_and_lowercased() {
        let upper = "AB".repeat(32);
        assert_eq!(normalize_sha256(&upper).unwrap(), "ab".repeat(32));
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33), "../../../../etc/passwd"] {
            assert!(matches!(normalize_sha256(bad), Err(IntegrityError::InvalidSha256 { .. })), "{bad}");
        }
    }
}
