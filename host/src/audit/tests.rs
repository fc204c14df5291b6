//! Tests of the audit log as a whole: writing through the queue, reopening, concurrent and
//! shared writers, drops, and catching tampering with `verify`.

use std::fs::OpenOptions;
use std::sync::Arc;

use super::*;

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    AuditLog::default_path(dir.path())
}

fn write_records(path: &Path, count: u64) {
    let log = AuditLog::open(path).unwrap();
    for i in 0..count {
        log.record(Some("echo@1.0.0"), AuditEvent::limit_breached("out_of_fuel", 100, 100 + i));
    }
    assert!(log.flush());
    assert_eq!(log.dropped(), 0);
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

fn broken_at(result: Result<VerifyReport, AuditVerifyError>) -> (u64, Option<u64>, ChainBreak) {
    match result {
        Err(AuditVerifyError::Broken { line, seq, reason, .. }) => (line, seq, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn a_clean_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 5);
    let report = verify(&path).unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(report.last_seq, Some(5));
    let last: AuditRecord = serde_json::from_str(&lines(&path)[4]).unwrap();
    assert_eq!(report.last_hash, last.hash);
    assert_eq!(last.extension.as_deref(), Some("echo@1.0.0"));
    assert_eq!(last.parse_event(), Some(AuditEvent::limit_breached("out_of_fuel", 100, 104)));
}

#[test]
fn an_empty_log_verifies_with_the_genesis_hash() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    drop(AuditLog::open(&path).unwrap());
    let report = verify(&path).unwrap();
    assert_eq!(report, VerifyReport { records: 0, last_hash: GENESIS_PREV.to_owned(), last_seq: None });
}

#[test]
fn a_missing_log_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(verify(&log_path(&dir)), Err(AuditVerifyError::Io { .. })));
}

#[test]
fn platform_events_have_a_null_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = AuditLog::open(&path).unwrap();
    log.record(None, AuditEvent::policy_changed("policy.ceilings.fuel", 1, 2));
    assert!(log.flush());
    assert!(lines(&path)[0].contains("\"extension\":null,\"event\":\"policy_changed\""));
}

#[test]
fn flipping_one_byte_names_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 5);
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip a byte inside the extension name of the third record.
    let third = lines(&path)[..2].iter().map(|l| l.len() + 1).sum::<usize>();
    let at = third + lines(&path)[2].find("echo").unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let (line, seq, reason) = broken_at(verify(&path));
    assert_eq!(line, 3);
    assert_eq!(seq, None);
    assert!(matches!(reason, ChainBreak::HashMismatch { .. }), "{reason:?}");
}

#[test]
fn breaking_the_json_makes_the_record_unparsable() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 3);
    let mut all = lines(&path);
    all[1] = all[1].replacen('{', "[", 1);
    std::fs::write(&path, all.join("\n") + "\n").unwrap();
    let (line, _, reason) = broken_at(verify(&path));
    assert_eq!(line, 2);
    assert!(matches!(reason, ChainBreak::Unparsable { .. }), "{reason:?}");
}

#[test]
fn deleting_a_line_is_a_seq_gap_at_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 5);
    let mut all = lines(&path);
    all.remove(1);
    std::fs::write(&path, all.join("\n") + "\n").unwrap();
    let (line, seq, reason) = broken_at(verify(&path));
    assert_eq!((line, seq), (2, Some(3)));
    assert_eq!(reason, ChainBreak::SeqGap { expected: 2, found: 3 });
}

#[test]
fn swapping_two_lines_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 4);
    let mut all = lines(&path);
    all.swap(1, 2);
    std::fs::write(&path, all.join("\n") + "\n").unwrap();
    let (line, seq, reason) = broken_at(verify(&path));
    assert_eq!((line, seq), (2, Some(3)));
    assert_eq!(reason.kind(), "seq_gap");
}

#[test]
fn a_rehashed_record_with_a_forged_prev_is_a_prev_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 3);
    let mut all = lines(&path);
    // Re-encode record 2 correctly hashed but chained to the wrong predecessor.
    let original: AuditRecord = serde_json::from_str(&all[1]).unwrap();
    let mut head = record::ChainHead { next_seq: 2, prev: "ab".repeat(32) };
    let event = original.parse_event().unwrap();
    let forged =
        record::encode_line(&mut head, original.ts_ms, original.extension.as_deref(), &event).unwrap();
    all[1] = String::from_utf8(forged).unwrap().trim_end().to_owned();
    std::fs::write(&path, all.join("\n") + "\n").unwrap();
    let (line, seq, reason) = broken_at(verify(&path));
    assert_eq!((line, seq), (2, Some(2)));
    assert!(matches!(reason, ChainBreak::PrevMismatch { .. }), "{reason:?}");
}

#[test]
fn reopening_continues_seq_and_prev() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 3);
    write_records(&path, 2);
    let report = verify(&path).unwrap();
    assert_eq!((report.records, report.last_seq), (5, Some(5)));
}

#[test]
fn dropping_the_last_handle_writes_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = AuditLog::open(&path).unwrap();
    let clone = log.clone();
    for _ in 0..50 {
        clone.record(Some("a@1.0.0"), AuditEvent::quarantined("test"));
    }
    drop(clone);
    drop(log);
    assert_eq!(verify(&path).unwrap().records, 50);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let options = AuditOptions::default().queue_records(4).batch_records(1);
    let log = AuditLog::open_with(&path, options).unwrap();
    // Hold the file lock, as another process would: the writer stalls on its first batch.
    let blocker = OpenOptions::new().append(true).open(&path).unwrap();
    blocker.lock().unwrap();
    for i in 0..100 {
        log.record(None, AuditEvent::circuit_opened(i, 1_000));
    }
    // At most one record in the writer's hands plus a full queue were accepted.
    assert!(log.dropped() >= 95, "dropped {}", log.dropped());
    blocker.unlock().unwrap();
    assert!(log.flush());
    assert_eq!(log.written() + log.dropped(), 100);
    assert_eq!(verify(&path).unwrap().records, log.written());
}

#[cfg(target_os = "linux")]
#[test]
fn a_failing_disk_drops_and_counts_without_blocking() {
    let log = AuditLog::open("/dev/full").unwrap();
    for _ in 0..10 {
        log.record(None, AuditEvent::quarantined("disk"));
    }
    assert!(log.flush());
    assert_eq!((log.written(), log.dropped()), (0, 10));
}

#[test]
fn an_oversized_record_is_dropped_and_the_chain_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = AuditLog::open(&path).unwrap();
    log.record(None, AuditEvent::quarantined("ok"));
    log.record(None, AuditEvent::quarantined("x".repeat(MAX_AUDIT_RECORD_BYTES)));
    log.record(None, AuditEvent::quarantined("ok again"));
    assert!(log.flush());
    assert_eq!((log.written(), log.dropped()), (2, 1));
    assert_eq!(verify(&path).unwrap().records, 2);
}

#[test]
fn writes_from_many_threads_form_one_valid_chain() {
    const THREADS: u64 = 8;
    const EACH: u64 = 250;
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let log = AuditLog::open(&path).unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let id = format!("ext-{t}@1.0.0");
                for i in 0..EACH {
                    log.record(Some(&id), AuditEvent::capability_denied("http", &format!("https://h/{i}")));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert!(log.flush());
    assert_eq!(log.dropped(), 0);
    assert_eq!(verify(&path).unwrap().records, THREADS * EACH);
}

#[test]
fn two_writers_on_one_file_share_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    // Two handles with their own file descriptions behave like two processes.
    let first = AuditLog::open(&path).unwrap();
    let second = AuditLog::open(&path).unwrap();
    for round in 0..20 {
        let log = if round % 2 == 0 { &first } else { &second };
        log.record(None, AuditEvent::circuit_closed(round));
        assert!(log.flush());
    }
    let report = verify(&path).unwrap();
    assert_eq!((report.records, report.last_seq), (20, Some(20)));
}

#[test]
fn a_cut_short_last_line_restarts_the_chain_and_keeps_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 3);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, b"{\"schema\":1,\"seq\":4,\"ts_").unwrap();
    drop(file);

    write_records(&path, 2);
    let all = lines(&path);
    assert_eq!(all.len(), 7, "3 records, the fragment, chain_restarted, 2 records");
    assert!(all[3].starts_with("{\"schema\":1,\"seq\":4,\"ts_"));
    let restart: AuditRecord = serde_json::from_str(&all[4]).unwrap();
    assert_eq!((restart.seq, restart.prev.as_str()), (1, GENESIS_PREV));
    assert!(matches!(restart.parse_event(), Some(AuditEvent::ChainRestarted { broken_line: 4, .. })));

    let (line, _, reason) = broken_at(verify(&path));
    assert_eq!(line, 4);
    assert!(matches!(reason, ChainBreak::Unparsable { .. }));
}

#[test]
fn an_edited_last_record_restarts_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 2);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace("\"value\":101", "\"value\":999");
    std::fs::write(&path, edited).unwrap();
    write_records(&path, 1);
    let restart: AuditRecord = serde_json::from_str(&lines(&path)[2]).unwrap();
    assert_eq!(restart.event, "chain_restarted");
    assert_eq!(restart.details["broken_line"], 2);
    assert_eq!(broken_at(verify(&path)).0, 2);
}

#[test]
fn a_complete_last_record_missing_its_newline_is_continued() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 2);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end()).unwrap();
    assert_eq!(verify(&path).unwrap().records, 2);
    write_records(&path, 2);
    assert_eq!(verify(&path).unwrap().records, 4);
}

#[test]
fn the_log_is_send_sync_and_cheap_to_share() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<AuditLog>();
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(log_path(&dir)).unwrap());
    assert_eq!(log.path(), log_path(&dir));
}

#[test]
fn verify_each_hands_out_records_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_records(&path, 4);
    let mut seqs = Vec::new();
    verify_each(&path, |r| seqs.push(r.seq)).unwrap();
    assert_eq!(seqs, [1, 2, 3, 4]);
}
