//! The pre-instantiated template every call of one extension is instantiated from: one variant per
//! supported API version, each holding that version's generated export bindings (the pattern
//! Zed's extension host uses). Everything version-specific about calling a guest lives here; the
//! sandbox around a call (store, limits, typed errors) is the same for every version.
//!
//! Adding a minor version: a `bindings` module, an [`ApiVersion`] variant, a variant here and
//! its arm in [`Template::new`] and [`Template::run`]. Minor versions only add exports, and the
//! bindings share one set of WIT types, so older arms keep compiling untouched.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::bindings::v1_1_0::symphony::extension::types;
use crate::bindings::{v1_0_0, v1_1_0};
use crate::call_state::CallState;
use crate::component_info::ApiVersion;

/// What to ask the guest.
pub(super) enum Operation {
    /// `handler.invoke`.
    Invoke(types::Request),
    /// `handler.describe`.
    Describe,
    /// `handler.health`, exported since 1.1.0: check [`ApiVersion::exports_health`] first.
    Health,
}

/// What the guest answered, one variant per [`Operation`].
pub(super) enum Returned {
    Invoke(Result<types::Response, types::ExtensionError>),
    Describe(types::Metadata),
    Health(types::HealthStatus),
}

/// An extension linked against the host, ready to instantiate, typed by the API version it
/// exports.
pub(super) enum Template {
    /// `symphony:extension@1.0.0`.
    V1_0_0(v1_0_0::ExtensionPre<CallState>),
    /// `symphony:extension@1.1.0`.
    V1_1_0(v1_1_0::ExtensionPre<CallState>),
}

impl Template {
    /// Look up and type-check the exports of `version` in a linked component.
    ///
    /// # Errors
    /// When the component lacks an export of that version or its type differs.
    pub(super) fn new(version: ApiVersion, pre: InstancePre<CallState>) -> wasmtime::Result<Self> {
        Ok(match version {
            ApiVersion::V1_0_0 => Self::V1_0_0(v1_0_0::ExtensionPre::new(pre)?),
            ApiVersion::V1_1_0 => Self::V1_1_0(v1_1_0::ExtensionPre::new(pre)?),
        })
    }

    /// The version whose bindings this template calls through.
    pub(super) fn api_version(&self) -> ApiVersion {
        match self {
            Self::V1_0_0(_) => ApiVersion::V1_0_0,
            Self::V1_1_0(_) => ApiVersion::V1_1_0,
        }
    }

    /// Instantiate into `store` and run one operation through this version's bindings.
    ///
    /// # Errors
    /// The trap or host error that stopped the guest; an operation the version does not export
    /// fails before anything is instantiated.
    pub(super) async fn run(
        &self,
        store: &mut Store<CallState>,
        operation: Operation,
    ) -> wasmtime::Result<Returned> {
        match self {
            Self::V1_0_0(pre) => {
                // Checked before instantiating: nothing should run for an export that is not there.
                if matches!(operation, Operation::Health) {
                    return Err(not_exported(ApiVersion::V1_0_0, "health"));
                }
                let handler = pre.instantiate_async(&mut *store).await?;
                let handler = handler.symphony_extension_handler();
                match operation {
                    Operation::Invoke(request) => {
                        handler.call_invoke(&mut *store, &request).await.map(Returned::Invoke)
                    }
                    Operation::Describe => handler.call_describe(&mut *store).await.map(Returned::Describe),
                    Operation::Health => Err(not_exported(ApiVersion::V1_0_0, "health")),
                }
            }
            Self::V1_1_0(pre) => {
                let handler = pre.instantiate_async(&mut *store).await?;
                let handler = handler.symphony_extension_handler();
                match operation {
                    Operation::Invoke(request) => {
                        handler.call_invoke(&mut *store, &request).await.map(Returned::Invoke)
                    }
                    Operation::Describe => handler.call_describe(&mut *store).await.map(Returned::Describe),
                    Operation::Health => handler.call_health(&mut *store).await.map(Returned::Health),
                }
            }
        }
    }
}

fn not_exported(version: ApiVersion, function: &str) -> wasmtime::Error {
    wasmtime::format_err!("API {version} guests do not export `{function}`")
}
