//! `echo`: returns its input payload unchanged, content type and bytes alike.
//!
//! The smallest useful extension; the host's tests use it to check the plumbing.

use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// The echo extension.
struct Echo;

impl Extension for Echo {
    fn features() -> Vec<String> {
        vec!["echo".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        Ok(Response::new(request.input))
    }
}

register_extension!(Echo);
