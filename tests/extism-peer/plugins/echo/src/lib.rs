//! Extism twin of `sample-extensions/echo`: returns its input bytes unchanged.
//!
//! Exported as `invoke`, the name of Symphony's handler export, so both sides of the benchmark
//! call the same operation on the same bytes.

/// The functions Extism calls. `#[plugin_fn]` drops doc comments, so the export lives in a
/// private module where none is required; `no_mangle` exports it all the same.
mod exports {
    use extism_pdk::{FnResult, plugin_fn};

    /// Return the input unchanged.
    #[plugin_fn]
    pub fn invoke(input: Vec<u8>) -> FnResult<Vec<u8>> {
        Ok(input)
    }
}
