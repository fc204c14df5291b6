//! Generated wasmtime bindings for each supported WIT version. Private to the host: everything
//! public speaks Symphony's own types, converted in `call_state` and `sandbox`.
//!
//! The newest minor ([`v1_1_0`]) is generated in full and is the only one whose host imports are
//! linked: wasmtime's linker resolves `symphony:extension/host@1.0.0` to the `@1.1.0` definition
//! (same major, semver-compatible), so one set of host functions serves every 1.x guest. Older
//! minors generate only their `handler` export bindings and reuse the newest minor's `types` and
//! `host` (`with:`), which minor versions leave unchanged: the whole host converts one set of
//! types whatever version a guest was built against.

/// `symphony:extension@1.1.0`: adds `handler.health`.
pub(crate) mod v1_1_0 {
    wasmtime::component::bindgen!({
        path: "../wit/v1.1.0",
        world: "extension",
        exports: { default: async },
    });
}

/// `symphony:extension@1.0.0`: `describe` and `invoke`.
pub(crate) mod v1_0_0 {
    wasmtime::component::bindgen!({
        path: "../wit/v1.0.0",
        world: "extension",
        exports: { default: async },
        with: {
            "symphony:extension/types": super::v1_1_0::symphony::extension::types,
            "symphony:extension/host": super::v1_1_0::symphony::extension::host,
        },
    });
}
