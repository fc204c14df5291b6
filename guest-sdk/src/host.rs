//! Services the host offers every extension: structured [`log`]ging, [`progress`] reports and
//! the [`cancelled`] flag.
//!
//! Each is bounded by the host's policy (log volume is capped per call; excess is dropped and
//! counted by the host). Outside WebAssembly, where there is no host (an author's native unit
//! tests), logging and progress are discarded and [`cancelled`] is always false.

pub mod log;

/// Reports progress: `fraction` of the work done, clamped to 0.0..=1.0, with a short message.
pub fn progress(fraction: f32, message: &str) {
    let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
    #[cfg(target_arch = "wasm32")]
    crate::bindings::symphony::extension::host::progress(fraction, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (fraction, message);
}

/// True once the caller has cancelled this call; an extension should stop soon after, returning
/// any error (the host discards the result).
pub fn cancelled() -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::symphony::extension::host::cancelled();
    #[cfg(not(target_arch = "wasm32"))]
    return false;
}
