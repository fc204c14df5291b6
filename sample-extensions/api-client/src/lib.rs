//! `api-client`: fetches a JSON document from an HTTP service through `wasi:http`
//! (`outgoing-handler`), and handles the service's transient failures itself.
//!
//! Input JSON `{"url": "http://127.0.0.1:PORT/path", "attempts": 3, "max_body_bytes": 1048576}`
//! (`attempts` defaults to 3, `max_body_bytes` to 1 MiB). The guest GETs `url` up to `attempts`
//! times with [`Retry`], retrying only transient failures (5xx, 429, connection errors, timeouts)
//! and logging every attempt. On success it returns `{"status": u16, "body": <JSON, or the body
//! as a string when it is not JSON>, "attempts": N}`.
//!
//! When its own attempts are spent it returns the last `Unavailable`, so the host sees a
//! transient guest error only after the guest has already retried. Failures retrying cannot fix
//! are returned at once: a destination the platform denies (`UnableToComplete`), a body over the
//! host's `http_response_bytes` or the guest's own `max_body_bytes` (`ResourceExhausted`), other
//! 4xx answers (`UnableToComplete`). How one request maps onto these lives in `fetch.rs`; turning
//! the URL into request parts lives in `target.rs`.
//!
//! Retries happen at once: waiting between them would need a clock grant, and the call's deadline
//! bounds the whole exchange anyway.

mod fetch;
mod target;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::host::log;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, Retry, register_extension};

use crate::fetch::Fetched;
use crate::target::Target;

/// Attempts when the input names none, counting the first.
const DEFAULT_ATTEMPTS: u32 = 3;

/// Largest response body the guest buffers when the input names no cap, in bytes. The host's
/// `http_response_bytes` limit may cut a body off sooner.
const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The api-client extension.
struct ApiClient;

/// The expected input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// `http://` or `https://` URL to GET.
    url: String,
    /// Most attempts, counting the first.
    #[serde(default = "default_attempts")]
    attempts: u32,
    /// Largest body the guest buffers, in bytes.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: u64,
}

fn default_attempts() -> u32 {
    DEFAULT_ATTEMPTS
}

fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

/// The output on success.
#[derive(Serialize)]
struct Output {
    status: u16,
    body: serde_json::Value,
    attempts: u32,
}

impl Extension for ApiClient {
    fn features() -> Vec<String> {
        vec!["http-fetch".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let input: Input = request.input.parse_json()?;
        let target = Target::parse(&input.url)?;
        let mut attempts_made = 0;
        let Fetched { status, body } =
            Retry::new(input.attempts).run(ExtensionError::is_transient, |attempt| {
                attempts_made = attempt;
                let result = fetch::get(&target, input.max_body_bytes);
                match &result {
                    Ok(fetched) => {
                        log::info("fetch attempt", &[("attempt", &attempt), ("status", &fetched.status)])
                    }
                    Err(error) => log::info("fetch attempt", &[("attempt", &attempt), ("error", error)]),
                }
                result
            })?;
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
        Response::json(&Output { status, body, attempts: attempts_made })
    }
}

register_extension!(ApiClient);
