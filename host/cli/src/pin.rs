//! `symphony pin EXT`: trust a component built elsewhere. Records the sha256 of the component
//! file as it is now for its `name@version`; later loads of other bytes fail with `hash_mismatch`.
//!
//! Exit codes: 0 when pinned, 2 when it could not be (no such extension, a bad manifest, the
//! component unreadable, the state directory unusable).

use std::path::Path;
use std::process::ExitCode;

use symphony_host::integrity::sha256_hex;

use super::EXIT_UNUSABLE;
use super::command_error::CommandError;
use symphony_host::config::PlatformConfig;
use symphony_host::runtime::Runtime;
use symphony_host::state::StateDir;

pub(crate) fn run(config: PlatformConfig, state_dir: &Path, reference: &str) -> ExitCode {
    let pinned = (|| -> Result<(String, String, Option<String>), CommandError> {
        let runtime = Runtime::new(config)?;
        let manifest = runtime.find(reference)?;
        let bytes = std::fs::read(&manifest.component_path)
            .map_err(|source| CommandError::Read { path: manifest.component_path.clone(), source })?;
        let sha256 = sha256_hex(&bytes);
        let state = StateDir::open(state_dir)?;
        let previous = state.pin(&manifest.id(), &sha256, "symphony pin")?;
        Ok((manifest.id(), sha256, previous))
    })();
    match pinned {
        Ok((id, sha256, previous)) => {
            match previous {
                Some(old) if old != sha256 => println!("re-pinned {id}: {old} → {sha256}"),
                Some(_) => println!("{id} already pinned to {sha256}"),
                None => println!("pinned {id} to {sha256}"),
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}
