//! `symphony build [DIR...]`: compile extension crates into components placed where their
//! manifests say.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::{EXIT_UNUSABLE, display};
use crate::config::PlatformConfig;
use crate::extension_build::{
    BuildError, BuiltExtension, build_extension, ensure_wasm_target, find_extension_crates,
};

pub(crate) fn run(config: &PlatformConfig, dirs: Vec<PathBuf>) -> ExitCode {
    match build_all(config, dirs, true) {
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

/// Build every crate under `dirs` (default: the configured extension directories).
pub(crate) fn build_all(
    config: &PlatformConfig,
    dirs: Vec<PathBuf>,
    verbose: bool,
) -> Result<Vec<BuiltExtension>, BuildError> {
    let dirs = if dirs.is_empty() { config.extension_dirs.clone() } else { dirs };
    let crates = find_extension_crates(&dirs);
    if crates.is_empty() {
        return Ok(Vec::new());
    }
    ensure_wasm_target()?;
    let mut built = Vec::with_capacity(crates.len());
    for crate_dir in crates {
        let started = Instant::now();
        let one = build_extension(&crate_dir, None)?;
        if verbose {
            println!(
                "built {:<24} → {} ({}, {:.1} s)",
                one.manifest.id(),
                one.manifest.component_path.display(),
                display::bytes(one.size_bytes),
                started.elapsed().as_secs_f64()
            );
        }
        built.push(one);
    }
    Ok(built)
}
