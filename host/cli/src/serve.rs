//! `symphony serve [--listen ADDR]`: one long-running process holding one [`Platform`], so
//! breakers, baselines and quarantines are live across every caller. A JSON API under `/v1`
//! (see [`routes`]), every error in one shape ([`api_error`]) with the status of its kind
//! ([`http_status`]), Prometheus metrics at `/metrics` ([`metrics_route`]).
//!
//! Bad input never reaches an extension: unknown routes, names that are not `name` or
//! `name@version`, bodies over `--max-body-bytes` (413) or slower than `--body-timeout-ms`
//! (408) are refused first. With `[[tenants]]` every request is authenticated and held to its
//! tenant's allow-list and quotas ([`tenant_gate`]); without, serve listens on loopback only. SIGTERM or
//! SIGINT stop it gracefully: `/readyz` turns 503, new connections are refused, in-flight calls
//! get `--drain-ms` to finish, the health history is flushed, and so are the spans still queued
//! for the trace collector (`[telemetry]`, within its export timeout). Every request has a span
//! ([`request_span`]), parent of the conductor's attempts and their sandbox calls.
//!
//! Prints `listening on http://ADDR` on stdout once it accepts connections (with `--listen
//! 127.0.0.1:0`, the port the system chose).

pub(crate) mod api_error;
pub(crate) mod dashboard;
pub(crate) mod events;
pub(crate) mod http_status;
pub(crate) mod metrics_route;
pub(crate) mod request_span;
pub(crate) mod routes;
pub(crate) mod runs;
pub(crate) mod tenant_gate;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::EXIT_UNUSABLE;
use routes::{AppState, RequestLimits};
use symphony_host::Platform;
use symphony_host::config::PlatformConfig;
use symphony_host::telemetry::Telemetry;

/// Where serve listens by default.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
/// Largest request body by default, in bytes (1 MiB).
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Time a request body may take to arrive by default, in milliseconds.
pub(crate) const DEFAULT_BODY_TIMEOUT_MS: u64 = 10_000;
/// How often each tenant's usage is written to the audit log (and once more at shutdown).
const USAGE_AUDIT_PERIOD: Duration = Duration::from_secs(60);
/// Time in-flight requests get after SIGTERM by default, in milliseconds.
pub(crate) const DEFAULT_DRAIN_MS: u64 = 10_000;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (loopback only until tenants are configured).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Time a request body may take to arrive, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_BODY_TIMEOUT_MS)]
    body_timeout_ms: u64,
    /// Time in-flight requests get to finish after SIGTERM/SIGINT, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_DRAIN_MS)]
    drain_ms: u64,
}

fn unusable(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_UNUSABLE)
}

pub(crate) async fn run(
    config: PlatformConfig,
    state_dir: &Path,
    args: ServeArgs,
    telemetry: Telemetry,
) -> ExitCode {
    if !args.listen.ip().is_loopback() && config.tenants.is_empty() {
        return unusable(&format!(
            "refusing to listen on {}: without [[tenants]] (API keys) serve listens on loopback only",
            args.listen
        ));
    }
    if args.max_body_bytes == 0 || args.body_timeout_ms == 0 {
        return unusable("--max-body-bytes and --body-timeout-ms must be greater than 0");
    }
    let platform = match Platform::open(config, state_dir) {
        Ok(platform) => platform,
        Err(e) => return unusable(&e.to_string()),
    };
    let metrics = match metrics_route::install() {
        Ok(handle) => handle,
        Err(e) => return unusable(&format!("cannot start the metrics recorder: {e}")),
    };
    let limits = RequestLimits { max_body_bytes: args.max_body_bytes, body_timeout_ms: args.body_timeout_ms };
    // Held for the server's lifetime: its runs are durable, and no other process races it.
    let journal = match platform.open_journal() {
        Ok(journal) => Some(journal),
        Err(e) => return unusable(&format!("cannot open the workflow journal: {e}")),
    };
    let state = Arc::new(AppState::new(platform, metrics, limits, journal, telemetry));
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => return unusable(&format!("cannot listen on {}: {e}", args.listen)),
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => return unusable(&format!("cannot read the listening address: {e}")),
    }
    let _ = std::io::stdout().flush();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, routes::router(Arc::clone(&state))).with_graceful_shutdown({
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    });
    let mut serving = tokio::spawn(async move { server.await });
    let usage =
        tokio::spawn(tenant_gate::TenantGate::audit_usage_every(Arc::clone(&state), USAGE_AUDIT_PERIOD));
    let outcome = tokio::select! {
        joined = &mut serving => Some(joined),
        () = shutdown_signal() => None,
    };
    let served = match outcome {
        Some(joined) => joined,
        None => {
            eprintln!("stopping: draining in-flight requests for up to {} ms", args.drain_ms);
            state.drain();
            let _ = stop_tx.send(true);
            // Running workflows are cancelled, so the journal holds them resumable.
            let runs = state.runs().cancel_all();
            let _ = tokio::time::timeout(Duration::from_millis(args.drain_ms), futures_join(runs)).await;
            match tokio::time::timeout(Duration::from_millis(args.drain_ms), &mut serving).await {
                Ok(joined) => joined,
                Err(_) => {
                    eprintln!("warning: requests still in flight after {} ms were cut off", args.drain_ms);
                    serving.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    usage.abort();
    state.gate().audit_usage();
    if let Err(e) = state.platform().flush() {
        eprintln!("warning: {e}");
    }
    // The last spans, within the export timeout: a collector that is down never holds the exit.
    if let Err(e) = state.telemetry().shutdown() {
        eprintln!("warning: {e}");
    }
    match served {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => unusable(&format!("the server stopped: {e}")),
        Err(e) => unusable(&format!("the server task failed: {e}")),
    }
}

/// Every task of `tasks`, done.
async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
