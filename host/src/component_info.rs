//! Facts read from a component before it ever runs: its content hash, the Symphony API version
//! it exports, and how many core instances instantiating it creates (so the instance limit is
//! reported as a typed error at load time rather than as an opaque instantiation failure).

use std::path::Path;

use wasmtime::component::Component;
use wasmtime::wasmparser::{Instance, Parser, Payload as WasmPayload};

use symphony_types::error::HostError;

/// WIT package every supported API version lives in.
pub const API_PACKAGE: &str = "symphony:extension";

/// An API version this host can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ApiVersion {
    /// `symphony:extension@1.0.0`: `describe` and `invoke`.
    #[serde(rename = "1.0.0")]
    V1_0_0,
    /// `symphony:extension@1.1.0`: adds `health`.
    #[serde(rename = "1.1.0")]
    V1_1_0,
}

impl ApiVersion {
    /// Every version this host links, oldest first.
    pub const SUPPORTED: [ApiVersion; 2] = [ApiVersion::V1_0_0, ApiVersion::V1_1_0];

    /// The newest version this host links: what new guests (and the guest SDK) target.
    pub const LATEST: ApiVersion = ApiVersion::V1_1_0;

    /// `1.0.0`, `1.1.0`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0_0 => "1.0.0",
            Self::V1_1_0 => "1.1.0",
        }
    }

    /// Whether guests of this version export `health` (1.1.0 and later). For older guests
    /// [`LoadedExtension::health`](crate::LoadedExtension::health) answers `Ready` itself.
    #[must_use]
    pub fn exports_health(self) -> bool {
        self >= Self::V1_1_0
    }

    fn handler_export(self) -> String {
        format!("{API_PACKAGE}/handler@{}", self.as_str())
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the host knows about a component before running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Lowercase hex sha256 of the component bytes.
    pub sha256: String,
    /// Size of the component file, in bytes.
    pub size_bytes: u64,
    /// Core module instantiations declared by the component (nested components included).
    pub core_instances: u64,
}

impl ComponentInfo {
    /// Hash and inspect component bytes.
    ///
    /// # Errors
    /// [`HostError::InvalidComponent`] when the bytes are not a well-formed binary.
    pub fn inspect(path: &Path, bytes: &[u8]) -> Result<Self, HostError> {
        let mut core_instances = 0u64;
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload.map_err(|e| HostError::InvalidComponent {
                path: path.to_path_buf(),
                reason: format!("malformed wasm: {e}"),
            })?;
            if let WasmPayload::InstanceSection(section) = payload {
                for instance in section {
                    let instance = instance.map_err(|e| HostError::InvalidComponent {
                        path: path.to_path_buf(),
                        reason: format!("malformed instance section: {e}"),
                    })?;
                    if matches!(instance, Instance::Instantiate { .. }) {
                        core_instances += 1;
                    }
                }
            }
        }
        Ok(Self {
            sha256: crate::integrity::sha256_hex(bytes),
            size_bytes: bytes.len() as u64,
            core_instances,
        })
    }
}

/// Which supported API version a compiled component exports: the newest `handler` export it has
/// that this host has bindings for (a component exporting several gets the newest one's).
///
/// # Errors
/// [`HostError::IncompatibleApi`] naming what the component exports instead.
pub(crate) fn detect_api_version(
    engine: &wasmtime::Engine,
    component: &Component,
) -> Result<ApiVersion, HostError> {
    let exports: Vec<String> =
        component.component_type().exports(engine).map(|(name, _)| name.to_owned()).collect();
    ApiVersion::SUPPORTED
        .iter()
        .rev()
        .copied()
        .find(|v| exports.iter().any(|e| *e == v.handler_export()))
        .ok_or_else(|| HostError::IncompatibleApi {
            found: if exports.is_empty() { "no exports".to_owned() } else { exports.join(", ") },
            supported: ApiVersion::SUPPORTED
                .iter()
                .map(|v| v.handler_export())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_versions_are_oldest_first_and_end_with_latest() {
        assert!(ApiVersion::SUPPORTED.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ApiVersion::SUPPORTED.last(), Some(&ApiVersion::LATEST));
    }

    #[test]
    fn handler_export_names_carry_the_version() {
        assert_eq!(ApiVersion::V1_0_0.handler_export(), "symphony:extension/handler@1.0.0");
        assert_eq!(ApiVersion::V1_1_0.handler_export(), "symphony:extension/handler@1.1.0");
    }

    #[test]
    fn only_1_1_and_later_export_health() {
        assert!(!ApiVersion::V1_0_0.exports_health());
        assert!(ApiVersion::V1_1_0.exports_health());
    }
}
