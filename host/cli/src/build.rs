//! `symphony build [DIR...]`: compile extension crates into components placed where their
//! manifests say, and pin each component's sha256 in the state directory (the platform built
//! it, so the platform trusts exactly these bytes).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use symphony_host::integrity::sha256_hex;

use super::command_error::CommandError;
use super::{EXIT_UNUSABLE, display};
use symphony_host::config::PlatformConfig;
use symphony_host::extension_build::{
    BuiltExtension, build_extension, ensure_wasm_target, find_extension_crates,
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
            ExitCode::FAILURE
        }
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
    let mut built = Vec::with_capacity(crates.len());
    for crate_dir in crates {
        let started = Instant::now();
        let one = build_extension(&crate_dir, None)?;
        let bytes = std::fs::read(&one.manifest.component_path)
            .map_err(|source| CommandError::Read { path: one.manifest.component_path.clone(), source })?;
        let sha256 = sha256_hex(&bytes);
        state.pin(&one.manifest.id(), &sha256, "symphony build")?;
        if verbose {
            println!(
                "built {:<24} → {} ({}, {:.1} s, sha256 {}…)",
                one.manifest.id(),
                one.manifest.component_path.display(),
                display::bytes(one.size_bytes),
                started.elapsed().as_secs_f64(),
                &sha256[..12]
            );
        }
        built.push(one);
    }
    Ok(built)
}
