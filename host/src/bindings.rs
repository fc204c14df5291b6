//! Generated wasmtime bindings for each supported WIT version. Private to the host: everything
//! public speaks Symphony's own types, converted in `call_state` and `sandbox`.

/// `symphony:extension@1.0.0`.
pub(crate) mod v1_0_0 {
    wasmtime::component::bindgen!({
        path: "../wit/v1.0.0",
        world: "extension",
        exports: { default: async },
    });
}
