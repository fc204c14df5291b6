//! What durability costs: the same three-step chain (`text-stats` ×3 on ~64 KiB of text, about
//! a millisecond of guest work per step) run as a prepared workflow without a journal and with
//! every step checkpointed in a real journal (`journal.redb` in a temporary state directory,
//! each completion an fsync'd commit), interleaved in small batches after a warm-up; and the
//! fsync'd checkpoint alone (one `completed` record commit), timed on its own, beside a raw
//! 4 KiB write + fsync of a plain file on the same disk (the floor no journal can go under).
//! Targets: durable ≤ 1.5× the ephemeral run, and a median checkpoint ≤ 0.5 ms.

use std::path::Path;
use std::time::Instant;

use super::embedded_workflow::{prepare, run_once};
use super::stats::Samples;
use super::{BenchError, BenchOptions, Row, Scenario, Target, ratio, tokio_runtime};
use symphony_host::config::PlatformConfig;
use symphony_host::workflow::journal::record::{
    CompletedAs, CompletedRecord, JournalStatus, RunRecord, StoredPayload,
};
use symphony_host::workflow::{
    DurableOptions, DurableOutcome, Journal, PreparedWorkflow, RunControl, RunOptions, RunStatus,
};
use symphony_host::{Platform, Runtime};
use symphony_types::payload::Payload;

/// Target: durable run ≤ this × the run without a journal.
pub const TARGET_DURABLE_RATIO: f64 = 1.5;
/// Target: median fsync'd checkpoint, in microseconds.
pub const TARGET_CHECKPOINT_US: f64 = 500.0;
/// Runs per batch before switching way.
const BATCH_RUNS: usize = 10;

const CHAIN: &str = r#"name = "bench-durable"
[[steps]]
id = "a"
extension = "text-stats"

[[steps]]
id = "b"
extension = "text-stats"
needs = ["a"]
input = "$input"

[[steps]]
id = "c"
extension = "text-stats"
needs = ["b"]
input = "$input"
"#;

fn journal_error(e: impl std::fmt::Display) -> BenchError {
    BenchError::Workflow { workflow: "bench-durable".to_owned(), reason: e.to_string() }
}

async fn run_durable(
    platform: &Platform,
    journal: &Journal,
    workflow: &PreparedWorkflow,
    input: &Payload,
) -> Result<(), BenchError> {
    let control = RunControl::new(workflow);
    let outcome = workflow
        .run_durable(
            platform.conductor(),
            journal,
            input.clone(),
            &control,
            RunOptions::default(),
            &DurableOptions::default(),
        )
        .await
        .map_err(journal_error)?;
    match outcome {
        DurableOutcome::Ran(result) if result.status == RunStatus::Succeeded => Ok(()),
        other => Err(journal_error(format!("durable run did not succeed: {other:?}"))),
    }
}

/// Per sample, one unsynced `started` commit and one fsync'd `completed` commit, on a run of
/// its own: (started, completed).
fn checkpoints(journal: &Journal, count: usize) -> Result<(Samples, Samples), BenchError> {
    let run = RunRecord {
        run_id: "checkpoint-bench".to_owned(),
        workflow: "bench-durable".to_owned(),
        version: "0.0.0".to_owned(),
        definition_sha256: String::new(),
        step_count: u32::try_from(count).unwrap_or(u32::MAX),
        idempotency_key: None,
        status: JournalStatus::Running,
        created_ms: 0,
        updated_ms: 0,
        resumes: 0,
        output_dir: None,
        owner: None,
        staged_inode: None,
        result_json: None,
    };
    let input = StoredPayload { content_type: "application/json".to_owned(), bytes: b"{}".to_vec() };
    journal.begin_run(&run, &input, false).map_err(journal_error)?;
    let output = br#"{"words":9120,"lines":640,"chars":65536,"bytes":65536}"#.to_vec();
    let mut samples = Samples::with_capacity(count);
    let mut starts = Samples::with_capacity(count);
    for step in 0..count {
        let record = CompletedRecord {
            completed_as: CompletedAs::Ok,
            output_sha256: "0".repeat(64),
            output: StoredPayload { content_type: "application/json".to_owned(), bytes: output.clone() },
            served_by: "text-stats@1.0.0".to_owned(),
            attempts: 1,
            fallback: false,
            degraded: false,
            usage: Default::default(),
            wall_ms: 1,
            completed_ms: 0,
        };
        let id = format!("s{step}");
        let started = Instant::now();
        journal.record_started(&run.run_id, &id, &record.output_sha256, false).map_err(journal_error)?;
        starts.push(started.elapsed());
        let started = Instant::now();
        journal.record_completed(&run.run_id, &id, &record).map_err(journal_error)?;
        samples.push(started.elapsed());
    }
    Ok((starts, samples))
}

/// Run the scenario.
///
/// # Errors
/// [`BenchError`] when the platform, the journal or a run fails.
pub fn run(config: &PlatformConfig, options: BenchOptions) -> Result<Vec<Row>, BenchError> {
    let tokio = tokio_runtime(0)?;
    let _entered = tokio.enter();
    let runtime = Runtime::new(config.clone())?.allow_unpinned();
    let platform = Platform::from_runtime(runtime).map_err(journal_error)?;
    let workflow = prepare(CHAIN, platform.runtime(), platform.conductor(), platform.config())?;
    let state =
        tempfile::tempdir().map_err(|source| BenchError::Io { what: "state directory".into(), source })?;
    let journal = Journal::open(&Journal::default_path(state.path())).map_err(journal_error)?;
    let input = super::per_call::Workload::TextStats.input();
    let runs = options.pick(200, 1_000);

    let warmup = (runs / 10).clamp(5, 50);
    for _ in 0..warmup {
        tokio.block_on(run_once(platform.conductor(), &workflow, input.clone()))?;
        tokio.block_on(run_durable(&platform, &journal, &workflow, &input))?;
    }
    let (mut ephemeral, mut durable) = (Samples::with_capacity(runs), Samples::with_capacity(runs));
    let mut round = 0;
    while durable.len() < runs {
        for way in [round % 2, (round + 1) % 2] {
            for _ in 0..BATCH_RUNS.min(runs - durable.len().min(ephemeral.len())) {
                let started = Instant::now();
                if way == 0 {
                    tokio.block_on(run_once(platform.conductor(), &workflow, input.clone()))?;
                    ephemeral.push(started.elapsed());
                } else {
                    tokio.block_on(run_durable(&platform, &journal, &workflow, &input))?;
                    durable.push(started.elapsed());
                }
            }
        }
        round += 1;
    }
    let count = options.pick(500, 2_000);
    let (starts, commits) = checkpoints(&journal, count)?;
    let fsyncs = raw_fsyncs(state.path(), count)?;
    let mut rows = rows(&ephemeral, &durable, &commits, &fsyncs, state.path(), input.bytes.len());
    let s = starts.summary();
    let mut started =
        Row::new(Scenario::WorkflowJournal, "one started record (unsynced)", "us", s.median_ns / 1_000.0);
    started.p99 = Some(s.p99_ns / 1_000.0);
    started.samples = s.count;
    started.note =
        Some("a `started` record in a Durability::None write transaction (idempotent steps)".to_owned());
    rows.insert(3, started);
    Ok(rows)
}

/// The disk's floor: a 4 KiB write and `fsync` of a plain file beside the journal, per sample.
fn raw_fsyncs(dir: &Path, count: usize) -> Result<Samples, BenchError> {
    use std::io::{Seek, SeekFrom, Write};
    let io = |source| BenchError::Io { what: "fsync probe".into(), source };
    let mut file = std::fs::File::create(dir.join("fsync-probe")).map_err(io)?;
    let block = [0x5a_u8; 4096];
    let mut samples = Samples::with_capacity(count);
    for i in 0..count {
        file.seek(SeekFrom::Start((i % 16) as u64 * 4096)).map_err(io)?;
        file.write_all(&block).map_err(io)?;
        let started = Instant::now();
        file.sync_all().map_err(io)?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

fn rows(
    ephemeral: &Samples,
    durable: &Samples,
    commits: &Samples,
    fsyncs: &Samples,
    state: &Path,
    input_bytes: usize,
) -> Vec<Row> {
    let (e, d, c, f) = (ephemeral.summary(), durable.summary(), commits.summary(), fsyncs.summary());
    let mut base = Row::new(Scenario::WorkflowJournal, "no journal", "us", e.median_ns / 1_000.0);
    base.p99 = Some(e.p99_ns / 1_000.0);
    base.samples = e.count;
    base.note = Some(format!("text-stats x3 on {input_bytes} B each: prepared run, nothing recorded"));
    let mut journaled =
        Row::new(Scenario::WorkflowJournal, "journal (fsync'd checkpoints)", "us", d.median_ns / 1_000.0);
    journaled.p99 = Some(d.p99_ns / 1_000.0);
    journaled.samples = d.count;
    journaled.ratio = ratio(d.median_ns, e.median_ns);
    journaled.baseline = Some("no journal".to_owned());
    journaled.target =
        Some(Target::at_most("ratio", TARGET_DURABLE_RATIO, journaled.ratio.unwrap_or(f64::INFINITY)));
    let per_step_us = (d.median_ns - e.median_ns) / 3.0 / 1_000.0;
    journaled.note = Some(format!(
        "run record and 3 started (unsynced), 3 completed and the final status (4 fsync'd commits); {per_step_us:.0} us per step over no journal; journal at {}",
        state.display()
    ));
    let mut checkpoint =
        Row::new(Scenario::WorkflowJournal, "one checkpoint commit", "us", c.median_ns / 1_000.0);
    checkpoint.p99 = Some(c.p99_ns / 1_000.0);
    checkpoint.samples = c.count;
    checkpoint.target = Some(Target::at_most("median", TARGET_CHECKPOINT_US, c.median_ns / 1_000.0));
    checkpoint.ratio = ratio(c.median_ns, f.median_ns);
    checkpoint.baseline = Some("raw fsync".to_owned());
    checkpoint.note = Some(
        "a `completed` record (~60 B output) in one redb write transaction, Durability::Immediate".to_owned(),
    );
    let mut raw =
        Row::new(Scenario::WorkflowJournal, "raw fsync (the disk's floor)", "us", f.median_ns / 1_000.0);
    raw.p99 = Some(f.p99_ns / 1_000.0);
    raw.samples = f.count;
    raw.note = Some("4 KiB pwrite + fsync of a plain file in the same directory".to_owned());
    vec![base, journaled, checkpoint, raw]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_durable_row_is_a_ratio_to_no_journal_and_checkpoints_carry_their_target() {
        let mut fast = Samples::with_capacity(3);
        let mut slow = Samples::with_capacity(3);
        let mut commit = Samples::with_capacity(3);
        for _ in 0..3 {
            fast.push(Duration::from_micros(1_000));
            slow.push(Duration::from_micros(1_300));
            commit.push(Duration::from_micros(600));
        }
        let rows = rows(&fast, &slow, &commit, &commit, Path::new("/tmp"), 10);
        assert_eq!(rows[1].ratio.map(|r| (r * 10.0).round()), Some(13.0));
        assert!(rows[1].target.is_some_and(|t| t.met), "1.3x is within 1.5x");
        assert!(rows[2].target.is_some_and(|t| !t.met), "600 us misses 500 us");
    }
}
