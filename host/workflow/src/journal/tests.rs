//! The journal on a real redb file: records survive reopening, a second completion of a step
//! is refused, a flipped byte makes the run corrupt, and pruning keeps unfinished runs.

use super::*;
use crate::journal::record::{CompletedAs, StoredPayload};

fn run(id: &str, key: Option<&str>) -> RunRecord {
    RunRecord {
        run_id: id.to_owned(),
        workflow: "report".into(),
        version: "1.0.0".into(),
        definition_sha256: "ab".repeat(32),
        step_count: 3,
        idempotency_key: key.map(str::to_owned),
        status: JournalStatus::Running,
        created_ms: 1_000,
        updated_ms: 1_000,
        resumes: 0,
        output_dir: None,
        owner: None,
        staged_inode: None,
        result_json: None,
    }
}

fn input() -> StoredPayload {
    StoredPayload { content_type: "application/json".into(), bytes: b"{}".to_vec() }
}

fn completed(output: &str) -> CompletedRecord {
    CompletedRecord {
        completed_as: CompletedAs::Ok,
        output: StoredPayload { content_type: "application/json".into(), bytes: output.as_bytes().to_vec() },
        output_sha256: String::new(),
        served_by: "extract@1.0.0".into(),
        attempts: 1,
        fallback: false,
        degraded: false,
        usage: Default::default(),
        wall_ms: 3,
        completed_ms: 2_000,
    }
}

#[test]
fn records_survive_reopening_and_a_step_completes_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = Journal::default_path(dir.path());
    {
        let journal = Journal::open(&path).unwrap();
        journal.begin_run(&run("r1", Some("key-1")), &input(), false).unwrap();
        assert_eq!(journal.record_started("r1", "extract", "h", false).unwrap(), 1);
        journal.record_completed("r1", "extract", &completed("{\"body\":1}")).unwrap();
        let again = journal.record_completed("r1", "extract", &completed("{\"body\":2}"));
        assert!(
            matches!(again, Err(JournalError::AlreadyCompleted { ref step, .. }) if step == "extract"),
            "{again:?}"
        );
        assert_eq!(journal.record_started("r1", "summarize", "h", true).unwrap(), 1);
        assert_eq!(journal.record_started("r1", "summarize", "h", true).unwrap(), 2);
        let mut finished = run("r1", Some("key-1"));
        finished.status = JournalStatus::Succeeded;
        let closing = journal.update_run_with(&finished, &[("extract".to_owned(), completed("{}"))]);
        assert!(matches!(closing, Err(JournalError::AlreadyCompleted { .. })), "{closing:?}");
        assert_eq!(journal.load("r1").unwrap().run.status, JournalStatus::Running, "refused whole");
        let taken = journal.begin_run(&run("r2", Some("key-1")), &input(), false);
        assert!(
            matches!(taken, Err(JournalError::KeyTaken { ref run_id, .. }) if run_id == "r1"),
            "{taken:?}"
        );
    }
    let journal = Journal::open(&path).unwrap();
    let loaded = journal.load("r1").unwrap();
    assert_eq!(loaded.completed.len(), 1);
    assert_eq!(loaded.completed[0].1.output.bytes, b"{\"body\":1}", "the first completion stands");
    assert_eq!(loaded.started.iter().find(|(s, _)| s == "summarize").map(|(_, r)| r.attempt), Some(2));
    assert_eq!(journal.run_for_key("key-1").unwrap().as_deref(), Some("r1"));
    assert!(matches!(journal.load("nope"), Err(JournalError::UnknownRun { .. })));
    let runs = journal.runs().unwrap();
    assert_eq!((runs.len(), runs[0].steps_done, runs[0].status), (1, 1, Some(JournalStatus::Running)));
}

#[test]
fn a_flipped_byte_makes_the_run_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&Journal::default_path(dir.path())).unwrap();
    journal.begin_run(&run("r1", None), &input(), false).unwrap();
    journal.record_completed("r1", "extract", &completed("{\"body\":1}")).unwrap();
    let write = journal.db.begin_write().unwrap();
    {
        let mut table = write.open_table(COMPLETED).unwrap();
        let mut bytes = table.get(("r1", "extract")).unwrap().unwrap().value().to_vec();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x20;
        table.insert(("r1", "extract"), bytes.as_slice()).unwrap();
    }
    write.commit().unwrap();
    let err = journal.load("r1");
    assert!(
        matches!(err, Err(JournalError::Corrupt { ref record, damage: RecordError::Damaged(_), .. }) if record == "completed extract"),
        "{err:?}"
    );
    let runs = journal.runs().unwrap();
    assert!(runs[0].status.is_none() && runs[0].corrupt.is_some(), "listed as corrupt: {runs:?}");
}

#[test]
fn pruning_removes_old_and_surplus_finished_runs_only() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&Journal::default_path(dir.path())).unwrap();
    for (id, status, at) in [
        ("old", JournalStatus::Succeeded, 1_000),
        ("a", JournalStatus::Failed, 90_000),
        ("b", JournalStatus::Succeeded, 95_000),
        ("open", JournalStatus::Running, 1_000),
        ("stopped", JournalStatus::Cancelled, 1_000),
    ] {
        let mut record = run(id, Some(id));
        record.status = status;
        record.updated_ms = at;
        journal.begin_run(&record, &input(), false).unwrap();
        journal.record_completed(id, "extract", &completed("1")).unwrap();
    }
    let removed = journal.prune(Retention { max_age_ms: 50_000, max_runs: 1 }, 100_000).unwrap();
    let mut removed = removed;
    removed.sort();
    assert_eq!(removed, ["a", "old"], "too old, and beyond the newest one");
    let left: Vec<String> = journal.runs().unwrap().into_iter().map(|r| r.run_id).collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(journal.run_for_key("old").unwrap().is_none(), "its key went with it");
    assert!(journal.load("old").is_err());
    assert!(journal.load("stopped").is_ok(), "a resumable run is never pruned");
}
