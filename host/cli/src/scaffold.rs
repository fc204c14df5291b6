//! The files `symphony new` writes for an extension crate, rendered from the templates in
//! `scaffold/*.template`: `Cargo.toml` (its SDK dependency chosen by [`SdkDependency`]),
//! `extension.toml`, `src/lib.rs` (typed input, typed output, a typed error),
//! `tests/harness.rs` (the component under the real host) and `.gitignore`.
//!
//! `sample-extensions/hello` is what `symphony new hello --path sample-extensions` writes, kept
//! in the workspace so the templates are compiled, linted and tested with everything else; a test
//! below keeps the two identical. Validating the name and writing to disk is `new.rs`'s job.

pub(crate) mod extension_name;
pub(crate) mod sdk_dependency;

pub(crate) use extension_name::{ExtensionName, NameProblem};
pub(crate) use sdk_dependency::{CrateLayout, SdkDependency, SdkOrigin};

const CARGO_TOML_WORKSPACE: &str = include_str!("scaffold/cargo_toml_workspace.template");
const CARGO_TOML_PATH: &str = include_str!("scaffold/cargo_toml_path.template");
const EXTENSION_TOML: &str = include_str!("scaffold/extension_toml.template");
const LIB_RS: &str = include_str!("scaffold/lib_rs.template");
const HARNESS_RS: &str = include_str!("scaffold/harness_rs.template");
const GITIGNORE: &str = include_str!("scaffold/gitignore.template");

/// What the generated extension says it does (in both manifests).
const DESCRIPTION: &str = "Greets someone by name.";
/// An input the generated extension accepts, for the next steps `symphony new` prints.
pub(crate) const SAMPLE_INPUT: &str = r#"{"name":"Ada"}"#;

/// Sections only a root `Cargo.toml` may hold.
const ROOT_PROFILE: &str = "
# The harness runs wasmtime natively; optimised dependencies keep `cargo test` fast.
[profile.dev.package.\"*\"]
opt-level = 1
";
const OWN_WORKSPACE: &str = "
# A workspace of its own: this crate sits inside a cargo workspace that does not list it.
[workspace]
";

/// One file of the new crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScaffoldFile {
    /// Path inside the crate, `/`-separated.
    pub(crate) path: &'static str,
    /// Its content.
    pub(crate) contents: String,
}

/// Every file of a new extension crate called `name`, in the order they are listed to the user.
pub(crate) fn render(name: &ExtensionName, sdk: &SdkDependency) -> Vec<ScaffoldFile> {
    let fill = |template: &str| {
        template
            .replace("{{name}}", name.as_str())
            .replace("{{type_name}}", &name.type_name())
            .replace("{{description}}", DESCRIPTION)
    };
    let cargo_toml = match sdk {
        SdkDependency::Workspace { .. } => fill(CARGO_TOML_WORKSPACE),
        SdkDependency::Path { path, origin, layout } => {
            let note = match origin {
                SdkOrigin::EnclosingCheckout => "# The SDK of the Symphony checkout this crate sits in.",
                SdkOrigin::BuildCheckout => {
                    "# The SDK of the Symphony checkout `symphony` was built from: fine on this machine.\n\
                     # To build anywhere else, switch to a git or registry dependency, e.g.\n\
                     # symphony-guest-sdk = { git = \"<symphony repository>\" }"
                }
            };
            let mut root_sections = String::new();
            if layout.is_root() {
                root_sections.push_str(ROOT_PROFILE);
            }
            if *layout == CrateLayout::OwnWorkspace {
                root_sections.push_str(OWN_WORKSPACE);
            }
            fill(CARGO_TOML_PATH)
                .replace("{{sdk_note}}", note)
                .replace("{{sdk_path}}", &toml_string(path))
                // The template ends with a newline after the placeholder; keep exactly one.
                .replace("{{root_sections}}\n", &root_sections)
        }
    };
    vec![
        ScaffoldFile { path: "Cargo.toml", contents: cargo_toml },
        ScaffoldFile { path: "extension.toml", contents: fill(EXTENSION_TOML) },
        ScaffoldFile { path: "src/lib.rs", contents: fill(LIB_RS) },
        ScaffoldFile { path: "tests/harness.rs", contents: fill(HARNESS_RS) },
        ScaffoldFile { path: ".gitignore", contents: fill(GITIGNORE) },
    ]
}

/// `value` as a TOML basic string, quotes included.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn hello() -> ExtensionName {
        ExtensionName::parse("hello").unwrap()
    }

    fn checkout_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
    }

    #[test]
    fn the_hello_sample_is_exactly_what_new_writes_into_sample_extensions() {
        let root = checkout_root();
        let crate_dir = root.join("sample-extensions/hello");
        let sdk = sdk_dependency::for_crate_dir(&crate_dir, &sdk_dependency::build_checkout_sdk());
        assert_eq!(sdk, SdkDependency::Workspace { root });
        for file in render(&hello(), &sdk) {
            let committed = std::fs::read_to_string(crate_dir.join(file.path)).unwrap();
            assert!(
                committed == file.contents,
                "sample-extensions/hello/{} differs from its template: regenerate it with \
                 `symphony new hello --path <tmp>` and copy it over",
                file.path
            );
        }
    }

    #[test]
    fn every_placeholder_is_filled_in_every_layout() {
        let layouts = [
            SdkDependency::Workspace { root: PathBuf::from("/r") },
            SdkDependency::Path {
                path: "../guest-sdk".into(),
                origin: SdkOrigin::EnclosingCheckout,
                layout: CrateLayout::OwnWorkspace,
            },
            SdkDependency::Path {
                path: "/abs/guest-sdk".into(),
                origin: SdkOrigin::BuildCheckout,
                layout: CrateLayout::Standalone,
            },
            SdkDependency::Path {
                path: "/abs/guest-sdk".into(),
                origin: SdkOrigin::BuildCheckout,
                layout: CrateLayout::ForeignMember,
            },
        ];
        for sdk in &layouts {
            for file in render(&ExtensionName::parse("text-stats").unwrap(), sdk) {
                assert!(!file.contents.contains("{{"), "{}: {sdk:?}\n{}", file.path, file.contents);
            }
        }
    }

    #[test]
    fn a_path_dependency_carries_the_root_sections_its_layout_allows() {
        let cargo_toml = |origin, layout| {
            let sdk = SdkDependency::Path { path: "C:\\sdk \"x\"".into(), origin, layout };
            render(&hello(), &sdk).remove(0).contents
        };
        let standalone = cargo_toml(SdkOrigin::BuildCheckout, CrateLayout::Standalone);
        assert!(standalone.contains("path = \"C:\\\\sdk \\\"x\\\"\""), "{standalone}");
        assert!(standalone.contains("[profile.dev.package.\"*\"]") && !standalone.contains("[workspace]"));
        assert!(standalone.contains("git or registry dependency"), "{standalone}");
        let nested = cargo_toml(SdkOrigin::EnclosingCheckout, CrateLayout::OwnWorkspace);
        assert!(nested.contains("[profile.dev.package.\"*\"]") && nested.contains("\n[workspace]\n"));
        assert!(!nested.contains("git or registry dependency"), "{nested}");
        let member = cargo_toml(SdkOrigin::BuildCheckout, CrateLayout::ForeignMember);
        assert!(!member.contains("[profile") && !member.contains("[workspace]"), "{member}");
    }

    #[test]
    fn names_become_the_type_and_the_component_file() {
        let files = render(
            &ExtensionName::parse("text-stats").unwrap(),
            &SdkDependency::Workspace { root: PathBuf::from("/r") },
        );
        let file = |path: &str| files.iter().find(|f| f.path == path).map(|f| f.contents.as_str()).unwrap();
        assert!(file("src/lib.rs").contains("struct TextStatsExtension;"));
        assert!(file("extension.toml").contains("component = \"text-stats.wasm\""));
        assert!(file(".gitignore").contains("/text-stats.wasm"));
    }
}
