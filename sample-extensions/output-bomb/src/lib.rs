//! `output-bomb` (hostile): returns 8 MiB of output, far over its 64 KiB output limit.
//!
//! Exists to show that the host refuses an oversized output instead of copying it.

use core::hint::black_box;

use symphony_guest_sdk::{Extension, ExtensionError, Payload, Request, Response, register_extension};

/// Size of the output, in bytes.
const OUTPUT_BYTES: usize = 8 << 20;

/// The output-bomb extension.
struct OutputBomb;

impl Extension for OutputBomb {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "oversized-output".into()]
    }

    fn invoke(_request: Request) -> Result<Response, ExtensionError> {
        let bytes = black_box(vec![b'x'; OUTPUT_BYTES]);
        Ok(Response::new(Payload::new(Payload::OCTET_STREAM, bytes)))
    }
}

register_extension!(OutputBomb);
