//! The `symphony` binary: argument parsing and dispatch. Each subcommand lives in its own file
//! beside this one; exit codes are 0 on success, 1 when the thing asked for failed (a call, a check),
//! 2 when the command could not run (bad arguments, config, missing extension). The process's
//! `tracing` subscriber is set up here: warnings on stderr, and every span of Symphony's crates
//! to an OTLP collector when the config's `[telemetry]` names one (flushed before exit).

mod audit;
mod bench;
mod build;
mod build_progress;
mod check;
mod command_error;
mod demo;
mod demo_conductor;
mod demo_durable;
mod demo_health;
mod demo_workflow;
mod display;
mod health;
mod new;
mod pin;
mod run;
mod scaffold;
mod serve;
mod served;
mod table;
mod workflow;
mod workflow_progress;
mod workflow_runs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_host::state::{DEFAULT_STATE_DIR, StateDir};
use symphony_host::telemetry::Telemetry;
use tracing_subscriber::Layer as _;

/// Exit code when the command could not do its job at all.
const EXIT_UNUSABLE: u8 = 2;

/// Symphony: run untrusted WebAssembly extensions inside hard, typed limits.
#[derive(Debug, Parser)]
#[command(name = "symphony", version, about)]
struct Cli {
    /// Platform config file (default: ./symphony.toml if present, else embedded defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where Symphony keeps its state.
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build extension crates into components (default: the configured extension directories).
    Build {
        /// Extension crates, or directories of them.
        dirs: Vec<PathBuf>,
    },
    /// Call an extension once in a fresh sandbox.
    Run(run::RunArgs),
    /// Validate the config, every manifest and every component; list problems with file:line.
    Check {
        /// Check only this extension: its crate, a directory holding extension.toml, or the manifest.
        path: Option<PathBuf>,
    },
    /// Create an extension crate: Cargo.toml, extension.toml, src/lib.rs and a harness test.
    New(new::NewArgs),
    /// Build the samples and run well-behaved and hostile ones side by side.
    Demo,
    /// Report every extension's effective limits and capabilities (or verify the audit log).
    Audit {
        #[command(subcommand)]
        action: Option<AuditAction>,
        /// Print a JSON array, one object per extension.
        #[arg(long)]
        json: bool,
    },
    /// Every extension's health: status, breaker, baselines and recent anomalies.
    Health {
        #[command(subcommand)]
        action: Option<HealthAction>,
        /// Print a JSON array, one object per extension.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Measure what isolation costs: raw wasmtime vs sandbox vs conductor, and more, as ratios.
    Bench(bench::BenchArgs),
    /// Check, run and list workflows: chains of extensions with data contracts between steps.
    Workflow {
        #[command(subcommand)]
        action: workflow::WorkflowAction,
    },
    /// Serve the platform over HTTP: invoke extensions, health, readiness (one live platform).
    Serve(serve::ServeArgs),
    /// Trust a component as it is now: record its sha256 as the pin for its name@version.
    Pin {
        /// A manifest path, a directory holding one, or an extension name.
        extension: String,
    },
}

#[derive(Debug, Subcommand)]
enum HealthAction {
    /// Lift an extension's quarantine (audited) and judge it afresh from its next calls.
    Reset {
        /// `name@version`, a name, or a manifest path.
        extension: String,
        /// Who or why, recorded in the audit log.
        #[arg(long, default_value = "operator reset")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Walk the audit log's hash chain; report the first broken record; non-zero on any break.
    Verify,
}

/// Parse the process arguments and run the command.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = if matches!(cli.command, Command::Demo) { "error" } else { "warn" };
    if let Command::New(args) = &cli.command {
        init_tracing(default_filter, &Telemetry::off());
        return new::run(args);
    }
    // Read before the subscriber is installed: `[telemetry]` decides whether spans are exported.
    let config = match PlatformConfig::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    // Best-effort: traces that cannot start never stop the command.
    let telemetry = Telemetry::start(&config.telemetry).unwrap_or_else(|e| {
        eprintln!("warning: traces are not exported: {e}");
        Telemetry::off()
    });
    init_tracing(default_filter, &telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    let code = runtime.block_on(dispatch(cli, config, telemetry.clone()));
    // The spans of the command's last moments, sent within the export timeout.
    if let Err(e) = telemetry.shutdown() {
        eprintln!("warning: {e}");
    }
    code
}

/// Warnings (errors for the demo, or `RUST_LOG`) on stderr; every span of Symphony's crates to
/// the collector when `telemetry` exports, each layer with its own filter.
fn init_tracing(default_filter: &str, telemetry: &Telemetry) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The demo reports anomalies in its own table; elsewhere they are warnings.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour codes only where a person reads them, never in a file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    tracing_subscriber::registry().with(stderr).with(telemetry.layer()).init();
}

async fn dispatch(cli: Cli, config: PlatformConfig, telemetry: Telemetry) -> ExitCode {
    let state_dir = cli.state_dir;
    match cli.command {
        Command::Build { dirs } => build::run(&config, &state_dir, dirs),
        Command::Run(args) => run::run(config, &state_dir, args).await,
        Command::Check { path } => check::run(config, &state_dir, path.as_deref()).await,
        Command::Demo => demo::run(config, &state_dir).await,
        Command::Audit { action: None, json } => audit::report(config, &state_dir, json),
        Command::Audit { action: Some(AuditAction::Verify), .. } => audit::verify(&state_dir),
        Command::Pin { extension } => pin::run(config, &state_dir, &extension),
        Command::Health { action: None, json } => health::report(config, &state_dir, json),
        Command::Health { action: Some(HealthAction::Reset { extension, reason }), json } => {
            health::reset(config, &state_dir, &extension, &reason, json)
        }
        Command::Bench(args) => bench::run(config, &state_dir, args).await,
        Command::Workflow { action } => workflow::run(config, &state_dir, action).await,
        Command::Serve(args) => serve::run(config, &state_dir, args, telemetry).await,
        Command::New(args) => new::run(&args),
    }
}

/// The runtime every command that loads extensions uses: the config's engine plus the state
/// directory (pins, compiled cache, audit log).
fn open_runtime(
    config: PlatformConfig,
    state_dir: &std::path::Path,
) -> Result<Runtime, command_error::CommandError> {
    let state = StateDir::open(state_dir)?;
    Ok(Runtime::new(config)?.with_state(state))
}
