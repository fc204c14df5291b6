//! [`register_extension!`]: turns an [`Extension`] into the component's `handler` exports.
//!
//! The macro expands in the author's crate so that `CARGO_PKG_NAME` / `CARGO_PKG_VERSION` are the
//! author's (the name can be overridden). It declares a private marker type implementing
//! [`ExtensionExport`], and this module's blanket implementation turns every such marker into the
//! generated `Guest` trait, converting the generated types to the SDK's and back. Authors never
//! name anything here.

use crate::Extension;
use crate::bindings::exports::symphony::extension::handler as wit_handler;
use crate::bindings::symphony::extension::types as wit;

/// Implemented by the marker type [`register_extension!`](crate::register_extension) declares:
/// which extension to export and under what name and version.
#[doc(hidden)]
pub trait ExtensionExport {
    /// The author's extension.
    type Extension: Extension;
    /// The extension's name: the author's crate name unless overridden.
    const NAME: &'static str;
    /// The author's crate version.
    const VERSION: &'static str;
}

impl<T: ExtensionExport> wit_handler::Guest for T {
    fn describe() -> wit::Metadata {
        wit::Metadata {
            name: T::NAME.to_owned(),
            version: T::VERSION.to_owned(),
            features: T::Extension::features(),
        }
    }

    fn invoke(request: wit_handler::Request) -> Result<wit_handler::Response, wit_handler::ExtensionError> {
        T::Extension::invoke(request.into()).map(Into::into).map_err(Into::into)
    }

    #[cfg(not(feature = "api-1-0"))]
    fn health() -> wit::HealthStatus {
        T::Extension::health().into()
    }
}

/// Exports an [`Extension`] implementation as this component's `handler`.
///
/// Use it once, in the crate (a `cdylib`) that builds the component. The extension's name and
/// version reported by `describe` are the crate's `package.name` and `package.version`; write
/// `register_extension!(MyType, name = "other")` to report another name, for instance when two
/// crates of one workspace build two versions of the same extension (cargo refuses two packages
/// with one name). The name must match `name` in `extension.toml`.
///
/// ```standalone_crate
/// use symphony_guest_sdk::{Extension, ExtensionError, Request, Response};
///
/// struct Shout;
///
/// impl Extension for Shout {
///     fn invoke(request: Request) -> Result<Response, ExtensionError> {
///         let text: String = request.input.parse_json()?;
///         Response::json(&text.to_uppercase())
///     }
/// }
///
/// symphony_guest_sdk::register_extension!(Shout);
/// ```
#[macro_export]
macro_rules! register_extension {
    ($extension:ty $(,)?) => {
        $crate::register_extension!($extension, name = ::core::env!("CARGO_PKG_NAME"));
    };
    ($extension:ty, name = $name:expr $(,)?) => {
        // The generated export glue is `unsafe` ABI code; the author's own code keeps its lints.
        #[allow(unsafe_code)]
        const _: () = {
            struct SymphonyExtensionExport;

            impl $crate::__private::ExtensionExport for SymphonyExtensionExport {
                type Extension = $extension;
                const NAME: &'static str = $name;
                const VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");
            }

            $crate::bindings::export_extension!(
                SymphonyExtensionExport with_types_in $crate::bindings
            );
        };
    };
}
