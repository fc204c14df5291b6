//! `symphony new NAME [--path DIR]`: scaffold an extension crate at `DIR/NAME` (default: the
//! current directory) that builds, runs and tests as it is: typed input and output, a typed
//! error, a manifest with modest limits, and a test under the real host. Refuses a name that
//! cannot be an extension's and a crate's, and a target that already holds files (exit 2).
//!
//! What the files say is `scaffold.rs`'s; this file checks the arguments, writes the files
//! without overwriting anything, and prints the next commands.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::EXIT_UNUSABLE;
use super::command_error::CommandError;
use super::scaffold::{self, ExtensionName, SdkDependency, SdkOrigin, sdk_dependency};

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The extension's name (lowercase letters, digits and `-`): the crate, the extension and the
    /// directory created.
    name: String,
    /// The directory to create the crate in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    path: PathBuf,
}

/// What was created.
struct Created {
    crate_dir: PathBuf,
    files: Vec<&'static str>,
    sdk: SdkDependency,
}

pub(crate) fn run(args: &NewArgs) -> ExitCode {
    match create(args) {
        Ok(created) => {
            print_created(args, &created);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

fn create(args: &NewArgs) -> Result<Created, CommandError> {
    let name = ExtensionName::parse(&args.name)
        .map_err(|problem| CommandError::InvalidName { name: args.name.clone(), problem })?;
    let crate_dir = args.path.join(name.as_str());
    if !is_absent_or_empty_dir(&crate_dir) {
        return Err(CommandError::TargetExists { path: crate_dir });
    }
    let sdk = sdk_dependency::for_crate_dir(
        &sdk_dependency::resolve(&crate_dir),
        &sdk_dependency::build_checkout_sdk(),
    );
    let files = scaffold::render(&name, &sdk);
    for file in &files {
        write_new(&crate_dir.join(file.path), &file.contents)?;
    }
    Ok(Created { crate_dir, files: files.iter().map(|f| f.path).collect(), sdk })
}

fn is_absent_or_empty_dir(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        // Absent is fine; a file, or a directory we cannot read, is not.
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Write `contents` to a file that must not exist yet, creating its directory.
fn write_new(path: &Path, contents: &str) -> Result<(), CommandError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CommandError::Write { path, source }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    }
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(write_error(path))?;
    file.write_all(contents.as_bytes()).map_err(write_error(path))
}

fn print_created(args: &NewArgs, created: &Created) {
    let dir = created.crate_dir.display();
    println!("created extension `{}` in {dir}", args.name);
    for file in &created.files {
        println!("  {file}");
    }
    match &created.sdk {
        SdkDependency::Workspace { root } => {
            println!("SDK: inherited from the workspace at {}", root.display());
        }
        SdkDependency::Path { path, origin: SdkOrigin::EnclosingCheckout, .. } => {
            println!("SDK: path = \"{path}\" (this Symphony checkout)");
        }
        SdkDependency::Path { path, origin: SdkOrigin::BuildCheckout, .. } => {
            println!("SDK: path = \"{path}\" (the checkout `symphony` was built from;");
            println!("     switch to a git or registry dependency to build it anywhere else)");
            if !Path::new(path).join("Cargo.toml").is_file() {
                println!("warning: {path} holds no SDK any more: point Cargo.toml at one before building");
            }
        }
    }
    println!("next:");
    println!("  symphony build {dir}");
    println!("  symphony run {dir} --input '{}'", scaffold::SAMPLE_INPUT);
    println!("  cargo test --manifest-path {}", created.crate_dir.join("Cargo.toml").display());
}
