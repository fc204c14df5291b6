//! `error-bomb` (hostile): fails every call with an `internal` error whose message is as long as
//! the caller asks, 10 MiB by default.
//!
//! Input JSON `{"message_bytes": N}` (optional; an empty input means the default). The output
//! limit bounds outputs, not errors: the host is expected to cut the message to its
//! `error_message_bytes` limit right after lifting it, say how many bytes it cut, and hand
//! nothing larger to the conductor, the audit log or the caller.

use serde::Deserialize;
use symphony_guest_sdk::{Extension, ExtensionError, Payload, Request, Response, register_extension};

/// Message length when the input names none, in bytes.
const DEFAULT_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// The error-bomb extension.
struct ErrorBomb;

/// The expected input.
#[derive(Deserialize)]
#[serde(default)]
struct Input {
    message_bytes: usize,
}

impl Default for Input {
    fn default() -> Self {
        Self { message_bytes: DEFAULT_MESSAGE_BYTES }
    }
}

fn parse_input(input: &Payload) -> Result<Input, ExtensionError> {
    if input.bytes.is_empty() { Ok(Input::default()) } else { input.parse_json() }
}

impl Extension for ErrorBomb {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "floods-errors".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let Input { message_bytes } = parse_input(&request.input)?;
        Err(ExtensionError::internal("E".repeat(message_bytes)))
    }
}

register_extension!(ErrorBomb);
