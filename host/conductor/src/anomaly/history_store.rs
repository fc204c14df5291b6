//! Where the health monitor remembers extension histories across restarts: the
//! [`HistoryStore`] trait, its errors, and [`MemoryHistoryStore`] (in memory only, shared by
//! clones: for embedders that keep no state directory, and for tests). The sandbox host
//! implements it over redb in its state directory.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::history::ExtensionHistory;

/// Why the health store could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthStoreError {
    /// The database could not be opened or created.
    #[error("cannot open health store {}: {reason}", path.display())]
    Open {
        /// The store file.
        path: PathBuf,
        /// The store's explanation.
        reason: String,
    },
    /// Another process holds the store and did not let go in time.
    #[error("health store {} is in use by another process", path.display())]
    Busy {
        /// The store file.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("health store {}: {reason}", path.display())]
    Io {
        /// The store file.
        path: PathBuf,
        /// The store's explanation.
        reason: String,
    },
}

/// A record that was skipped on load, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// `name@version`.
    pub extension: String,
    /// Why it was not trusted.
    pub reason: String,
}

/// Trusted histories by `name@version`, and the records that were skipped.
pub type LoadedHistories = (BTreeMap<String, ExtensionHistory>, Vec<SkippedRecord>);

/// Durable memory of extension histories. Implementations must make each `save` all or
/// nothing: a crash leaves either the old or the new histories, never a mix.
pub trait HistoryStore: Send + Sync + fmt::Debug {
    /// Where the store lives, for messages (a path, a bucket).
    fn location(&self) -> String;

    /// Every trusted history, plus the records that were skipped (unknown schema, damaged).
    ///
    /// # Errors
    /// [`HealthStoreError`] when the store cannot be read.
    fn load(&self) -> Result<LoadedHistories, HealthStoreError>;

    /// Write `histories` in one durable transaction.
    ///
    /// # Errors
    /// [`HealthStoreError`] when the transaction fails (nothing is written then).
    fn save(&self, histories: &[(&str, &ExtensionHistory)]) -> Result<(), HealthStoreError>;
}

/// Histories kept in memory only; clones share them, so a monitor built again on a clone sees
/// what the previous one saved (a restart within one process).
#[derive(Debug, Clone, Default)]
pub struct MemoryHistoryStore {
    histories: Arc<Mutex<BTreeMap<String, ExtensionHistory>>>,
}

impl HistoryStore for MemoryHistoryStore {
    fn location(&self) -> String {
        "memory".to_owned()
    }

    fn load(&self) -> Result<LoadedHistories, HealthStoreError> {
        Ok((self.histories.lock().unwrap_or_else(PoisonError::into_inner).clone(), Vec::new()))
    }

    fn save(&self, histories: &[(&str, &ExtensionHistory)]) -> Result<(), HealthStoreError> {
        let mut kept = self.histories.lock().unwrap_or_else(PoisonError::into_inner);
        for (extension, history) in histories {
            kept.insert((*extension).to_owned(), (*history).clone());
        }
        Ok(())
    }
}
