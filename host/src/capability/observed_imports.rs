//! Making filesystem, environment and name-lookup attempts visible. A guest resolves paths against its
//! preopens and reads variables from a list it fetches once, all inside its own libc, so the host
//! never sees the path or the name it wanted; what it does see is the guest asking for the
//! preopen list or the environment. These wrappers shadow those two WASI functions, answer
//! exactly as wasmtime-wasi does (from the granted context), and record the attempt as a denial
//! when nothing of that capability was granted. Name lookups (`resolve-addresses`) are never
//! granted: the wrapper records the name asked for and answers `permanent-resolver-failure`,
//! as wasmtime-wasi does with lookups switched off, without ever resolving anything.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::cli::WasiCliView;
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::cli::environment::Host as _;
use wasmtime_wasi::p2::bindings::filesystem::preopens::Host as _;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::ResolveAddressStream;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, Network};

use crate::call_state::CallState;
use symphony_types::capability::denials::CapabilityKind;

/// The WASI 0.2 interface versions wasmtime-wasi 48 links (guests of older 0.2.x resolve to them).
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";
const ENVIRONMENT: &str = "wasi:cli/environment@0.2.12";
const NAME_LOOKUP: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// Shadow `get-directories`, `get-environment` and `resolve-addresses` with recording wrappers.
///
/// # Errors
/// When the linker does not hold those interfaces (a wasmtime-wasi upgrade changed versions).
pub(crate) fn observe_denied_imports(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(PREOPENS)?.func_wrap("get-directories", |mut store, (): ()| {
        let state: &mut CallState = store.data_mut();
        if !state.fs_granted {
            state.denials.record(CapabilityKind::Filesystem, "preopened directories");
        }
        Ok((state.filesystem().get_directories()?,))
    })?;
    linker.instance(ENVIRONMENT)?.func_wrap("get-environment", |mut store, (): ()| {
        let state: &mut CallState = store.data_mut();
        if !state.env_granted {
            state.denials.record(CapabilityKind::Env, "environment variables");
        }
        Ok((state.cli().get_environment()?,))
    })?;
    linker.instance(NAME_LOOKUP)?.func_wrap(
        "resolve-addresses",
        |mut store, (_network, name): (Resource<Network>, String)| {
            store.data_mut().denials.record(CapabilityKind::NameLookup, &name);
            let refused: Result<Resource<ResolveAddressStream>, ErrorCode> =
                Err(ErrorCode::PermanentResolverFailure);
            Ok((refused,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
