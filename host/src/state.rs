//! The state directory (`--state-dir`, default `.symphony/`): the component pins, the compiled
//! component cache, the health history and the audit log a runtime uses when it has one.
//!
//! A [`Runtime`](crate::Runtime) built without a state directory (tests, the author harness)
//! runs components without pins, cache or audit; the CLI always has one.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::audit::{AuditError, AuditEvent, AuditLog};
use crate::health_store::HealthStore;
use crate::integrity::{CompiledCache, IntegrityError, PinStore, UnpinnedComponents};
use symphony_conductor::anomaly::history_store::HealthStoreError;
use symphony_types::error::HostError;
use symphony_types::manifest::ExtensionManifest;

pub use symphony_types::state_dir::DEFAULT_STATE_DIR;

/// Why the state directory could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The directory could not be created.
    #[error("cannot create state directory {}: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The pin store is unreadable or invalid.
    #[error(transparent)]
    Pins(#[from] IntegrityError),
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Pins, compiled cache and audit log under one directory.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    pins: Mutex<PinStore>,
    cache: CompiledCache,
    audit: AuditLog,
}

impl StateDir {
    /// Open (creating if needed) the state directory at `path`.
    ///
    /// # Errors
    /// [`StateError`] when the directory, pins or audit log cannot be opened.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(path)
            .map_err(|source| StateError::Create { path: path.to_path_buf(), source })?;
        Ok(Self {
            path: path.to_path_buf(),
            pins: Mutex::new(PinStore::open(path)?),
            cache: CompiledCache::new(CompiledCache::default_dir(path)),
            audit: AuditLog::open(AuditLog::default_path(path))?,
        })
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The audit log.
    #[must_use]
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Open the health store (`health.redb`) holding every extension's history, anomalies and
    /// quarantines. It is held exclusively while open, so commands open it only when they
    /// call extensions through the conductor or report health.
    ///
    /// # Errors
    /// [`HealthStoreError`] when it is held by another process for too long or unreadable.
    pub fn open_health_store(&self) -> Result<HealthStore, HealthStoreError> {
        HealthStore::open(&HealthStore::default_path(&self.path))
    }

    /// The compiled-component cache.
    #[must_use]
    pub fn cache(&self) -> &CompiledCache {
        &self.cache
    }

    /// Record `sha256` as the trusted content of `extension_id` (`name@version`), audited.
    ///
    /// # Errors
    /// [`IntegrityError`] when the pin file cannot be written.
    pub fn pin(
        &self,
        extension_id: &str,
        sha256: &str,
        pinned_by: &str,
    ) -> Result<Option<String>, IntegrityError> {
        let previous = self.pins.lock().unwrap_or_else(PoisonError::into_inner).pin_recorded_by(
            extension_id,
            sha256,
            pinned_by,
        )?;
        if previous.as_deref() != Some(sha256) {
            let old = previous.clone().unwrap_or_else(|| "(none)".to_owned());
            self.audit.record(Some(extension_id), AuditEvent::policy_changed("pin", &old, sha256));
        }
        Ok(previous)
    }

    /// The pinned sha256 of `extension_id`, if any.
    #[must_use]
    pub fn pinned(&self, extension_id: &str) -> Option<String> {
        self.pins.lock().unwrap_or_else(PoisonError::into_inner).get(extension_id).map(str::to_owned)
    }

    /// Check the component of `manifest`, whose bytes hash to `sha256`, against its pin; a
    /// mismatch is audited, and so is an unpinned component let through by
    /// [`UnpinnedComponents::Allow`].
    ///
    /// # Errors
    /// [`HostError::HashMismatch`], or [`HostError::Unpinned`] under
    /// [`UnpinnedComponents::Refuse`].
    pub fn verify_pin(
        &self,
        manifest: &ExtensionManifest,
        sha256: &str,
        unpinned: UnpinnedComponents,
    ) -> Result<(), HostError> {
        let id = manifest.id();
        let verdict = self.pins.lock().unwrap_or_else(PoisonError::into_inner).verify(
            &id,
            &manifest.manifest_path,
            &manifest.component_path,
            sha256,
        );
        match verdict {
            Err(HostError::Unpinned { .. }) if unpinned == UnpinnedComponents::Allow => {
                tracing::warn!(extension = %id, sha256, "loading an unpinned component (allow_unpinned)");
                self.audit.record(Some(&id), AuditEvent::unpinned_allowed(&manifest.component_path, sha256));
                Ok(())
            }
            Err(err) => {
                if let Some(event) = AuditEvent::from_host_error(&err) {
                    self.audit.record(Some(&id), event);
                }
                Err(err)
            }
            Ok(()) => Ok(()),
        }
    }
}
