//! Run your compiled extension under the real Symphony host from a `#[test]`
//! (feature `harness`, native targets only).
//!
//! [`TestHost::build`] compiles the crate for `wasm32-wasip2` exactly as `symphony build` does,
//! loads the component with the limits its `extension.toml` declares under the default platform
//! policy, and lets the test call it and inspect the typed result, usage and log.
//!
//! What the guest says comes back in the SDK's own types: a guest error is the
//! [`ExtensionError`] `invoke` returned, inside [`CallError::Guest`], and
//! [`TestHost::health`] answers the SDK's [`HealthStatus`]. What the host
//! says ([`HostError`], usage, log) is the host's.
//!
//! ```no_run
//! use symphony_guest_sdk::harness::{CallError, ExtensionError, TestHost};
//!
//! let host = TestHost::build(env!("CARGO_MANIFEST_DIR")).expect("builds and loads");
//! let outcome = host.call_json(&serde_json::json!({"a": 1}));
//! assert_eq!(outcome.result.unwrap().to_json().unwrap(), serde_json::json!({"a": 1}));
//!
//! // An extension that refuses an input returns `Err(ExtensionError::InvalidInput(..))`:
//! let outcome = host.call_json(&serde_json::json!({"a": "not a number"}));
//! assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::InvalidInput(_)))));
//! ```

use std::path::{Path, PathBuf};

mod call_error;
mod call_outcome;

pub use crate::{ExtensionError, HealthStatus};
pub use call_error::CallError;
pub use call_outcome::CallOutcome;
pub use symphony_host::{CallRequest, ConductorError, ErrorClass, HostError, Payload};
use symphony_host::{LoadedExtension, PlatformConfig, Runtime};

/// Why the harness could not get the extension running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// Building the component failed.
    #[error(transparent)]
    Build(#[from] symphony_host::extension_build::BuildError),
    /// The host could not start.
    #[error(transparent)]
    Engine(#[from] symphony_host::engine::EngineError),
    /// The component could not be loaded.
    #[error(transparent)]
    Load(#[from] HostError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// An extension built from source and loaded into a real host.
pub struct TestHost {
    extension: LoadedExtension,
    executor: tokio::runtime::Runtime,
    // Keeps the engine alive for the extension's lifetime.
    _runtime: Runtime,
}

impl TestHost {
    /// Build the extension crate at `crate_dir` and load it under the default platform policy.
    ///
    /// The build uses its own target directory (beside the test binary's) so it never waits on
    /// the lock held by the `cargo test` that runs it.
    ///
    /// # Errors
    /// [`HarnessError`] when the build, the engine or the load fails.
    pub fn build(crate_dir: impl AsRef<Path>) -> Result<Self, HarnessError> {
        Self::build_with(crate_dir, PlatformConfig::default())
    }

    /// Like [`build`](Self::build), under a platform config of your choosing.
    ///
    /// # Errors
    /// [`HarnessError`] when the build, the engine or the load fails.
    pub fn build_with(crate_dir: impl AsRef<Path>, config: PlatformConfig) -> Result<Self, HarnessError> {
        symphony_host::extension_build::ensure_wasm_target()?;
        let built =
            symphony_host::extension_build::build_extension(crate_dir.as_ref(), Some(&harness_target_dir()))?;
        let runtime = Runtime::new(config)?.allow_unpinned();
        let extension = runtime.load_manifest(built.manifest)?;
        let executor = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(HarnessError::Runtime)?;
        Ok(Self { extension, executor, _runtime: runtime })
    }

    /// Call the extension once with a request.
    pub fn call(&self, request: CallRequest) -> CallOutcome {
        self.executor.block_on(self.extension.call(request)).map_err(CallError::from)
    }

    /// Call the extension once with a JSON input.
    ///
    /// # Panics
    /// When `input` cannot be serialised to JSON (a bug in the test itself).
    pub fn call_json<T: serde::Serialize + ?Sized>(&self, input: &T) -> CallOutcome {
        let request = CallRequest::json(input).unwrap_or_else(|e| panic!("test input is not JSON: {e}"));
        self.call(request)
    }

    /// Ask the extension how it is doing, as the host would (`Extension::health`).
    ///
    /// # Errors
    /// [`CallError::Host`] when the sandbox stops the call.
    pub fn health(&self) -> Result<HealthStatus, CallError> {
        match self.executor.block_on(self.extension.health()) {
            Ok(symphony_host::HealthStatus::Ready) => Ok(HealthStatus::Ready),
            Ok(symphony_host::HealthStatus::Degraded(reason)) => Ok(HealthStatus::Degraded(reason)),
            Ok(symphony_host::HealthStatus::Unavailable(reason)) => Ok(HealthStatus::Unavailable(reason)),
            Err(e) => Err(e.into()),
        }
    }

    /// The loaded extension (limits, manifest, component info). Calling it directly gives the
    /// host's own outcome types, not the SDK's.
    #[must_use]
    pub fn extension(&self) -> &LoadedExtension {
        &self.extension
    }
}

/// `<target>/symphony-harness`, where `<target>` holds the running test binary.
fn harness_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // <target>/<profile>/deps/<test-binary>
    exe.ancestors().nth(3).map_or_else(|| PathBuf::from("target"), Path::to_path_buf).join("symphony-harness")
}
