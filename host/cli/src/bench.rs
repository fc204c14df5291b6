//! `symphony bench [--quick] [--json] [--scenario NAME]… [--calls N]`: run the benchmark
//! scenarios of [`symphony_bench`] and print one table (scenario, variant, median, p99, ratio to
//! its baseline, target) or, with `--json`, one object `{"machine":…,"quick":…,"rows":[…]}`.
//!
//! The in-flight memory scenarios (calls, workflow runs) run in child processes of this same
//! binary (hidden flags `--in-flight-child N [--in-flight-scenario NAME]`), one per N, so that
//! no earlier scenario's memory is in their peak.
//!
//! Exit codes: 0 when every scenario was measured, 1 when a measured call or the raw baseline
//! failed (or an in-flight child did), 2 when the benchmark could not run (the engine, a sample
//! that cannot load, the state directory, a file or thread).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;

use super::command_error::CommandError;
use serde_json::json;

use super::{EXIT_UNUSABLE, display};
use symphony_bench::{self as bench, BenchError, BenchOptions, Machine, Report, Row, Scenario, in_flight};
use symphony_host::config::PlatformConfig;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Fewer samples (the whole run takes well under two minutes on two cores).
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Run only these scenarios (repeatable; default: all).
    #[arg(long, value_enum, value_name = "NAME")]
    scenario: Vec<Scenario>,
    /// Samples per variant of the per-call scenarios (overrides the mode's count).
    #[arg(long, value_name = "N")]
    calls: Option<usize>,
    /// Measure N idle in-flight calls (or workflow runs) in this process and print the result
    /// as JSON.
    #[arg(long, value_name = "N", hide = true)]
    in_flight_child: Option<usize>,
    /// Which in-flight scenario `--in-flight-child` measures.
    #[arg(long, value_enum, value_name = "NAME", hide = true, default_value = "in-flight-memory")]
    in_flight_scenario: Scenario,
}

pub(crate) async fn run(config: PlatformConfig, state_dir: &Path, args: BenchArgs) -> ExitCode {
    let config = bench::bench_config(config, None);
    let state_dir = state_dir.to_path_buf();
    // The scenarios build and drive their own tokio runtimes: run them off this one.
    let worker = std::thread::Builder::new()
        .name("symphony-bench".into())
        .spawn(move || measure_all(&config, &state_dir, &args).map(|report| (report, args.json)));
    let joined = match worker {
        Ok(handle) => handle.join(),
        Err(e) => {
            eprintln!("error: cannot start the benchmark thread: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    match joined {
        Ok(Ok((Output::Child(text), _))) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Ok((Output::Report(report), as_json))) => {
            if as_json {
                match serde_json::to_string(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => println!("{}", json!({"status": "unusable", "message": e.to_string()})),
                }
            } else {
                print_table(&report);
            }
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            exit_code(&error)
        }
        Err(_) => {
            eprintln!("error: the benchmark thread panicked");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

/// 1 when what was measured failed, 2 when the measuring could not start.
fn exit_code(error: &CommandError) -> ExitCode {
    match error {
        CommandError::Bench { source: BenchError::CallFailed { .. } | BenchError::Raw { .. }, .. }
        | CommandError::BenchChild { .. } => ExitCode::FAILURE,
        _ => ExitCode::from(EXIT_UNUSABLE),
    }
}

enum Output {
    Report(Report),
    Child(String),
}

fn measure_all(config: &PlatformConfig, state_dir: &Path, args: &BenchArgs) -> Result<Output, CommandError> {
    let options = BenchOptions { quick: args.quick, calls: args.calls };
    if let Some(n) = args.in_flight_child {
        let scenario = args.in_flight_scenario;
        let measured = bench::measure_in_flight(config, scenario, n, options)
            .map_err(|source| CommandError::Bench { scenario: scenario.name(), source })?;
        return Ok(Output::Child(serde_json::to_string(&measured)?));
    }
    let scenarios: Vec<Scenario> = if args.scenario.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        Scenario::ALL.into_iter().filter(|s| args.scenario.contains(s)).collect()
    };
    let mut rows = Vec::new();
    for scenario in scenarios {
        if !args.json {
            eprintln!("running {} …", scenario.name());
        }
        let measured = if scenario.in_child() {
            in_flight_in_children(config, state_dir, scenario, args.quick)
        } else if scenario.needs_server() {
            let exe = std::env::current_exe()
                .map_err(|source| CommandError::Read { path: PathBuf::from("/proc/self/exe"), source })?;
            bench::run_serve_scenario(config, scenario, &exe, state_dir, options)
                .map_err(|source| CommandError::Bench { scenario: scenario.name(), source })
        } else {
            bench::run_scenario(config, scenario, options)
                .map_err(|source| CommandError::Bench { scenario: scenario.name(), source })
        };
        rows.extend(measured?);
    }
    Ok(Output::Report(Report { machine: Machine::detect(), quick: args.quick, rows }))
}

/// One fresh process of this binary per in-flight count of `scenario`.
fn in_flight_in_children(
    config: &PlatformConfig,
    state_dir: &Path,
    scenario: Scenario,
    quick: bool,
) -> Result<Vec<Row>, CommandError> {
    let exe = std::env::current_exe()
        .map_err(|source| CommandError::Read { path: PathBuf::from("/proc/self/exe"), source })?;
    let mut rows = Vec::new();
    for n in in_flight::IN_FLIGHT_COUNTS {
        let mut command = Command::new(&exe);
        if let Some(source) = &config.source {
            command.arg("--config").arg(source);
        }
        command.arg("--state-dir").arg(state_dir).arg("bench").arg("--in-flight-child").arg(n.to_string());
        command.arg("--in-flight-scenario").arg(scenario.name());
        if quick {
            command.arg("--quick");
        }
        let name = scenario.name();
        let output = command.output().map_err(|e| CommandError::BenchChild {
            count: n,
            reason: format!("{name}: cannot run {}: {e}", exe.display()),
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            return Err(CommandError::BenchChild { count: n, reason: format!("{name}: failed: {stderr}") });
        }
        let measured: in_flight::InFlight = serde_json::from_slice(&output.stdout).map_err(|e| {
            CommandError::BenchChild { count: n, reason: format!("{name}: printed no result: {e}") }
        })?;
        rows.push(measured.row());
    }
    Ok(rows)
}

fn print_table(report: &Report) {
    let m = &report.machine;
    let quick = if report.quick { ", quick run" } else { "" };
    println!("{}, {}{quick}", display::plural(m.cores, "core", "cores"), m.cpu_model);
    let header = ["scenario", "variant", "median", "p99", "ratio", "target"];
    println!(
        "{:<20} {:<42} {:>14} {:>14} {:>7}  {}",
        header[0], header[1], header[2], header[3], header[4], header[5]
    );
    for row in &report.rows {
        let p99 = row.p99.map_or_else(String::new, |p| format!("{} {}", figure(p), row.unit));
        let ratio = row.ratio.map_or_else(String::new, |r| format!("{r:.2}"));
        let target = row.target.map_or_else(String::new, |t| {
            format!("{} {} {} {}", t.on, t.bound, t.value, if t.met { "met" } else { "MISSED" })
        });
        println!(
            "{:<20} {:<42} {:>14} {:>14} {:>7}  {}",
            row.scenario.name(),
            row.variant,
            format!("{} {}", figure(row.median), row.unit),
            p99,
            ratio,
            target
        );
        if let Some(note) = &row.note {
            println!("{:<20}   {note}", "");
        }
    }
}

/// Three significant figures or so, never scientific.
fn figure(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}
