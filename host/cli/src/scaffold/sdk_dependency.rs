//! [`SdkDependency`]: how a new extension crate depends on `symphony-guest-sdk`, decided from
//! where it is created.
//!
//! Inside a Symphony checkout, a crate its workspace `members` match (`sample-extensions/*`)
//! inherits the SDK from the workspace, as the samples do; any other crate in the checkout gets
//! a relative `path` to the checkout's `guest-sdk` and a `[workspace]` of its own (cargo refuses
//! a package inside a workspace that does not list it). Outside any checkout the crate points at
//! the `guest-sdk` of the checkout this `symphony` binary was built from. Writing the files is
//! the scaffold's job; this file only looks at the directories around the new crate.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use symphony_types::config_file::read_toml;

/// The SDK's package name, which tells a Symphony checkout from any other workspace.
const SDK_PACKAGE: &str = "symphony-guest-sdk";
/// Where the SDK sits in a Symphony checkout, relative to its root.
const SDK_DIR_IN_CHECKOUT: &str = "guest-sdk";

/// How the new crate names the SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SdkDependency {
    /// A member of a Symphony checkout's workspace: `symphony-guest-sdk.workspace = true`.
    Workspace {
        /// The checkout's root.
        root: PathBuf,
    },
    /// A `path =` dependency.
    Path {
        /// The value of `path`, relative to the crate or absolute.
        path: String,
        /// Which checkout's SDK it is.
        origin: SdkOrigin,
        /// Where the crate stands with respect to an enclosing cargo workspace.
        layout: CrateLayout,
    },
}

/// Which checkout a `path` dependency points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SdkOrigin {
    /// The Symphony checkout the crate is created in (a relative path).
    EnclosingCheckout,
    /// The checkout this `symphony` binary was built from (an absolute path; fine on this
    /// machine, to be replaced by a git or registry dependency to build anywhere else).
    BuildCheckout,
}

/// The crate's relation to the cargo workspace around it, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrateLayout {
    /// No workspace around it: the crate is its own root.
    Standalone,
    /// Inside a workspace that does not list it: it declares an empty `[workspace]` of its own.
    OwnWorkspace,
    /// A member of a workspace that is not a Symphony checkout: that workspace is the root.
    ForeignMember,
}

impl CrateLayout {
    /// Whether the crate's `Cargo.toml` is the root one (so its `[profile]` applies).
    pub(crate) fn is_root(self) -> bool {
        !matches!(self, Self::ForeignMember)
    }
}

/// The `guest-sdk` of the checkout this binary was built from.
pub(crate) fn build_checkout_sdk() -> PathBuf {
    // <checkout>/host/cli → <checkout>/guest-sdk
    let cli_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sdk = cli_dir.ancestors().nth(2).unwrap_or(cli_dir).join(SDK_DIR_IN_CHECKOUT);
    sdk.canonicalize().unwrap_or(sdk)
}

/// How a crate created at `crate_dir` (absolute, symlinks resolved where it exists) should
/// depend on the SDK; `build_sdk` is [`build_checkout_sdk`] outside tests.
pub(crate) fn for_crate_dir(crate_dir: &Path, build_sdk: &Path) -> SdkDependency {
    let outside = |layout| SdkDependency::Path {
        path: build_sdk.to_string_lossy().into_owned(),
        origin: SdkOrigin::BuildCheckout,
        layout,
    };
    // Cargo takes the nearest enclosing `[workspace]` as the root; so does this.
    let Some((root, workspace, is_checkout)) = enclosing_workspace(crate_dir) else {
        return outside(CrateLayout::Standalone);
    };
    let relative = crate_dir.strip_prefix(&root).unwrap_or(crate_dir);
    let member = workspace.lists(relative);
    match (is_checkout, member) {
        (true, true) => SdkDependency::Workspace { root },
        (true, false) => {
            let up = relative.components().filter(|c| matches!(c, Component::Normal(_))).count();
            SdkDependency::Path {
                path: format!("{}{SDK_DIR_IN_CHECKOUT}", "../".repeat(up)),
                origin: SdkOrigin::EnclosingCheckout,
                layout: CrateLayout::OwnWorkspace,
            }
        }
        (false, true) => outside(CrateLayout::ForeignMember),
        (false, false) => outside(CrateLayout::OwnWorkspace),
    }
}

/// `crate_dir` made absolute with symlinks resolved as far as it exists (the rest, not yet
/// created, appended as given), so it compares with canonical checkout paths.
pub(crate) fn resolve(crate_dir: &Path) -> PathBuf {
    let absolute = std::path::absolute(crate_dir).unwrap_or_else(|_| crate_dir.to_path_buf());
    for existing in absolute.ancestors() {
        if let Ok(canonical) = existing.canonicalize() {
            let rest = absolute.strip_prefix(existing).unwrap_or(Path::new(""));
            return canonical.join(rest);
        }
    }
    absolute
}

/// The parts of a `Cargo.toml` this file reads.
#[derive(Debug, Deserialize)]
struct CargoManifest {
    package: Option<Package>,
    workspace: Option<Workspace>,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
struct Workspace {
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl Workspace {
    /// Whether the crate at `relative` (to the workspace root) is a member: a `members` glob
    /// (`*` and `?` within one path segment, as the samples' `sample-extensions/*`) matches it
    /// and no `exclude` path holds it.
    fn lists(&self, relative: &Path) -> bool {
        let segments: Vec<String> = normal_segments(relative);
        let matched = self.members.iter().any(|pattern| {
            let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
            pattern.len() == segments.len()
                && pattern.iter().zip(&segments).all(|(p, s)| segment_matches(p.as_bytes(), s.as_bytes()))
        });
        let excluded = self.exclude.iter().any(|path| {
            let excluded = normal_segments(Path::new(path));
            segments.starts_with(&excluded)
        });
        matched && !excluded
    }
}

fn normal_segments(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// One glob segment against one path segment: `*` any run of characters, `?` one.
fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| segment_matches(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && segment_matches(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && segment_matches(rest, &text[1..]),
    }
}

/// The nearest directory above `crate_dir` whose `Cargo.toml` has a `[workspace]`, that
/// workspace, and whether it is a Symphony checkout (its `guest-sdk` is the SDK package).
fn enclosing_workspace(crate_dir: &Path) -> Option<(PathBuf, Workspace, bool)> {
    crate_dir.ancestors().skip(1).find_map(|dir| {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            return None;
        }
        // An unreadable manifest is not a workspace root cargo could use either.
        let workspace = read_toml::<CargoManifest>(&manifest).ok()?.workspace?;
        let sdk_manifest = dir.join(SDK_DIR_IN_CHECKOUT).join("Cargo.toml");
        let is_checkout = read_toml::<CargoManifest>(&sdk_manifest)
            .ok()
            .and_then(|m| m.package)
            .is_some_and(|p| p.name == SDK_PACKAGE);
        Some((dir.to_path_buf(), workspace, is_checkout))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake Symphony checkout: a workspace listing `exts/*` and `tools/one`, with the SDK.
    fn checkout() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("Cargo.toml", "[workspace]\nmembers = [\"exts/*\", \"tools/one\"]\nexclude = [\"exts/old\"]\n");
        write("guest-sdk/Cargo.toml", "[package]\nname = \"symphony-guest-sdk\"\nversion = \"0.1.0\"\n");
        dir
    }

    const BUILD_SDK: &str = "/opt/symphony/guest-sdk";

    fn dependency(dir: &Path) -> SdkDependency {
        for_crate_dir(&resolve(dir), Path::new(BUILD_SDK))
    }

    #[test]
    fn a_member_of_the_checkout_inherits_from_the_workspace() {
        let checkout = checkout();
        let root = checkout.path().canonicalize().unwrap();
        assert_eq!(
            dependency(&checkout.path().join("exts/hello")),
            SdkDependency::Workspace { root: root.clone() }
        );
        assert_eq!(dependency(&checkout.path().join("tools/one")), SdkDependency::Workspace { root });
    }

    #[test]
    fn elsewhere_in_the_checkout_a_relative_path_and_a_workspace_of_its_own() {
        let checkout = checkout();
        for (dir, path) in
            [("hello", "../guest-sdk"), ("a/b/hello", "../../../guest-sdk"), ("exts/old", "../../guest-sdk")]
        {
            assert_eq!(
                dependency(&checkout.path().join(dir)),
                SdkDependency::Path {
                    path: path.to_owned(),
                    origin: SdkOrigin::EnclosingCheckout,
                    layout: CrateLayout::OwnWorkspace
                },
                "{dir}"
            );
        }
    }

    #[test]
    fn outside_any_checkout_the_build_checkouts_sdk_by_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            dependency(&dir.path().join("hello")),
            SdkDependency::Path {
                path: BUILD_SDK.to_owned(),
                origin: SdkOrigin::BuildCheckout,
                layout: CrateLayout::Standalone
            }
        );
    }

    #[test]
    fn inside_a_foreign_workspace_the_membership_decides_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = [\"crates/*\"]\n").unwrap();
        let layout = |sub: &str| match dependency(&dir.path().join(sub)) {
            SdkDependency::Path { origin: SdkOrigin::BuildCheckout, layout, .. } => Some(layout),
            _ => None,
        };
        assert_eq!(layout("crates/hello"), Some(CrateLayout::ForeignMember));
        assert_eq!(layout("elsewhere/hello"), Some(CrateLayout::OwnWorkspace));
    }

    #[test]
    fn this_binarys_checkout_holds_the_sdk() {
        assert!(build_checkout_sdk().join("Cargo.toml").is_file());
    }

    #[test]
    fn globs_match_within_one_segment() {
        assert!(segment_matches(b"*", b"hello"));
        assert!(segment_matches(b"ext-?", b"ext-1"));
        assert!(segment_matches(b"*-v*", b"summarize-v2"));
        assert!(!segment_matches(b"ext-?", b"ext-12"));
        assert!(!segment_matches(b"host", b"hosts"));
    }
}
