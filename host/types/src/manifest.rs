//! The extension manifest: the TOML file beside a component that says what it is, what it
//! provides and what it asks to consume.
//!
//! Parsing rejects unknown fields and reports `file:line` plus the field path. Turning declared
//! limits into effective ones is `policy`'s job.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::capability::{DeclaredCapabilities, resolve_declared};
use crate::config_file::{ConfigFileError, read_toml};
use crate::expected_profile::ExpectedProfile;
use crate::limits::{DeclaredLimits, LimitName};

/// File name the CLI looks for in an extension directory.
pub const MANIFEST_FILE_NAME: &str = "extension.toml";

/// How much the platform cares about an extension's work when resources are short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Shed first.
    #[default]
    Optional,
    /// Admitted after essential work.
    Recommended,
    /// Admitted first.
    Essential,
}

impl Priority {
    /// Every class, lowest first (the order the reservation pool reports its queues in).
    pub const ALL: [Self; 3] = [Self::Optional, Self::Recommended, Self::Essential];

    /// As written in manifests, headers and metric labels.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Recommended => "recommended",
            Self::Essential => "essential",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    name: String,
    version: semver::Version,
    #[serde(default)]
    description: String,
    component: PathBuf,
    #[serde(default)]
    priority: Priority,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    limits: DeclaredLimits,
    #[serde(default)]
    capabilities: DeclaredCapabilities,
    #[serde(default)]
    expected: ExpectedProfile,
    #[serde(default)]
    schema: SchemaFiles,
    #[serde(default = "idempotent_by_default")]
    idempotent: bool,
}

const fn idempotent_by_default() -> bool {
    true
}

/// `[schema]`: JSON Schema files for the extension's input and output, relative to the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFiles {
    /// Schema every input must satisfy (resolved against the manifest's directory once loaded).
    pub input: Option<PathBuf>,
    /// Schema every output satisfies.
    pub output: Option<PathBuf>,
}

impl SchemaFiles {
    /// The first path that is absolute or climbs out of the manifest's directory, with its
    /// field name: schema files live beside the manifest, so a manifest cannot make the host
    /// read any other file.
    fn escaping(&self) -> Option<(&'static str, &Path)> {
        let escapes = |path: &Path| {
            path.components()
                .any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
        };
        [("schema.input", self.input.as_deref()), ("schema.output", self.output.as_deref())]
            .into_iter()
            .find_map(|(field, path)| path.filter(|p| escapes(p)).map(|p| (field, p)))
    }
}

/// A parsed, validated extension manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionManifest {
    /// The manifest file itself.
    pub manifest_path: PathBuf,
    /// Extension name (lowercase letters, digits and `-`).
    pub name: String,
    /// Extension version.
    pub version: semver::Version,
    /// One line saying what it does.
    pub description: String,
    /// The component file, resolved against the manifest's directory.
    pub component_path: PathBuf,
    /// Admission priority.
    pub priority: Priority,
    /// Features this extension provides.
    pub features: Vec<String>,
    /// Limits the extension asks for; the policy fills gaps and clamps.
    pub limits: DeclaredLimits,
    /// Capabilities the extension asks for (host paths resolved); the policy decides.
    pub capabilities: DeclaredCapabilities,
    /// What an ordinary call uses (`[expected]`), judged by the health monitor.
    pub expected: ExpectedProfile,
    /// Data contracts (`[schema]`): JSON Schema files, resolved against the manifest's directory.
    pub schema: SchemaFiles,
    /// Whether running a call twice is harmless (`idempotent`, default `true`). `false` (it
    /// posts to a network service, charges a card…) makes a resumed workflow stop at a step of
    /// it that was started but never recorded as completed, until an operator decides.
    pub idempotent: bool,
}

impl ExtensionManifest {
    /// Read and validate a manifest file.
    ///
    /// # Errors
    /// [`ConfigFileError`] naming the file, line and field.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let file: ManifestFile = read_toml(path)?;
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let at = |field: &str, message: String| ConfigFileError::at_field(path, &text, field, message);

        if file.name.is_empty()
            || !file.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(at(
                "name",
                format!("`{}` is not a valid name: use lowercase letters, digits and `-`", file.name),
            ));
        }
        if file.component.as_os_str().is_empty() {
            return Err(at("component", "must name the component file".into()));
        }
        for &name in LimitName::ALL {
            if file.limits.get(name) == Some(0) {
                return Err(at(
                    &format!("limits.{}", name.as_str()),
                    "must be greater than 0 (leave it out to take the platform default)".into(),
                ));
            }
        }
        if let Some(bad) = file.capabilities.filesystem.iter().find(|d| !d.guest.starts_with('/')) {
            return Err(at(
                "capabilities.filesystem",
                format!("guest path `{}` must be absolute (e.g. \"/data\")", bad.guest),
            ));
        }
        if let Some(field) = file.expected.zero_field() {
            return Err(at(
                field,
                "must be greater than 0 (leave it out when there is no typical value)".into(),
            ));
        }
        if let Some((field, bad)) = file.schema.escaping() {
            return Err(at(
                field,
                format!("`{}` must be a relative path inside the extension's directory", bad.display()),
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Some(bad) = file.features.iter().find(|f| f.trim().is_empty()) {
            return Err(at("features", format!("feature names must not be empty (got {bad:?})")));
        }
        Ok(Self {
            manifest_path: path.to_path_buf(),
            name: file.name,
            version: file.version,
            description: file.description,
            component_path: dir.join(file.component),
            priority: file.priority,
            features: file.features,
            limits: file.limits,
            capabilities: resolve_declared(file.capabilities, dir),
            expected: file.expected,
            schema: SchemaFiles {
                input: file.schema.input.map(|p| dir.join(p)),
                output: file.schema.output.map(|p| dir.join(p)),
            },
            idempotent: file.idempotent,
        })
    }

    /// The directory holding the manifest (and, for sample crates, `Cargo.toml`).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }

    /// `name@version`.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join(MANIFEST_FILE_NAME);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
        (dir, path)
    }

    #[test]
    fn parses_sizes_and_resolves_the_component() {
        let (_dir, path) = write(
            "name = \"echo\"\nversion = \"1.2.0\"\ncomponent = \"echo.wasm\"\npriority = \"essential\"\n\
             features = [\"echo\"]\n[limits]\nmemory_bytes = \"16 MiB\"\nfuel = 1_000\n",
        );
        let m = ExtensionManifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.limits.memory_bytes, Some(16 << 20));
        assert_eq!(m.limits.fuel, Some(1000));
        assert_eq!(m.priority, Priority::Essential);
        assert_eq!(m.component_path, path.with_file_name("echo.wasm"));
        assert_eq!(m.id(), "echo@1.2.0");
        assert!(m.idempotent, "calls are idempotent unless the manifest says not");
    }

    #[test]
    fn idempotent_false_is_kept() {
        let (_dir, path) =
            write("name = \"poster\"\nversion = \"1.0.0\"\ncomponent = \"p.wasm\"\nidempotent = false\n");
        let m = ExtensionManifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!m.idempotent);
    }

    #[test]
    fn bad_limit_names_its_line_and_field() {
        let (_dir, path) = write(
            "name = \"echo\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\n[limits]\nmemory_bytes = \"lots\"\n",
        );
        let err = ExtensionManifest::load(&path).err();
        assert_eq!(err.as_ref().and_then(|e| e.line), Some(5));
        assert_eq!(err.as_ref().and_then(|e| e.field.as_deref()), Some("limits.memory_bytes"));
    }

    #[test]
    fn zero_limit_and_bad_name_are_rejected() {
        let (_dir, path) =
            write("name = \"echo\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\n[limits]\nfuel = 0\n");
        let err = ExtensionManifest::load(&path).err();
        assert_eq!(err.as_ref().and_then(|e| e.field.as_deref()), Some("limits.fuel"));
        assert_eq!(err.as_ref().and_then(|e| e.line), Some(5));

        let (_dir, path) = write("name = \"Echo!\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\n");
        let err = ExtensionManifest::load(&path).err();
        assert_eq!(err.as_ref().and_then(|e| e.line), Some(1));
    }

    #[test]
    fn expected_profile_parses_and_a_zero_names_its_field() {
        let (_dir, path) = write(
            "name = \"e\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\n[expected]\nfuel = 1_000\nmemory_bytes = \"2 MiB\"\n",
        );
        let m = ExtensionManifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.expected.fuel, m.expected.memory_bytes), (Some(1000), Some(2 << 20)));
        let (_dir, path) =
            write("name = \"e\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\n[expected]\nlatency_ms = 0\n");
        let err = ExtensionManifest::load(&path).err();
        assert_eq!(err.as_ref().and_then(|e| e.field.as_deref()), Some("expected.latency_ms"));
        assert_eq!(err.as_ref().and_then(|e| e.line), Some(5));
    }

    #[test]
    fn schema_files_resolve_beside_the_manifest_and_may_not_escape_it() {
        let (_dir, path) = write(
            "name = \"e\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\n[schema]\ninput = \"schemas/in.json\"\n",
        );
        let m = ExtensionManifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.schema.input, Some(path.with_file_name("schemas").join("in.json")));
        assert_eq!(m.schema.output, None);
        for bad in ["../secret.json", "/etc/passwd"] {
            let (_dir, path) = write(&format!(
                "name = \"e\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\n[schema]\noutput = \"{bad}\"\n"
            ));
            let err = ExtensionManifest::load(&path).err();
            assert_eq!(err.as_ref().and_then(|e| e.field.as_deref()), Some("schema.output"), "{bad}");
            assert_eq!(err.as_ref().and_then(|e| e.line), Some(5), "{bad}");
        }
        let (_dir, path) =
            write("name = \"e\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\n[schema]\nfoo = \"x\"\n");
        assert_eq!(ExtensionManifest::load(&path).err().and_then(|e| e.line), Some(5));
    }

    #[test]
    fn unknown_field_and_bad_version_are_rejected() {
        let (_dir, path) = write("name = \"e\"\nversion = \"1.0.0\"\ncomponent = \"e.wasm\"\nfuel = 5\n");
        assert_eq!(ExtensionManifest::load(&path).err().and_then(|e| e.line), Some(4));
        let (_dir, path) = write("name = \"e\"\nversion = \"one\"\ncomponent = \"e.wasm\"\n");
        let err = ExtensionManifest::load(&path).err();
        assert_eq!(err.as_ref().and_then(|e| e.field.as_deref()), Some("version"));
    }
}
