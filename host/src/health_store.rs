//! [`HealthStore`]: the health monitor's [`HistoryStore`], extension histories persisted in the state directory (`health.redb`), so
//! baselines, anomalies and quarantines survive CLI runs and host restarts.
//!
//! redb gives crash-safe transactions: a write either lands whole or not at all. Each record
//! also carries a schema version and a sha256 of its body, so a record from a future schema or
//! damaged on disk is skipped (and reported) rather than trusted. Size is bounded by the
//! monitor: a fixed ring of calls and anomalies per `extension@version`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use symphony_conductor::anomaly::ExtensionHistory;
use symphony_conductor::anomaly::history_store::{
    HealthStoreError, HistoryStore, LoadedHistories, SkippedRecord,
};
use symphony_types::sealed_record::{RecordDamage, seal, unseal};
use symphony_types::store_open::{StoreOpenError, open_waiting};

/// File name under the state directory.
pub const HEALTH_STORE_FILE: &str = "health.redb";
/// Schema of the stored records. 2: calls remember the time the guest ran (`guest_us`)
/// instead of the caller's wall time; schema 1 baselines measured the host's queueing too, so
/// they are skipped and the extension starts afresh.
pub const HEALTH_SCHEMA: u16 = 2;
/// How long opening waits for another process that holds the store, in milliseconds: one-shot
/// commands hold it for the length of a call, so concurrent ones take turns.
const OPEN_WAIT_MS: u64 = 30_000;

const HISTORIES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("histories");

/// Histories by `name@version`.
#[derive(Debug)]
pub struct HealthStore {
    path: PathBuf,
    db: Database,
}

impl HealthStore {
    /// The store's path under `state_dir`.
    #[must_use]
    pub fn default_path(state_dir: &Path) -> PathBuf {
        state_dir.join(HEALTH_STORE_FILE)
    }

    /// Open or create the store at `path`, waiting briefly if another process holds it.
    ///
    /// # Errors
    /// [`HealthStoreError::Busy`] when another process keeps it; [`HealthStoreError::Open`]
    /// when it cannot be created or is not a store.
    pub fn open(path: &Path) -> Result<Self, HealthStoreError> {
        Self::open_within(path, Duration::from_millis(OPEN_WAIT_MS))
    }

    /// [`open`](Self::open), waiting at most `wait` for another holder.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_within(path: &Path, wait: Duration) -> Result<Self, HealthStoreError> {
        match open_waiting(path, wait) {
            Ok(db) => Ok(Self { path: path.to_path_buf(), db }),
            Err(StoreOpenError::Busy) => Err(HealthStoreError::Busy { path: path.to_path_buf() }),
            Err(StoreOpenError::Failed(e)) => {
                Err(HealthStoreError::Open { path: path.to_path_buf(), reason: e.to_string() })
            }
        }
    }

    /// The store file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl HistoryStore for HealthStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self) -> Result<LoadedHistories, HealthStoreError> {
        let io = |e: &dyn std::fmt::Display| HealthStoreError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let mut histories = BTreeMap::new();
        let mut skipped = Vec::new();
        let read = self.db.begin_read().map_err(|e| io(&e))?;
        let table = match read.open_table(HISTORIES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((histories, skipped)),
            Err(e) => return Err(io(&e)),
        };
        for entry in table.iter().map_err(|e| io(&e))? {
            let (key, value) = entry.map_err(|e| io(&e))?;
            let extension = key.value().to_owned();
            match decode(value.value()) {
                Ok(history) => {
                    histories.insert(extension, history);
                }
                Err(reason) => skipped.push(SkippedRecord { extension, reason }),
            }
        }
        Ok((histories, skipped))
    }

    fn save(&self, histories: &[(&str, &ExtensionHistory)]) -> Result<(), HealthStoreError> {
        let io = |e: &dyn std::fmt::Display| HealthStoreError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let write = self.db.begin_write().map_err(|e| io(&e))?;
        {
            let mut table = write.open_table(HISTORIES).map_err(|e| io(&e))?;
            for &(extension, history) in histories {
                let record = encode(history).map_err(|e| io(&e))?;
                table.insert(extension, record.as_slice()).map_err(|e| io(&e))?;
            }
        }
        write.commit().map_err(|e| io(&e))
    }
}

fn encode(history: &ExtensionHistory) -> Result<Vec<u8>, serde_json::Error> {
    Ok(seal(HEALTH_SCHEMA, &serde_json::to_vec(history)?))
}

fn decode(record: &[u8]) -> Result<ExtensionHistory, String> {
    let body = unseal(HEALTH_SCHEMA, record).map_err(|damage| match damage {
        RecordDamage::Schema { found, supported } if found < supported => {
            format!("schema {found} is older than the supported {supported}; the baseline starts afresh")
        }
        other => other.to_string(),
    })?;
    serde_json::from_slice(body).map_err(|e| format!("unreadable body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphony_conductor::anomaly::{Sample, Thresholds};

    #[test]
    fn histories_survive_reopening_and_damaged_records_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = HealthStore::default_path(dir.path());
        let mut history = ExtensionHistory::default();
        history.push(Sample { fuel: 7, ..Sample::default() }, None, &Thresholds::default());
        {
            let store = HealthStore::open(&path).unwrap();
            store.save(&[("echo@1.0.0", &history)]).unwrap();
            // A damaged record: valid header length, wrong checksum.
            let write = store.db.begin_write().unwrap();
            {
                let mut table = write.open_table(HISTORIES).unwrap();
                let mut bad = encode(&history).unwrap();
                let last = bad.len() - 2;
                bad[last] ^= 1;
                table.insert("miner@1.0.0", bad.as_slice()).unwrap();
            }
            write.commit().unwrap();
        }
        let store = HealthStore::open(&path).unwrap();
        let (histories, skipped) = store.load().unwrap();
        assert_eq!(histories["echo@1.0.0"].calls, 1);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].extension, "miner@1.0.0");
    }

    #[test]
    fn a_store_held_elsewhere_is_reported_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = HealthStore::default_path(dir.path());
        let _held = Database::create(&path).unwrap();
        let err = HealthStore::open_within(&path, Duration::from_millis(100)).err();
        assert!(matches!(err, Some(HealthStoreError::Busy { .. })), "{err:?}");
    }
}
