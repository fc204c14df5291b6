//! Identity at load: what a component says it is (`describe()`) against what its manifest
//! says. Asked once, when the extension is loaded, in its own sandboxed call under small
//! limits; a component naming another extension or version, or providing fewer features than
//! its manifest declares, is refused with [`HostError::IdentityMismatch`], and what it returned
//! is bounded by the `metadata_bytes` and `metadata_features` limits.

use crate::sandbox::ExtensionMetadata;
use symphony_types::error::HostError;
use symphony_types::limits::Limits;
use symphony_types::manifest::ExtensionManifest;

/// Most fuel the identity call may use, in fuel units (the extension's own limit if lower):
/// `describe()` returns constants, so this is instantiation plus a little.
pub const IDENTITY_FUEL: u64 = 20_000_000;
/// Longest the identity call may run, in milliseconds (the extension's own deadline if lower).
pub const IDENTITY_DEADLINE_MS: u64 = 1_000;

/// Refuse metadata over the limits: the bytes of name, version and features together, and the
/// number of features.
///
/// # Errors
/// [`HostError::MetadataTooLarge`].
pub(crate) fn check_size(
    name: &str,
    version: &str,
    features: &[String],
    limits: &Limits,
) -> Result<(), HostError> {
    let size_bytes = (name.len() + version.len() + features.iter().map(String::len).sum::<usize>()) as u64;
    let count = features.len() as u64;
    if size_bytes > limits.metadata_bytes || count > limits.metadata_features {
        return Err(HostError::MetadataTooLarge {
            size_bytes,
            limit_bytes: limits.metadata_bytes,
            features: count,
            limit_features: limits.metadata_features,
        });
    }
    Ok(())
}

/// Compare what the component says with the manifest.
///
/// # Errors
/// [`HostError::IdentityMismatch`] naming both identities and the missing features.
pub(crate) fn verify(manifest: &ExtensionManifest, described: &ExtensionMetadata) -> Result<(), HostError> {
    let same_name = described.name == manifest.name;
    let same_version = described.version == manifest.version.to_string();
    let missing_features: Vec<String> =
        manifest.features.iter().filter(|f| !described.features.contains(f)).cloned().collect();
    if same_name && same_version && missing_features.is_empty() {
        return Ok(());
    }
    Err(HostError::IdentityMismatch {
        manifest: manifest.id(),
        component: format!("{}@{}", described.name, described.version),
        missing_features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> ExtensionManifest {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extension.toml");
        std::fs::write(&path, text).unwrap();
        ExtensionManifest::load(&path).unwrap()
    }

    fn described(name: &str, version: &str, features: &[&str]) -> ExtensionMetadata {
        ExtensionMetadata {
            name: name.into(),
            version: version.into(),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn name_version_and_declared_features_must_match() {
        let m =
            manifest("name = \"liar\"\nversion = \"1.0.0\"\ncomponent = \"x.wasm\"\nfeatures = [\"a\"]\n");
        assert!(verify(&m, &described("liar", "1.0.0", &["a", "b"])).is_ok());
        let err = verify(&m, &described("totally-trusted", "9.9.9", &["a"])).unwrap_err();
        assert!(
            matches!(&err, HostError::IdentityMismatch { manifest, component, missing_features }
                if manifest == "liar@1.0.0" && component == "totally-trusted@9.9.9" && missing_features.is_empty()),
            "{err:?}"
        );
        let err = verify(&m, &described("liar", "1.0.0", &["b"])).unwrap_err();
        assert!(
            matches!(err, HostError::IdentityMismatch { missing_features, .. } if missing_features == ["a"])
        );
        assert!(verify(&m, &described("liar", "1.0.1", &["a"])).is_err());
    }

    #[test]
    fn metadata_is_bounded_in_bytes_and_in_features() {
        let limits = Limits::default().metadata_bytes(16).metadata_features(2);
        assert!(check_size("echo", "1.0.0", &["a".into(), "b".into()], &limits).is_ok());
        let many = vec!["f".to_owned(); 3];
        assert!(matches!(
            check_size("e", "1", &many, &limits),
            Err(HostError::MetadataTooLarge { features: 3, .. })
        ));
        let long = "n".repeat(17);
        assert!(matches!(
            check_size(&long, "1", &[], &limits),
            Err(HostError::MetadataTooLarge { size_bytes: 18, limit_bytes: 16, .. })
        ));
    }
}
