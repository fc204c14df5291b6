//! `symphony build [DIR...]`: compile extension crates into components placed where their
//! manifests say, and pin each component's sha256 in the state directory (the platform built
//! it, so the platform trusts exactly these bytes). Progress goes to stderr through
//! `build_progress`.
//!
//! Exit codes: 0 when every crate built, 1 when a crate failed to compile (or compiled to no
//! component), 2 when the build could not run (no crates found, no wasm target, no cargo, a
//! bad manifest, an unwritable component or state directory).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use symphony_host::integrity::sha256_hex;

use super::build_progress::BuildProgress;
use super::command_error::CommandError;
use super::{EXIT_UNUSABLE, display};
use symphony_host::config::PlatformConfig;
use symphony_host::extension_build::{
    BuildError, BuiltExtension, build_extension_observed, ensure_wasm_target, find_extension_crates,
};
use symphony_host::state::StateDir;

pub(crate) fn run(config: &PlatformConfig, state_dir: &Path, dirs: Vec<PathBuf>) -> ExitCode {
    match build_all(config, state_dir, dirs, true) {
        Ok(built) if built.is_empty() => {
            eprintln!("error: no extension crates found (a crate needs Cargo.toml and extension.toml)");
            ExitCode::from(EXIT_UNUSABLE)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(&e)
        }
    }
}

/// 1 when a crate's own code failed to build into a component, 2 for everything else.
fn exit_code(error: &CommandError) -> ExitCode {
    match error {
        CommandError::Build(BuildError::Compile { .. } | BuildError::NoComponent { .. }) => ExitCode::FAILURE,
        _ => ExitCode::from(EXIT_UNUSABLE),
    }
}

/// Build every crate under `dirs` (default: the configured extension directories) and pin it.
pub(crate) fn build_all(
    config: &PlatformConfig,
    state_dir: &Path,
    dirs: Vec<PathBuf>,
    verbose: bool,
) -> Result<Vec<BuiltExtension>, CommandError> {
    let dirs = if dirs.is_empty() { config.extension_dirs.clone() } else { dirs };
    let crates = find_extension_crates(&dirs);
    if crates.is_empty() {
        return Ok(Vec::new());
    }
    ensure_wasm_target()?;
    let state = StateDir::open(state_dir)?;
    let progress = verbose.then(BuildProgress::for_stderr);
    let total = crates.len();
    let mut built = Vec::with_capacity(total);
    for (index, crate_dir) in crates.into_iter().enumerate() {
        let shown = progress.as_ref().map(|p| p.start(index + 1, total, &crate_dir));
        let result = build_extension_observed(&crate_dir, None, &mut |unit| {
            if let Some(shown) = &shown {
                shown.compiled(unit);
            }
        });
        let one = match result {
            Ok(one) => one,
            Err(e) => {
                if let Some(shown) = shown {
                    shown.failed();
                }
                return Err(e.into());
            }
        };
        let bytes = std::fs::read(&one.manifest.component_path)
            .map_err(|source| CommandError::Read { path: one.manifest.component_path.clone(), source })?;
        let sha256 = sha256_hex(&bytes);
        state.pin(&one.manifest.id(), &sha256, "symphony build")?;
        if let Some(shown) = shown {
            let summary = format!(
                "built {} → {} ({}, {:.1} s, sha256 {}…)",
                one.manifest.id(),
                one.manifest.component_path.display(),
                display::bytes(one.size_bytes),
                shown.elapsed_s(),
                &sha256[..12]
            );
            shown.finished(&summary);
        }
        built.push(one);
    }
    Ok(built)
}
