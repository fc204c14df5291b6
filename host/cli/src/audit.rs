//! `symphony audit [--json]`: for every registered extension, what it can touch and how much it
//! can consume — declared vs effective limits and declared vs granted capabilities, each with
//! the policy rule that decided it — computed by the same code the sandbox enforces with.
//! `symphony audit verify` walks the tamper-evident audit log.
//!
//! Exit codes: `audit` 0 when every extension is in order, 1 when it found a problem (a manifest
//! it cannot read, a component missing, unreadable or not matching its pin), 2 when it could not
//! run; `audit verify` 0 when the chain is intact (or there is no log yet), 1 when it is broken,
//! 2 when the log cannot be read.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{EXIT_UNUSABLE, display};
use symphony_host::audit::{AuditLog, AuditVerifyError};
use symphony_host::component_info::ComponentInfo;
use symphony_host::config::PlatformConfig;
use symphony_host::state::StateDir;
use symphony_types::capability::CapabilityGrant;
use symphony_types::manifest::ExtensionManifest;
use symphony_types::policy::EffectiveLimits;

/// One extension's entry in the audit report.
#[derive(Debug, Serialize)]
struct AuditEntry {
    name: String,
    version: String,
    manifest: String,
    /// sha256 of the component file, `null` when it is missing.
    sha256: Option<String>,
    /// The sha256 the platform pinned for this name@version, `null` when unpinned.
    pinned_sha256: Option<String>,
    priority: String,
    /// Effective limits in base units (fuel units, bytes, milliseconds, counts).
    limits: Map<String, Value>,
    /// Engine-wide wasm stack, in bytes.
    stack_bytes: u64,
    /// Each limit: declared, effective, and why.
    limit_decisions: EffectiveLimitsView,
    /// What is granted (everything else is denied).
    capabilities: CapabilityGrant,
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct EffectiveLimitsView(Vec<symphony_types::policy::EffectiveLimit>);

fn entry(config: &PlatformConfig, state: Option<&StateDir>, manifest: &ExtensionManifest) -> AuditEntry {
    let limits: EffectiveLimits = config.policy.effective_limits(&manifest.limits);
    let grant = config.capabilities.grant(&manifest.name, &manifest.capabilities);
    let mut problems = Vec::new();
    let sha256 = match std::fs::read(&manifest.component_path) {
        Ok(bytes) => match ComponentInfo::inspect(&manifest.component_path, &bytes) {
            Ok(info) => Some(info.sha256),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        },
        Err(e) => {
            problems.push(format!("{}: {e}", manifest.component_path.display()));
            None
        }
    };
    let pinned_sha256 = state.and_then(|s| s.pinned(&manifest.id()));
    match (&sha256, &pinned_sha256) {
        (Some(actual), Some(pinned)) if actual != pinned => {
            problems.push(format!("hash_mismatch: component is {actual}, pinned {pinned}"));
        }
        (Some(_), None) => {
            problems.push("component_unpinned: run `symphony build` or `symphony pin`".to_owned())
        }
        _ => {}
    }
    let mut limit_map = Map::new();
    for decision in &limits.decisions {
        limit_map.insert(decision.name.as_str().to_owned(), json!(decision.effective));
    }
    AuditEntry {
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        manifest: manifest.manifest_path.display().to_string(),
        sha256,
        pinned_sha256,
        priority: manifest.priority.to_string(),
        limits: limit_map,
        stack_bytes: config.policy.stack_bytes,
        limit_decisions: EffectiveLimitsView(limits.decisions),
        capabilities: grant,
        problems,
    }
}

pub(crate) fn report(config: PlatformConfig, state_dir: &Path, as_json: bool) -> ExitCode {
    let runtime = match super::open_runtime(config, state_dir) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    let mut entries = Vec::new();
    let mut broken = Vec::new();
    for path in runtime.manifest_paths() {
        match ExtensionManifest::load(&path) {
            Ok(manifest) => entries.push(entry(runtime.config(), runtime.state(), &manifest)),
            Err(e) => broken.push(e.to_string()),
        }
    }
    if as_json {
        match serde_json::to_string_pretty(&entries) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_UNUSABLE);
            }
        }
    } else {
        print_human(&entries);
    }
    for problem in &broken {
        eprintln!("problem: {problem}");
    }
    // As `check`: any problem, in a manifest or in what it points at, fails the audit.
    if broken.is_empty() && entries.iter().all(|e| e.problems.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_human(entries: &[AuditEntry]) {
    for e in entries {
        println!("{}@{}  ({}, priority {})", e.name, e.version, e.manifest, e.priority);
        println!("  sha256   {}", e.sha256.as_deref().unwrap_or("(component missing)"));
        let pin_state = match (&e.sha256, &e.pinned_sha256) {
            (Some(a), Some(p)) if a == p => "matches the pin",
            (_, Some(_)) => "DOES NOT MATCH the pin",
            (_, None) => "unpinned",
        };
        println!("  pinned   {} ({pin_state})", e.pinned_sha256.as_deref().unwrap_or("-"));
        println!("  limits   {:<16} {:>16} {:>16}  why", "", "declared", "effective");
        for d in &e.limit_decisions.0 {
            let declared = d.declared.map_or_else(|| "-".to_owned(), |v| shown(d.name.unit(), v));
            println!(
                "           {:<16} {:>16} {:>16}  {:?}",
                d.name.as_str(),
                declared,
                shown(d.name.unit(), d.effective),
                d.origin
            );
        }
        println!(
            "           {:<16} {:>16} {:>16}  engine-wide",
            "stack_bytes",
            "-",
            display::bytes(e.stack_bytes)
        );
        if e.capabilities.decisions.is_empty() {
            println!("  capabilities: none asked, none granted");
        }
        for d in &e.capabilities.decisions {
            let verdict = if d.granted { "granted" } else { "DENIED " };
            println!("  {verdict} {:<10} {:<40} {}", d.capability, d.requested, d.reason);
        }
        for p in &e.problems {
            println!("  problem: {p}");
        }
        println!();
    }
}

fn shown(unit: &str, value: u64) -> String {
    if unit == "bytes" { display::bytes(value) } else { display::count(value) }
}

/// `symphony audit verify`: walk the hash chain of the audit log.
pub(crate) fn verify(state_dir: &Path) -> ExitCode {
    let path = AuditLog::default_path(state_dir);
    if !path.exists() {
        println!("{}: no audit log yet (nothing recorded)", path.display());
        return ExitCode::SUCCESS;
    }
    match symphony_host::audit::verify(&path) {
        Ok(report) => {
            println!(
                "{}: {}, chain intact; last hash {}",
                path.display(),
                display::plural(report.records, "record", "records"),
                report.last_hash
            );
            println!("(keep the last hash elsewhere to detect truncation or wholesale replacement)");
            ExitCode::SUCCESS
        }
        Err(e @ AuditVerifyError::Io { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNUSABLE)
        }
        Err(e) => {
            println!("BROKEN: {e}");
            ExitCode::FAILURE
        }
    }
}
