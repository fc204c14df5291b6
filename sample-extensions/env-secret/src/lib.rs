//! `env-secret` (hostile): tries to read environment variables it was never granted.
//!
//! The manifest asks for `GREETING` only. The guest reads `GREETING`, `SECRET_TOKEN`, `HOME` and
//! `PATH` with `std::env::var`, and lists every name `std::env::vars()` yields.
//!
//! The host is expected to build the guest's environment from the platform policy, holding only
//! the granted names with policy-supplied values, and never to pass its own process environment
//! through: `secret_token`, `home` and `path` stay `null` and `all_vars` is at most
//! `["GREETING"]`. Output:
//! `{"greeting": str|null, "secret_token": str|null, "home": str|null, "path": str|null,
//! "all_vars": [names...]}`.

use serde::Serialize;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// The env-secret extension.
struct EnvSecret;

/// What the guest could see.
#[derive(Serialize)]
struct Report {
    greeting: Option<String>,
    secret_token: Option<String>,
    home: Option<String>,
    path: Option<String>,
    /// Every variable name visible to the guest, sorted.
    all_vars: Vec<String>,
}

/// A variable's value, if present; non-Unicode values are shown lossily rather than hidden.
fn var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

impl Extension for EnvSecret {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "reads-environment".into()]
    }

    fn invoke(_request: Request) -> Result<Response, ExtensionError> {
        let mut all_vars: Vec<String> =
            std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()).collect();
        all_vars.sort();
        Response::json(&Report {
            greeting: var("GREETING"),
            secret_token: var("SECRET_TOKEN"),
            home: var("HOME"),
            path: var("PATH"),
            all_vars,
        })
    }
}

register_extension!(EnvSecret);
