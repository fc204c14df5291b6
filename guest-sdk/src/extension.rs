//! The [`Extension`] trait: what an author implements.
//!
//! Wiring the implementation to the component's exports is [`register_extension!`]'s job
//! (`export.rs`); the name and version reported to the host come from the author's crate.
//!
//! [`register_extension!`]: crate::register_extension

use crate::{ExtensionError, HealthStatus, Request, Response};

/// A Symphony extension.
///
/// The host instantiates the component afresh for every call, so there is no `self`: nothing
/// survives from one call to the next, and an implementation is usually a unit struct.
/// Implement [`invoke`](Self::invoke), optionally override the defaults, then register the type
/// with [`register_extension!`](crate::register_extension).
///
/// ```
/// use symphony_guest_sdk::{Extension, ExtensionError, Request, Response};
///
/// struct Echo;
///
/// impl Extension for Echo {
///     fn features() -> Vec<String> {
///         vec!["echo".into()]
///     }
///
///     fn invoke(request: Request) -> Result<Response, ExtensionError> {
///         Ok(Response::new(request.input))
///     }
/// }
/// # // `register_extension!(Echo);` goes at the crate root of a `cdylib`.
/// ```
pub trait Extension {
    /// Features this extension provides, matched by the host against what callers require.
    /// Defaults to none.
    fn features() -> Vec<String> {
        Vec::new()
    }

    /// Handles one request.
    ///
    /// # Errors
    /// The [`ExtensionError`] variant saying what failed; the host decides from it whether to
    /// retry ([`ExtensionError::is_transient`]). Traps (panics, running out of fuel, memory or
    /// time) are reported by the host on its own and need no variant.
    fn invoke(request: Request) -> Result<Response, ExtensionError>;

    /// Says how the extension is doing, when the host asks outside any request. Defaults to
    /// [`HealthStatus::Ready`].
    ///
    /// Runs in a fresh instance like every call: report what is known statically or can be
    /// checked cheaply. Exported from API 1.1.0 on; built with the SDK's `api-1-0` feature the
    /// component has no `health` export, this is never called, and the host reports `Ready`.
    fn health() -> HealthStatus {
        HealthStatus::Ready
    }
}
