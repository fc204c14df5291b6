//! The compiled-component cache: wasmtime's precompiled artifacts kept on disk so a component is
//! compiled once per engine configuration, not once per process.
//!
//! Entries live at `<dir>/<engine key>/<component sha256>.cwasm`. The engine key is the sha256 of
//! wasmtime's [`precompile_compatibility_hash`](wasmtime::Engine::precompile_compatibility_hash)
//! (target, compiler flags, tunables, wasm features, wasmtime version) so any configuration
//! change uses fresh entries. Each entry carries a footer (see `cache_entry`) naming its engine
//! key and component hash and checksumming the artifact; an entry is deserialised only after all
//! of that checks out, from the bytes just checked. A corrupt entry is deleted, recompiled and
//! reported as [`CacheOutcome::Rebuilt`], never trusted.
//!
//! The checksum catches corruption, not forgery: the cache directory must be writable only by
//! the user running the host, as anyone who can write it can run native code in the host.

use std::hash::{Hash, Hasher};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::atomic_file::write_atomically;
use super::cache_entry::{self, Digest32};
use super::{IntegrityError, normalize_sha256};

/// Name of the cache directory inside the state directory.
pub const DEFAULT_CACHE_DIR_NAME: &str = "cache";
/// File extension of cache entries.
const ENTRY_EXTENSION: &str = "cwasm";
/// Mixed into every engine key, so a change of entry format never reuses old entries.
const ENGINE_KEY_DOMAIN: &[u8] = b"symphony compiled-component cache, entry format 1\0";

/// How [`CompiledCache::load_or_compile`] got the component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// A valid entry was loaded; nothing was compiled.
    Hit,
    /// There was no entry: the component was compiled and stored.
    Miss,
    /// The entry was unusable: it was deleted, and the component compiled and stored again.
    Rebuilt {
        /// What was wrong with the old entry.
        reason: RebuildReason,
    },
}

impl CacheOutcome {
    /// `hit`, `miss` or `rebuilt`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Rebuilt { .. } => "rebuilt",
        }
    }
}

impl std::fmt::Display for CacheOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rebuilt { reason } => write!(f, "rebuilt ({reason})"),
            other => f.write_str(other.kind()),
        }
    }
}

/// Why a cache entry was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildReason {
    /// The entry exists but could not be read.
    #[error("unreadable: {message}")]
    Unreadable {
        /// The I/O error.
        message: String,
    },
    /// The entry is shorter than its footer says, or has no footer (a write cut short).
    #[error("truncated ({size_bytes} bytes)")]
    Truncated {
        /// Size of the entry found, in bytes.
        size_bytes: u64,
    },
    /// The footer names another engine configuration or component (a misplaced file).
    #[error("made for another engine or component")]
    WrongKey,
    /// The artifact does not match its checksum.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// The checksum matched but wasmtime refused the artifact.
    #[error("rejected by wasmtime: {message}")]
    Incompatible {
        /// wasmtime's error.
        message: String,
    },
}

/// Compiled components on disk, keyed by engine configuration and component hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledCache {
    dir: PathBuf,
}

impl CompiledCache {
    /// A cache in `dir` (created on the first store).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `<state_dir>/cache`.
    #[must_use]
    pub fn default_dir(state_dir: &Path) -> PathBuf {
        state_dir.join(DEFAULT_CACHE_DIR_NAME)
    }

    /// The cache directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for a component (by lowercase hex sha256) compiled by `engine` lives.
    ///
    /// # Errors
    /// [`IntegrityError::InvalidSha256`] when `sha256` is not 64 hex digits.
    pub fn entry_path(&self, engine: &Engine, sha256: &str) -> Result<PathBuf, IntegrityError> {
        let sha256 = normalize_sha256(sha256)?;
        Ok(self.entry_path_for(&hex::encode(engine_key(engine)), &sha256))
    }

    fn entry_path_for(&self, engine_key_hex: &str, sha256: &str) -> PathBuf {
        self.dir.join(engine_key_hex).join(format!("{sha256}.{ENTRY_EXTENSION}"))
    }

    /// The component for `bytes` (whose sha256 is `sha256`), from the cache when a valid entry
    /// exists, else compiled and stored. Failing to store is logged, not an error: the cache
    /// only saves time.
    ///
    /// # Errors
    /// [`IntegrityError::InvalidSha256`] or [`IntegrityError::Sha256Mismatch`] when `sha256` is
    /// malformed or not the hash of `bytes` (a wrong key would poison the cache);
    /// [`IntegrityError::Compile`] when wasmtime cannot compile `bytes`.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(Component, CacheOutcome), IntegrityError> {
        let declared = normalize_sha256(sha256)?;
        let actual: Digest32 = Sha256::digest(bytes).into();
        if hex::encode(actual) != declared {
            return Err(IntegrityError::Sha256Mismatch { declared, actual: hex::encode(actual) });
        }
        let key = engine_key(engine);
        let path = self.entry_path_for(&hex::encode(key), &declared);

        let rejected = match std::fs::read(&path) {
            // No entry, including when the cache directory is not a directory at all.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => None,
            Err(e) => Some(RebuildReason::Unreadable { message: e.to_string() }),
            Ok(entry) => match cache_entry::decode(&entry, &key, &actual) {
                Ok(artifact) => match deserialize_checked(engine, artifact) {
                    Ok(component) => return Ok((component, CacheOutcome::Hit)),
                    Err(e) => Some(RebuildReason::Incompatible { message: format!("{e:#}") }),
                },
                Err(reason) => Some(reason),
            },
        };
        if let Some(reason) = &rejected {
            tracing::warn!(path = %path.display(), %reason, "discarding a bad compiled-cache entry");
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a bad compiled-cache entry");
            }
        }

        let artifact = engine
            .precompile_component(bytes)
            .map_err(|e| IntegrityError::Compile { reason: format!("{e:#}") })?;
        if let Err(e) = write_atomically(&path, &cache_entry::encode(&artifact, &key, &actual)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot store a compiled component");
        }
        let component = deserialize_checked(engine, &artifact)
            .map_err(|e| IntegrityError::Compile { reason: format!("{e:#}") })?;
        let outcome = rejected.map_or(CacheOutcome::Miss, |reason| CacheOutcome::Rebuilt { reason });
        Ok((component, outcome))
    }

    /// Delete the entries of every other engine configuration (older wasmtime versions, other
    /// settings). Returns the number of entries removed. Files the cache did not create are left
    /// alone.
    ///
    /// # Errors
    /// [`IntegrityError::Io`] when the cache directory cannot be listed or an entry removed.
    pub fn prune(&self, engine: &Engine) -> Result<u64, IntegrityError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IntegrityError::Io { path, source }
        };
        let current = hex::encode(engine_key(engine));
        let listing = match std::fs::read_dir(&self.dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            other => other.map_err(io(&self.dir))?,
        };
        let mut removed = 0u64;
        for dir in listing {
            let dir = dir.map_err(io(&self.dir))?;
            let name = dir.file_name().to_string_lossy().into_owned();
            let is_engine_dir =
                name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if name == current || !is_engine_dir || !dir.file_type().map_err(io(&dir.path()))?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(dir.path()).map_err(io(&dir.path()))? {
                let entry = entry.map_err(io(&dir.path()))?;
                if entry.path().extension().is_some_and(|e| e == ENTRY_EXTENSION) {
                    std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
                    removed += 1;
                }
            }
            // Leaves the directory if something else is in it.
            let _ = std::fs::remove_dir(dir.path());
        }
        Ok(removed)
    }
}

/// sha256 of the engine's compatibility hash, domain-separated by the entry format.
fn engine_key(engine: &Engine) -> Digest32 {
    let mut hasher = Sha256Hasher(Sha256::new_with_prefix(ENGINE_KEY_DOMAIN));
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

/// Feeds `std::hash::Hash` output into sha256, for a key that is stable across processes
/// (unlike `DefaultHasher`, which is randomly seeded).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// Deserialise an artifact that this engine produced: either just now by
/// `precompile_component`, or read from an entry whose footer matched this engine's key, this
/// component's hash and the artifact's checksum.
fn deserialize_checked(engine: &Engine, artifact: &[u8]) -> Result<Component, wasmtime::Error> {
    // SAFETY: `Component::deserialize` runs the artifact's native code unchecked, so it must be
    // an unmodified output of `precompile_component`. Callers pass either the in-memory output
    // of `engine.precompile_component` itself, or bytes already read into memory from a cache
    // entry whose sha256 checksum, engine key (this engine configuration's compatibility hash)
    // and component hash were verified by `cache_entry::decode`: the bytes this host wrote.
    // Deserialising from that in-memory copy (not the file) means the file cannot change between
    // the check and the use; wasmtime also rejects artifacts from an incompatible engine.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, artifact)? };
    Ok(component)
}

#[cfg(test)]
mod tests;
