//! `symphony check [PATH]`: the doctor. Validates every manifest and component the config can
//! see — or, given PATH (an extension crate, a directory holding `extension.toml`, or a manifest),
//! just that one — loads each and asks it to describe itself, and lists every problem as
//! `file:line: …`. Exits 1 when there is any problem, 2 when the check cannot run (a bad config, a
//! state directory that cannot open, a PATH with no manifest). Declarations the policy lowers
//! (limits above a ceiling, capabilities no rule allows) are warnings: the extension runs, with
//! less.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::command_error::CommandError;
use super::{EXIT_UNUSABLE, display};
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_host::workflow::{Severity, WorkflowDefinition};
use symphony_host::workflows::{RegistryCatalog, workflow_paths};
use symphony_types::config_file::ConfigFileError;
use symphony_types::manifest::{ExtensionManifest, MANIFEST_FILE_NAME};

/// What the check found.
#[derive(Default)]
struct Findings {
    /// Things that stop an extension from running.
    problems: Vec<String>,
    /// Things that will run, but with less than the manifest asked for.
    warnings: Vec<String>,
}

pub(crate) async fn run(config: PlatformConfig, state_dir: &Path, target: Option<&Path>) -> ExitCode {
    match &config.source {
        Some(path) => println!("config {}: ok", path.display()),
        None => println!("config: embedded defaults (no symphony.toml)"),
    }
    let runtime = match super::open_runtime(config, state_dir) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    let mut findings = Findings::default();
    let paths = match target {
        None => {
            platform_warnings(&runtime, &mut findings.warnings);
            runtime.manifest_paths()
        }
        Some(target) => match manifest_of(target) {
            Ok(path) => vec![path],
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_UNUSABLE);
            }
        },
    };
    for path in &paths {
        check_extension(&runtime, path, &mut findings);
    }
    let workflows = if target.is_none() { check_workflows(&runtime, &mut findings) } else { 0 };
    for warning in &findings.warnings {
        println!("warning: {warning}");
    }
    for problem in &findings.problems {
        println!("problem: {problem}");
    }
    let workflows = match target {
        None => format!(", {}", display::plural(workflows, "workflow", "workflows")),
        Some(_) => String::new(),
    };
    println!(
        "{}{workflows}, {}, {}",
        display::plural(paths.len(), "extension", "extensions"),
        display::plural(findings.problems.len(), "problem", "problems"),
        display::plural(findings.warnings.len(), "warning", "warnings")
    );
    if findings.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Check every workflow in the configured `workflow_dirs` against the extensions and routes;
/// each finding is a problem (error) or a warning. Returns how many workflows were seen.
fn check_workflows(runtime: &Runtime, findings: &mut Findings) -> usize {
    let paths = workflow_paths(&runtime.config().workflow_dirs);
    let catalog = RegistryCatalog::new(runtime);
    for path in &paths {
        match WorkflowDefinition::load(path) {
            Ok(definition) => {
                let report = symphony_host::workflow::check(
                    &definition,
                    &catalog,
                    &runtime.config().conductor,
                    &runtime.config().workflows,
                );
                for finding in report.findings {
                    match finding.severity {
                        Severity::Error => findings.problems.push(finding.to_string()),
                        Severity::Warning => findings.warnings.push(finding.to_string()),
                    }
                }
            }
            Err(error) => findings.problems.push(error.to_string()),
        }
    }
    paths.len()
}

/// The manifest PATH names: the file itself, `extension.toml` in a directory, or the one beside
/// a crate's `Cargo.toml`.
fn manifest_of(target: &Path) -> Result<PathBuf, CommandError> {
    let dir = if target.is_file() {
        match target.file_name() {
            Some(name) if name == "Cargo.toml" => target.parent().unwrap_or(Path::new(".")),
            _ => return Ok(target.to_path_buf()),
        }
    } else {
        target
    };
    let manifest = dir.join(MANIFEST_FILE_NAME);
    if manifest.is_file() {
        Ok(manifest)
    } else {
        Err(CommandError::NoManifest { path: target.to_path_buf() })
    }
}

/// Platform settings that undercut each other: ceilings a call may reach but the reservation
/// budget would refuse.
fn platform_warnings(runtime: &Runtime, warnings: &mut Vec<String>) {
    let (ceilings, reservation) = (runtime.config().policy.ceilings, runtime.config().reservation);
    let config_name = runtime
        .config()
        .source
        .as_ref()
        .map_or_else(|| "embedded defaults".to_owned(), |p| p.display().to_string());
    if ceilings.memory_bytes > reservation.memory_budget_bytes {
        warnings.push(format!(
            "{config_name}: policy.ceilings.memory_bytes ({}) exceeds reservation.memory_budget_bytes ({}): \
             a call allowed up to the ceiling is refused through the conductor (exceeds_budget)",
            display::bytes(ceilings.memory_bytes),
            display::bytes(reservation.memory_budget_bytes)
        ));
    }
    if ceilings.fuel > reservation.fuel_budget {
        warnings.push(format!(
            "{config_name}: policy.ceilings.fuel ({}) exceeds reservation.fuel_budget ({}): a call allowed \
             up to the ceiling is refused through the conductor (exceeds_budget)",
            display::count(ceilings.fuel),
            display::count(reservation.fuel_budget)
        ));
    }
}

/// Parse one manifest, weigh its declarations against the policy, load its component (which
/// checks the pin and that `describe` matches the manifest) and print its line.
fn check_extension(runtime: &Runtime, path: &Path, findings: &mut Findings) {
    let manifest = match ExtensionManifest::load(path) {
        Ok(m) => m,
        Err(e) => {
            findings.problems.push(e.to_string());
            return;
        }
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for (name, asked, ceiling) in runtime.config().policy.over_ceiling(&manifest.limits) {
        let field = format!("limits.{}", name.as_str());
        let message = format!(
            "declares {asked} {} but the policy ceiling is {ceiling}; it will run with {ceiling}",
            name.unit()
        );
        findings.warnings.push(ConfigFileError::at_field(path, &text, &field, message).to_string());
    }
    for denied in runtime.config().capabilities.grant(&manifest.name, &manifest.capabilities).decisions {
        if !denied.granted {
            let field = format!("capabilities.{}", denied.capability);
            let message = format!(
                "asks for {} `{}` but the policy refuses: {}",
                denied.capability, denied.requested, denied.reason
            );
            findings.warnings.push(ConfigFileError::at_field(path, &text, &field, message).to_string());
        }
    }
    let id = manifest.id();
    let extension = match runtime.load_manifest(manifest) {
        Ok(ext) => ext,
        Err(e) => {
            findings.problems.push(format!("{}: {id}: {} ({})", path.display(), e, e.kind()));
            return;
        }
    };
    // Loading asked the component who it is and refused it unless that matched the
    // manifest (`identity_mismatch` above): what `check` reports is what `run` enforces.
    let limits = &extension.limits().limits;
    let info = extension.component_info();
    println!(
        "extension {id:<24} api {} · {} · sha256 {}… · fuel {} · memory {} · deadline {} ms",
        extension.api_version(),
        display::bytes(info.size_bytes),
        &info.sha256[..12],
        display::count(limits.fuel),
        display::bytes(limits.memory_bytes),
        limits.deadline_ms
    );
}
