//! `symphony check`: the doctor. Validates every manifest and component the config can see,
//! loads each one and asks it to describe itself, and lists every problem as `file:line: …`.
//! Exits non-zero when there is any problem. Declarations the policy lowers (limits above a
//! ceiling, capabilities no rule allows) are warnings: the extension runs, with less.

use std::path::Path;
use std::process::ExitCode;

use super::{EXIT_UNUSABLE, display};
use symphony_host::config::PlatformConfig;
use symphony_types::config_file::ConfigFileError;
use symphony_types::manifest::ExtensionManifest;

pub(crate) async fn run(config: PlatformConfig, state_dir: &Path) -> ExitCode {
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
    let paths = runtime.manifest_paths();
    let mut problems: Vec<String> = Vec::new();
    // Things that will run, but with less than the manifest asked for.
    let mut warnings: Vec<String> = Vec::new();
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
    for path in &paths {
        let manifest = match ExtensionManifest::load(path) {
            Ok(m) => m,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (name, asked, ceiling) in runtime.config().policy.over_ceiling(&manifest.limits) {
            let field = format!("limits.{}", name.as_str());
            let message = format!(
                "declares {asked} {} but the policy ceiling is {ceiling}; it will run with {ceiling}",
                name.unit()
            );
            warnings.push(ConfigFileError::at_field(path, &text, &field, message).to_string());
        }
        for denied in runtime.config().capabilities.grant(&manifest.name, &manifest.capabilities).decisions {
            if !denied.granted {
                let field = format!("capabilities.{}", denied.capability);
                let message = format!(
                    "asks for {} `{}` but the policy refuses: {}",
                    denied.capability, denied.requested, denied.reason
                );
                warnings.push(ConfigFileError::at_field(path, &text, &field, message).to_string());
            }
        }
        let id = manifest.id();
        let extension = match runtime.load_manifest(manifest) {
            Ok(ext) => ext,
            Err(e) => {
                problems.push(format!("{}: {id}: {} ({})", path.display(), e, e.kind()));
                continue;
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
    for warning in &warnings {
        println!("warning: {warning}");
    }
    for problem in &problems {
        println!("problem: {problem}");
    }
    println!("{} extensions, {} problems, {} warnings", paths.len(), problems.len(), warnings.len());
    if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
