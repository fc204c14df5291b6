//! Opening one of the state directory's redb files (the health history, the workflow journal)
//! when another process may hold it: redb locks the file, so a second opener retries every
//! [`OPEN_RETRY_MS`] until the holder lets go or the caller's wait is over. Each store maps the
//! two outcomes to its own typed error.

use std::path::Path;
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError};

/// Pause between attempts to open a store another process holds, in milliseconds.
pub const OPEN_RETRY_MS: u64 = 25;

/// Why a store did not open.
#[derive(Debug)]
pub enum StoreOpenError {
    /// Another process still held it when the wait was over.
    Busy,
    /// It could not be created or is not a redb file.
    Failed(DatabaseError),
}

/// Open or create the redb file at `path`, waiting at most `wait` for another holder.
///
/// # Errors
/// [`StoreOpenError::Busy`] when it stayed held; [`StoreOpenError::Failed`] otherwise.
pub fn open_waiting(path: &Path, wait: Duration) -> Result<Database, StoreOpenError> {
    let started = Instant::now();
    loop {
        match Database::create(path) {
            Ok(db) => return Ok(db),
            Err(DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(OPEN_RETRY_MS));
            }
            Err(DatabaseError::DatabaseAlreadyOpen) => return Err(StoreOpenError::Busy),
            Err(error) => return Err(StoreOpenError::Failed(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_store_is_busy_after_the_wait_and_opens_once_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let held = open_waiting(&path, Duration::ZERO).unwrap();
        assert!(matches!(open_waiting(&path, Duration::from_millis(60)), Err(StoreOpenError::Busy)));
        drop(held);
        assert!(open_waiting(&path, Duration::ZERO).is_ok());
        std::fs::write(dir.path().join("bad.redb"), b"not a store").unwrap();
        let bad = open_waiting(&dir.path().join("bad.redb"), Duration::ZERO);
        assert!(matches!(bad, Err(StoreOpenError::Failed(_))), "{bad:?}");
    }
}
