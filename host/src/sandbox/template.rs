//! The pre-instantiated template every call of one extension is instantiated from: one variant per
//! supported API version, each holding that version's generated export bindings (the pattern
//! Zed's extension host uses). Everything version-specific about calling a guest lives here; the
//! sandbox around a call (store, limits, typed errors) is the same for every version.
//!
//! Adding a minor version: a `bindings` module, an [`ApiVersion`] variant, a variant here and
//! its arm in [`Template::new`] and [`Template::run`]. Minor versions only add exports, and the
//! bindings share one set of WIT types, so older arms keep compiling untouched.
//!
//! `invoke`, the one export on the hot path, is called through its export index, found once
//! when the template is built: per call only that function is looked up and type-checked,
//! where the generated bindings would look up and check every `handler` export.

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, InstancePre};

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
/// exports, with the index of its `handler.invoke` export.
pub(super) struct Template {
    bindings: Bindings,
    invoke: ComponentExportIndex,
}

/// The generated export bindings of the version the guest exports.
enum Bindings {
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
        let handler = format!("symphony:extension/handler@{version}");
        let component = pre.component();
        let invoke = component
            .get_export_index(None, &handler)
            .and_then(|handler| component.get_export_index(Some(&handler), "invoke"))
            .ok_or_else(|| wasmtime::format_err!("no `{handler}.invoke` export"))?;
        let bindings = match version {
            ApiVersion::V1_0_0 => Bindings::V1_0_0(v1_0_0::ExtensionPre::new(pre)?),
            ApiVersion::V1_1_0 => Bindings::V1_1_0(v1_1_0::ExtensionPre::new(pre)?),
        };
        Ok(Self { bindings, invoke })
    }

    /// The version whose bindings this template calls through.
    pub(super) fn api_version(&self) -> ApiVersion {
        match self.bindings {
            Bindings::V1_0_0(_) => ApiVersion::V1_0_0,
            Bindings::V1_1_0(_) => ApiVersion::V1_1_0,
        }
    }

    fn instance_pre(&self) -> &InstancePre<CallState> {
        match &self.bindings {
            Bindings::V1_0_0(pre) => pre.instance_pre(),
            Bindings::V1_1_0(pre) => pre.instance_pre(),
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
        if let Operation::Invoke(request) = operation {
            let instance = self.instance_pre().instantiate_async(&mut *store).await?;
            // `handler.invoke` has the same signature in every 1.x version.
            let invoke = instance
                .get_typed_func::<(&types::Request,), (Result<types::Response, types::ExtensionError>,)>(
                    &mut *store,
                    &self.invoke,
                )?;
            let (returned,) = invoke.call_async(&mut *store, (&request,)).await?;
            return Ok(Returned::Invoke(returned));
        }
        // The generated bindings serve the rest. Their `Invoke` arms are not reached (handled
        // above) but keep each version's dispatch complete.
        match &self.bindings {
            Bindings::V1_0_0(pre) => {
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
            Bindings::V1_1_0(pre) => {
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
