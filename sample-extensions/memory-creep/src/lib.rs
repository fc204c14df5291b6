//! `memory-creep`: models an extension that indexes the whole history it is sent. Platforms send
//! the history so far with each call, so its working set grows call over call until one call
//! no longer fits its memory limit.
//!
//! Input JSON `{"history_mib": N}`: the size of the history to index, in MiB. The guest builds
//! an N MiB index (every page written, so every page is really used) and returns
//! `{"indexed_mib": N, "checksum": C}`. Nothing here is hostile; it simply grows, which is what
//! the host's limit prediction should notice before the first `memory_limit`.

use core::hint::black_box;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::{Extension, ExtensionError, Payload, Request, Response, register_extension};

/// Bytes per MiB of history.
const MIB: usize = 1 << 20;
/// Largest history accepted, in MiB (the memory limit stops far smaller ones).
const MAX_HISTORY_MIB: usize = 1024;
/// One write per wasm page is enough to use every page of the index.
const PAGE_BYTES: usize = 64 * 1024;

/// The memory-creep extension.
struct MemoryCreep;

/// The expected input.
#[derive(Deserialize)]
struct Input {
    history_mib: usize,
}

/// What was indexed.
#[derive(Serialize)]
struct Output {
    indexed_mib: usize,
    checksum: u64,
}

fn parse(input: &Payload) -> Result<Input, ExtensionError> {
    let input: Input = input.parse_json()?;
    if input.history_mib > MAX_HISTORY_MIB {
        return Err(ExtensionError::InvalidInput(format!("history_mib must be at most {MAX_HISTORY_MIB}")));
    }
    Ok(input)
}

impl Extension for MemoryCreep {
    fn features() -> Vec<String> {
        vec!["history-index".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let Input { history_mib } = parse(&request.input)?;
        let mut index = vec![0_u8; history_mib * MIB];
        for (page, byte) in index.iter_mut().step_by(PAGE_BYTES).enumerate() {
            *byte = (page % 251) as u8;
        }
        let index = black_box(index);
        let checksum = index.iter().step_by(PAGE_BYTES).map(|b| u64::from(*b)).sum();
        Response::json(&Output { indexed_mib: history_mib, checksum })
    }
}

register_extension!(MemoryCreep);
