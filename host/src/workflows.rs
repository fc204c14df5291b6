//! Workflows on the platform: the [`Catalog`] over the registry (manifests and their `[schema]`
//! files, loaded components), finding a workflow definition by file or by name in the
//! configured `workflow_dirs` (with "did you mean"), and the [`Platform`] methods that check,
//! prepare and run one through the platform's conductor. The definition format, the checks and
//! the runner are `symphony-workflow`'s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use symphony_types::config_file::ConfigFileError;
use symphony_types::did_you_mean::closest_name;
use symphony_types::manifest::ExtensionManifest;
use symphony_types::payload::Payload;
use symphony_workflow::{
    CallTarget, Catalog, CatalogError, CheckReport, ExtensionInfo, PrepareError, PreparedWorkflow,
    RunControl, RunOptions, RunResult, Schema, WorkflowDefinition, check,
};

use crate::platform::Platform;
use crate::registry::LookupError;
use crate::runtime::Runtime;

/// Largest schema file read, in bytes: a manifest cannot make the host read a huge file.
pub const MAX_SCHEMA_FILE_BYTES: u64 = 1 << 20;

/// The registry as workflows see it.
#[derive(Debug, Clone, Copy)]
pub struct RegistryCatalog<'a> {
    runtime: &'a Runtime,
}

impl<'a> RegistryCatalog<'a> {
    /// The catalog of `runtime`'s extension directories.
    #[must_use]
    pub fn new(runtime: &'a Runtime) -> Self {
        Self { runtime }
    }
}

/// What `manifest` declares, its schema files read and compiled.
///
/// # Errors
/// [`CatalogError::Unusable`] naming the schema file when it cannot be read or compiled.
pub fn extension_info(manifest: &ExtensionManifest) -> Result<ExtensionInfo, CatalogError> {
    let schema = |path: Option<&PathBuf>| -> Result<Option<Schema>, CatalogError> {
        let Some(path) = path else { return Ok(None) };
        let unusable = |reason: String| CatalogError::Unusable {
            reference: manifest.id(),
            reason: format!("{}: {reason}", path.display()),
        };
        let size = std::fs::metadata(path).map_err(|e| unusable(format!("cannot read: {e}")))?.len();
        if size > MAX_SCHEMA_FILE_BYTES {
            return Err(unusable(format!(
                "{size} bytes, more than the {MAX_SCHEMA_FILE_BYTES} a schema may have"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| unusable(format!("cannot read: {e}")))?;
        let value = serde_json::from_str(&text).map_err(|e| unusable(format!("not JSON: {e}")))?;
        Schema::compile(value).map(Some).map_err(|e| unusable(e.to_string()))
    };
    Ok(ExtensionInfo {
        id: manifest.id(),
        name: manifest.name.clone(),
        features: manifest.features.clone(),
        input_schema: schema(manifest.schema.input.as_ref())?,
        output_schema: schema(manifest.schema.output.as_ref())?,
        expected_latency_ms: manifest.expected.latency_ms,
        idempotent: manifest.idempotent,
    })
}

fn lookup_error(reference: &str, error: LookupError) -> CatalogError {
    match error {
        LookupError::NotFound { did_you_mean, .. } => {
            CatalogError::NotFound { reference: reference.to_owned(), did_you_mean }
        }
        other => CatalogError::Unusable { reference: reference.to_owned(), reason: other.to_string() },
    }
}

impl Catalog for RegistryCatalog<'_> {
    fn describe(&self, reference: &str) -> Result<Arc<ExtensionInfo>, CatalogError> {
        let manifest = self.runtime.find(reference).map_err(|e| lookup_error(reference, e))?;
        extension_info(&manifest).map(Arc::new)
    }

    fn load(&self, reference: &str) -> Result<CallTarget, CatalogError> {
        let manifest = self.runtime.find(reference).map_err(|e| lookup_error(reference, e))?;
        let info = Arc::new(extension_info(&manifest)?);
        let extension = self
            .runtime
            .load_manifest(manifest)
            .map_err(|e| CatalogError::Unusable { reference: reference.to_owned(), reason: e.to_string() })?;
        let demand = Some(extension.demand());
        Ok(CallTarget { info, invoker: Arc::new(extension), demand })
    }
}

/// Why a workflow could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowLookupError {
    /// No file and no workflow of that name.
    #[error(
        "no workflow `{reference}`{} (searched {})",
        did_you_mean.as_ref().map(|d| format!(" — did you mean `{d}`?")).unwrap_or_default(),
        searched.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// As asked.
        reference: String,
        /// The closest workflow name.
        did_you_mean: Option<String>,
        /// The workflow directories searched.
        searched: Vec<PathBuf>,
        /// Definitions met on the way that could not be read (one may be the one meant).
        unreadable: Vec<ConfigFileError>,
    },
    /// The definition file is invalid.
    #[error(transparent)]
    Invalid(#[from] ConfigFileError),
}

/// Every `*.toml` directly in `dirs`, sorted.
#[must_use]
pub fn workflow_paths(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| e == symphony_workflow::definition::WORKFLOW_FILE_EXTENSION)
        })
        .collect();
    found.sort();
    found
}

/// Find a workflow: a definition file, or the `name` of one in `dirs`.
///
/// # Errors
/// [`WorkflowLookupError::NotFound`] (with the closest name), or
/// [`WorkflowLookupError::Invalid`] for the definition meant.
pub fn find_workflow(dirs: &[PathBuf], reference: &str) -> Result<WorkflowDefinition, WorkflowLookupError> {
    let path = Path::new(reference);
    if path.is_file() {
        return Ok(WorkflowDefinition::load(path)?);
    }
    find_named_workflow(dirs, reference)
}

/// Find the workflow called `name` in `dirs` — never a file path (what a service uses for names
/// it was sent).
///
/// # Errors
/// As [`find_workflow`].
pub fn find_named_workflow(
    dirs: &[PathBuf],
    reference: &str,
) -> Result<WorkflowDefinition, WorkflowLookupError> {
    let mut names = Vec::new();
    let mut unreadable = Vec::new();
    for candidate in workflow_paths(dirs) {
        match WorkflowDefinition::load(&candidate) {
            Ok(definition) if definition.name == reference => return Ok(definition),
            Ok(definition) => names.push(definition.name),
            // The file named like the reference is the one meant: its error is the answer.
            Err(error) if candidate.file_stem().is_some_and(|s| s == reference) => return Err(error.into()),
            Err(error) => unreadable.push(error),
        }
    }
    let did_you_mean = closest_name(reference, names.iter().map(String::as_str));
    Err(WorkflowLookupError::NotFound {
        reference: reference.to_owned(),
        did_you_mean,
        searched: dirs.to_vec(),
        unreadable,
    })
}

impl Platform {
    /// The catalog of this platform's extensions.
    #[must_use]
    pub fn catalog(&self) -> RegistryCatalog<'_> {
        RegistryCatalog::new(self.runtime())
    }

    /// Find a workflow by file or by name in the configured `workflow_dirs`.
    ///
    /// # Errors
    /// [`WorkflowLookupError`] when none matches or the definition is invalid.
    pub fn find_workflow(&self, reference: &str) -> Result<WorkflowDefinition, WorkflowLookupError> {
        find_workflow(&self.config().workflow_dirs, reference)
    }

    /// Find the workflow called `name` in the configured `workflow_dirs`, never a file path.
    ///
    /// # Errors
    /// As [`find_workflow`](Self::find_workflow).
    pub fn find_named_workflow(&self, name: &str) -> Result<WorkflowDefinition, WorkflowLookupError> {
        find_named_workflow(&self.config().workflow_dirs, name)
    }

    /// Check `definition` against this platform's extensions, routes and workflow limits.
    #[must_use]
    pub fn check_workflow(&self, definition: &WorkflowDefinition) -> CheckReport {
        check(definition, &self.catalog(), self.conductor().config(), &self.config().workflows)
    }

    /// Check `definition` and load everything it runs.
    ///
    /// # Errors
    /// [`PrepareError`] when the check finds errors or an extension does not load.
    pub fn prepare_workflow(&self, definition: WorkflowDefinition) -> Result<PreparedWorkflow, PrepareError> {
        PreparedWorkflow::prepare(
            Arc::new(definition),
            &self.catalog(),
            self.conductor().config(),
            &self.config().workflows,
        )
    }

    /// Run a prepared workflow on `input` through this platform's conductor: the breakers,
    /// budgets, pool and health monitor every other caller shares.
    pub async fn run_workflow(
        &self,
        workflow: &PreparedWorkflow,
        input: Payload,
        control: &RunControl,
        options: RunOptions,
    ) -> RunResult {
        workflow.run(self.conductor(), input, control, options).await
    }
}
