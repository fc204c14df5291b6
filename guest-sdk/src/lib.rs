//! Write Symphony extensions in Rust.
//!
//! An extension is a `cdylib` crate that implements [`Extension`] for a type and registers it
//! with [`register_extension!`]; `cargo build --target wasm32-wasip2` then produces the
//! component the Symphony host loads. The host creates a fresh instance for every call, and meters
//! it (fuel, memory, wall-clock time, input/output/log bytes) according to the extension's
//! `extension.toml` and the platform policy.
//!
//! ```standalone_crate
//! use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};
//!
//! struct Echo;
//!
//! impl Extension for Echo {
//!     fn features() -> Vec<String> {
//!         vec!["echo".into()]
//!     }
//!
//!     fn invoke(request: Request) -> Result<Response, ExtensionError> {
//!         Ok(Response::new(request.input))
//!     }
//! }
//!
//! register_extension!(Echo);
//! ```
//!
//! What lives where: [`Extension`] (the trait), [`register_extension!`] (the exports),
//! [`Request`] / [`Response`] / [`Payload`] (data), [`ExtensionError`] (typed failures),
//! [`HealthStatus`] (what [`Extension::health`] answers), [`host`] (logging, progress,
//! cancellation) and [`Retry`] (retrying the guest's own steps).
//!
//! # API versions
//!
//! The SDK targets the newest Symphony API, `symphony:extension@1.1.0`. The `api-1-0` feature
//! builds against the frozen 1.0.0 contract instead, for a component that must run on hosts that
//! only know 1.0.0: the code an author writes is the same, the component simply has no `health`
//! export. Cargo unifies features across a workspace, so in a workspace build every crate sharing
//! the SDK sees the feature; `symphony build` builds each extension crate on its own, which keeps
//! each component on the version its own `Cargo.toml` asks for.

// The generated glue names this crate by its package name, including from inside it.
extern crate self as symphony_guest_sdk;

#[doc(hidden)]
pub mod bindings;
mod error;
mod export;
mod extension;
#[cfg(all(feature = "harness", not(target_arch = "wasm32")))]
pub mod harness;
mod health;
pub mod host;
mod payload;
mod request;
mod response;
pub mod retry;

pub use error::ExtensionError;
pub use extension::Extension;
pub use health::HealthStatus;
pub use payload::Payload;
pub use request::{Request, RequestContext};
pub use response::Response;
pub use retry::{Backoff, Retry};

/// The `wit-bindgen` runtime the generated glue calls into; not part of the API.
#[doc(hidden)]
pub use wit_bindgen::rt as __wit_bindgen_rt;

/// Items [`register_extension!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::ExtensionExport;
}
