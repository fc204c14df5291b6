//! Building extension crates into components: `cargo build --target wasm32-wasip2` with the
//! guest profile, then copying each component to where its manifest says.
//!
//! The guest profile is passed on the command line, so an author's crate outside this workspace
//! builds the same way. The wasm target is installed with rustup when missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use symphony_types::config_file::ConfigFileError;
use symphony_types::manifest::{ExtensionManifest, MANIFEST_FILE_NAME};

/// The Rust target extensions are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";
/// The cargo profile guests are built with (small, fast, abort on panic).
pub const GUEST_PROFILE: &str = "guest";
const GUEST_PROFILE_SETTINGS: [&str; 6] = [
    "profile.guest.inherits=\"release\"",
    "profile.guest.opt-level=\"s\"",
    "profile.guest.lto=true",
    "profile.guest.strip=true",
    "profile.guest.panic=\"abort\"",
    "profile.guest.codegen-units=1",
];

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `rustup target add wasm32-wasip2` failed or rustup is missing.
    #[error("cannot install the {WASM_TARGET} target: {reason}")]
    TargetInstall {
        /// What went wrong.
        reason: String,
    },
    /// cargo could not be started.
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    /// cargo reported a compile error.
    #[error("cargo build failed for {} (see the compiler output above)", crate_dir.display())]
    Compile {
        /// The crate.
        crate_dir: PathBuf,
    },
    /// cargo succeeded but produced no `.wasm` for the crate.
    #[error("cargo built {} but produced no wasm component (is crate-type = [\"cdylib\"] set?)", crate_dir.display())]
    NoComponent {
        /// The crate.
        crate_dir: PathBuf,
    },
    /// The crate's manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ConfigFileError),
    /// The component could not be copied into place.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// Destination.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One component built and placed.
#[derive(Debug, Clone)]
pub struct BuiltExtension {
    /// The manifest it was built for.
    pub manifest: ExtensionManifest,
    /// Size of the component, in bytes.
    pub size_bytes: u64,
}

/// Extension crates under the given directories: a directory that holds both `Cargo.toml` and
/// `extension.toml` is a crate; otherwise its immediate subdirectories are searched.
#[must_use]
pub fn find_extension_crates(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let is_crate = |d: &Path| d.join("Cargo.toml").is_file() && d.join(MANIFEST_FILE_NAME).is_file();
    let mut found = Vec::new();
    for dir in dirs {
        if is_crate(dir) {
            found.push(dir.clone());
            continue;
        }
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut children: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| is_crate(p)).collect();
        children.sort();
        found.extend(children);
    }
    found
}

/// Make sure the wasm target is installed, installing it with rustup when it is not.
///
/// # Errors
/// [`BuildError::TargetInstall`] when rustup is missing or fails.
pub fn ensure_wasm_target() -> Result<(), BuildError> {
    let listed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match listed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) => Ok(()),
        Ok(_) => {
            let status = Command::new("rustup")
                .args(["target", "add", WASM_TARGET])
                .status()
                .map_err(|e| BuildError::TargetInstall { reason: e.to_string() })?;
            if status.success() {
                Ok(())
            } else {
                Err(BuildError::TargetInstall { reason: format!("rustup exited with {status}") })
            }
        }
        Err(e) => Err(BuildError::TargetInstall { reason: format!("rustup not found ({e})") }),
    }
}

/// Build one extension crate and copy its component where the manifest says.
///
/// `target_dir` overrides cargo's target directory (the test harness uses its own so it never
/// waits on the lock of an outer `cargo test`).
///
/// # Errors
/// [`BuildError`] for a bad manifest, a compile error or a missing artifact.
pub fn build_extension(crate_dir: &Path, target_dir: Option<&Path>) -> Result<BuiltExtension, BuildError> {
    build_extension_observed(crate_dir, target_dir, &mut |_| {})
}

/// [`build_extension`], handing `on_compiled` the name of each unit (a dependency or the crate
/// itself) as cargo reports it done, for a progress display.
///
/// # Errors
/// As [`build_extension`].
pub fn build_extension_observed(
    crate_dir: &Path,
    target_dir: Option<&Path>,
    on_compiled: &mut dyn FnMut(&str),
) -> Result<BuiltExtension, BuildError> {
    let manifest = ExtensionManifest::load(&crate_dir.join(MANIFEST_FILE_NAME))?;
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args(["build", "--quiet"])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .args([
            "--target",
            WASM_TARGET,
            "--profile",
            GUEST_PROFILE,
            "--message-format=json-render-diagnostics",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for setting in GUEST_PROFILE_SETTINGS {
        cargo.args(["--config", setting]);
    }
    if let Some(dir) = target_dir {
        cargo.env("CARGO_TARGET_DIR", dir);
    }
    let mut child = cargo.spawn().map_err(BuildError::Cargo)?;
    // cargo's JSON messages, read as they come so each finished unit is reported at once.
    let mut stdout = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            if let Ok(message) = serde_json::from_slice::<serde_json::Value>(&line)
                && message["reason"] == "compiler-artifact"
                && let Some(unit) = message["target"]["name"].as_str()
            {
                on_compiled(unit);
            }
            stdout.append(&mut line);
        }
    }
    let status = child.wait().map_err(BuildError::Cargo)?;
    if !status.success() {
        return Err(BuildError::Compile { crate_dir: crate_dir.to_path_buf() });
    }
    let artifact = wasm_artifact(&stdout, crate_dir)
        .ok_or_else(|| BuildError::NoComponent { crate_dir: crate_dir.to_path_buf() })?;
    let destination = &manifest.component_path;
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| BuildError::Write { path: parent.to_path_buf(), source })?;
    }
    // Copied beside the destination, then renamed over it: a host loading the component while
    // another build replaces it (two harness tests, `symphony build` during a run) sees the old
    // file or the new one, never a half-written one.
    static COPIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let copy = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staged = destination.with_extension(format!("wasm.{}-{copy}.partial", std::process::id()));
    std::fs::copy(&artifact, &staged).and_then(|_| std::fs::rename(&staged, destination)).map_err(
        |source| {
            let _ = std::fs::remove_file(&staged);
            BuildError::Write { path: destination.clone(), source }
        },
    )?;
    let size_bytes = std::fs::metadata(destination).map(|m| m.len()).unwrap_or(0);
    Ok(BuiltExtension { manifest, size_bytes })
}

/// The `.wasm` cargo reported for the crate at `crate_dir`, from its JSON messages.
fn wasm_artifact(stdout: &[u8], crate_dir: &Path) -> Option<PathBuf> {
    let wanted = crate_dir.join("Cargo.toml");
    let wanted = wanted.canonicalize().unwrap_or(wanted);
    let mut found = None;
    for line in stdout.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let manifest = message["manifest_path"].as_str().map(PathBuf::from);
        if manifest.map(|m| m.canonicalize().unwrap_or(m)) != Some(wanted.clone()) {
            continue;
        }
        let files = message["filenames"].as_array().into_iter().flatten();
        if let Some(wasm) = files.filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")) {
            found = Some(PathBuf::from(wasm));
        }
    }
    found
}
