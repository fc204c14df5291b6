//! The embedding entry point: one engine, one linker with every host service, the platform
//! configuration, and loading extensions by manifest, directory or name.
//!
//! Components must be pinned: give the runtime a state directory ([`Runtime::with_state`], or
//! use [`Platform`](crate::Platform), which does), or opt out by name with
//! [`Runtime::allow_unpinned`] — audited, and never for a component whose pin differs.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use symphony_host::{CallRequest, PlatformConfig, Runtime};
//! use symphony_host::state::StateDir;
//! let runtime = Runtime::new(PlatformConfig::load(None)?)?.with_state(StateDir::open(std::path::Path::new(".symphony"))?);
//! let echo = runtime.load("echo")?;
//! let outcome = echo.call(CallRequest::json(&serde_json::json!({"a": 1}))?).await;
//! println!("{:?} using {:?}", outcome.result, outcome.usage);
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::v1_1_0;
use crate::call_state::CallState;
use crate::config::PlatformConfig;
use crate::engine::{EngineError, SandboxEngine};
use crate::integrity::UnpinnedComponents;
use crate::sandbox::LoadedExtension;
use crate::state::StateDir;
use symphony_types::error::HostError;
use symphony_types::manifest::ExtensionManifest;

use crate::registry;
pub use crate::registry::LookupError;

/// Builds the sandbox and loads extensions into it. Cheap to share behind an `Arc`.
pub struct Runtime {
    config: PlatformConfig,
    engine: Arc<SandboxEngine>,
    linker: Linker<CallState>,
    state: Option<Arc<StateDir>>,
    unpinned: UnpinnedComponents,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Build the engine and link the host services (WASI, locked down, and Symphony's own).
    ///
    /// # Errors
    /// [`EngineError`] when wasmtime rejects the configuration.
    pub fn new(config: PlatformConfig) -> Result<Self, EngineError> {
        let engine = Arc::new(SandboxEngine::new(&config.engine, &config.policy)?);
        let mut linker = Linker::new(engine.wasmtime());
        let link_error = |e: wasmtime::Error| EngineError { reason: e.to_string() };
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link_error)?;
        crate::capability::observed_imports::observe_denied_imports(&mut linker).map_err(link_error)?;
        // Only the newest minor's host imports: the linker resolves an older 1.x guest's
        // `symphony:extension/host@1.0.0` import to this `@1.1.0` definition (same major,
        // semver-compatible), so every supported version instantiates against this one linker.
        v1_1_0::Extension::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)
            .map_err(link_error)?;
        Ok(Self { config, engine, linker, state: None, unpinned: UnpinnedComponents::Refuse })
    }

    /// Use a state directory: components are checked against their pins (`hash_mismatch`,
    /// `component_unpinned`), compiled once into its cache, and loads, breaches and denials are
    /// appended to its audit log.
    #[must_use]
    pub fn with_state(mut self, state: StateDir) -> Self {
        self.state = Some(Arc::new(state));
        self
    }

    /// Load components that no pin vouches for, instead of refusing them as
    /// `component_unpinned`: for tests and local development only. Each such load is audited as
    /// `unpinned_allowed` (with the component's sha256) in the state directory's log, or logged
    /// as a warning when there is no state directory. A component whose pin exists and differs is
    /// still refused (`hash_mismatch`).
    #[must_use]
    pub fn allow_unpinned(mut self) -> Self {
        self.unpinned = UnpinnedComponents::Allow;
        self
    }

    /// Whether unpinned components load ([`allow_unpinned`](Self::allow_unpinned)).
    #[must_use]
    pub fn unpinned_components(&self) -> UnpinnedComponents {
        self.unpinned
    }

    /// The state directory, when there is one.
    #[must_use]
    pub fn state(&self) -> Option<&StateDir> {
        self.state.as_deref()
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    /// The engine (tick, stack, allocator).
    #[must_use]
    pub fn engine(&self) -> &SandboxEngine {
        &self.engine
    }

    /// Load an extension from a manifest path, a directory holding one, or a name (`name`, or
    /// `name@version` for one release) found in the configured extension directories; see
    /// [`find`](Self::find).
    ///
    /// # Errors
    /// [`HostError::ExtensionNotFound`] when nothing matches, [`HostError::ManifestInvalid`]
    /// for a bad manifest, other [`HostError`]s for a component that cannot be loaded.
    pub fn load(&self, reference: &str) -> Result<LoadedExtension, HostError> {
        let manifest = self.find(reference)?;
        self.load_manifest(manifest)
    }

    /// Load an already parsed manifest's component.
    ///
    /// # Errors
    /// [`HostError`] when the component cannot be read, compiled, linked or fits no limit.
    pub fn load_manifest(&self, manifest: ExtensionManifest) -> Result<LoadedExtension, HostError> {
        LoadedExtension::load(
            Arc::clone(&self.engine),
            &self.linker,
            manifest,
            &self.config,
            self.state.clone(),
            self.unpinned,
        )
    }

    /// Resolve an extension reference to its manifest: a manifest path, a directory holding one,
    /// the name of a directory in the extension directories, `name@version` (that release), or a
    /// plain `name` (the newest version of that name, when several releases sit side by side).
    ///
    /// # Errors
    /// [`LookupError`] when nothing matches or the manifest is invalid.
    pub fn find(&self, reference: &str) -> Result<ExtensionManifest, LookupError> {
        registry::find(&self.config.extension_dirs, reference)
    }

    /// Every `extension.toml` one level below the configured extension directories, sorted.
    #[must_use]
    pub fn manifest_paths(&self) -> Vec<PathBuf> {
        registry::manifest_paths(&self.config.extension_dirs)
    }
}
