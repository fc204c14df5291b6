//! Where extensions come from and whether they may run: finding a manifest by path, directory,
//! name or `name@version` in the configured extension directories, reading and inspecting its
//! component, checking it against its pin, compiling it (through the compiled cache when there
//! is a state directory), and auditing each load's verdict. The sandbox gets a compiled,
//! trusted component; everything before that is here.

use std::path::{Path, PathBuf};

use wasmtime::component::Component;

use symphony_types::config_file::ConfigFileError;
use symphony_types::did_you_mean::closest_name;
use symphony_types::error::HostError;
use symphony_types::manifest::{ExtensionManifest, MANIFEST_FILE_NAME};

use crate::audit::AuditEvent;
use crate::component_info::{ApiVersion, ComponentInfo};
use crate::engine::SandboxEngine;
use crate::integrity::UnpinnedComponents;
use crate::state::StateDir;

/// Why an extension reference could not be resolved to a manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// No manifest path, directory or known name matches.
    #[error("{}", HostError::ExtensionNotFound {
        reference: reference.clone(),
        did_you_mean: did_you_mean.clone(),
        searched: searched.clone(),
        unreadable: unreadable.clone(),
    })]
    NotFound {
        /// What the caller asked for.
        reference: String,
        /// The known name closest to `reference`, when close enough to be a likely typo.
        did_you_mean: Option<String>,
        /// The extension directories searched.
        searched: Vec<PathBuf>,
        /// Manifests met on the way that could not be read (one may be the one meant).
        unreadable: Vec<ConfigFileError>,
    },
    /// The manifest exists but is invalid.
    #[error(transparent)]
    Manifest(#[from] ConfigFileError),
}

impl From<LookupError> for HostError {
    fn from(err: LookupError) -> Self {
        match err {
            LookupError::NotFound { reference, did_you_mean, searched, unreadable } => {
                HostError::ExtensionNotFound { reference, did_you_mean, searched, unreadable }
            }
            LookupError::Manifest(invalid) => HostError::ManifestInvalid(invalid),
        }
    }
}

/// Every `extension.toml` one level below `dirs`, sorted.
#[must_use]
pub fn manifest_paths(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let candidate = entry.path().join(MANIFEST_FILE_NAME);
            if candidate.is_file() {
                found.push(candidate);
            }
        }
    }
    found.sort();
    found
}

/// Resolve an extension reference to its manifest: a manifest path, a directory holding one,
/// the name of a directory in `dirs`, `name@version` (that release), or a plain `name` (the
/// newest version of that name, when several releases sit side by side).
///
/// # Errors
/// [`LookupError::Manifest`] when the manifest the reference names is invalid;
/// [`LookupError::NotFound`] when nothing matches, listing every manifest of `dirs` that could
/// not be read on the way (one of them may be the one meant).
pub fn find(dirs: &[PathBuf], reference: &str) -> Result<ExtensionManifest, LookupError> {
    let path = Path::new(reference);
    if path.is_file() {
        return Ok(ExtensionManifest::load(path)?);
    }
    if path.join(MANIFEST_FILE_NAME).is_file() {
        return Ok(ExtensionManifest::load(&path.join(MANIFEST_FILE_NAME))?);
    }
    let paths = manifest_paths(dirs);
    for manifest_path in &paths {
        let by_dir = manifest_path.parent().and_then(Path::file_name).is_some_and(|d| d == reference);
        if by_dir {
            return Ok(ExtensionManifest::load(manifest_path)?);
        }
    }
    // `name@version` names one release; a plain name, the newest of its releases.
    let (name, version) = match reference.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (reference, None),
    };
    let mut unreadable = Vec::new();
    let mut newest: Option<ExtensionManifest> = None;
    let mut known: Vec<String> = Vec::new();
    for manifest_path in &paths {
        match ExtensionManifest::load(manifest_path) {
            Ok(m) if m.name == name && version.is_none_or(|v| m.version.to_string() == v) => {
                if newest.as_ref().is_none_or(|n| m.version > n.version) {
                    newest = Some(m);
                }
            }
            Ok(m) => known.push(m.name),
            Err(e) => unreadable.push(e),
        }
    }
    newest.ok_or_else(|| LookupError::NotFound {
        reference: reference.to_owned(),
        did_you_mean: closest_name(name, known.iter().map(String::as_str)),
        searched: dirs.to_vec(),
        unreadable,
    })
}

/// A component read, inspected, checked against its pin and compiled: ready for the sandbox.
pub(crate) struct Trusted {
    pub(crate) info: ComponentInfo,
    pub(crate) component: Component,
}

/// Read the component `manifest` names, check it against its pin and compile it, through the
/// compiled cache when there is a state directory. Without one there are no pins: the component
/// is refused as unpinned unless `unpinned` allows it (then a warning is logged).
pub(crate) fn prepare(
    engine: &SandboxEngine,
    manifest: &ExtensionManifest,
    state: Option<&StateDir>,
    unpinned: UnpinnedComponents,
) -> Result<Trusted, HostError> {
    let path = &manifest.component_path;
    let bytes = std::fs::read(path).map_err(|e| HostError::InvalidComponent {
        path: path.clone(),
        reason: format!("cannot read: {e} (run `symphony build` first?)"),
    })?;
    let info = ComponentInfo::inspect(path, &bytes)?;
    match (state, unpinned) {
        (Some(state), _) => state.verify_pin(manifest, &info.sha256, unpinned)?,
        (None, UnpinnedComponents::Allow) => tracing::warn!(
            extension = %manifest.id(),
            sha256 = %info.sha256,
            "loading an unpinned component (allow_unpinned, no state directory to audit it in)"
        ),
        (None, UnpinnedComponents::Refuse) => {
            return Err(HostError::Unpinned {
                path: path.clone(),
                extension: manifest.id(),
                pins_file: None,
                manifest: manifest.manifest_path.clone(),
            });
        }
    }
    let component = match state {
        Some(state) => state
            .cache()
            .load_or_compile(engine.wasmtime(), &bytes, &info.sha256)
            .map(|(component, outcome)| {
                tracing::debug!(extension = %manifest.id(), cache = %outcome, "component ready");
                component
            })
            .map_err(|e| HostError::InvalidComponent { path: path.clone(), reason: e.to_string() })?,
        None => Component::new(engine.wasmtime(), &bytes)
            .map_err(|e| HostError::InvalidComponent { path: path.clone(), reason: format!("{e:#}") })?,
    };
    Ok(Trusted { info, component })
}

/// Audit a load's verdict: the component that was loaded, or why it was refused.
pub(crate) fn audit_load(
    state: Option<&StateDir>,
    id: &str,
    verdict: Result<(&ComponentInfo, ApiVersion), &HostError>,
) {
    let Some(state) = state else { return };
    match verdict {
        Ok((info, api_version)) => {
            state.audit().record(Some(id), AuditEvent::extension_loaded(&info.sha256, api_version));
        }
        Err(err) => {
            if let Some(event) = AuditEvent::from_host_error(err) {
                state.audit().record(Some(id), event);
            }
        }
    }
}
