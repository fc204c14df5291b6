//! `memory-bomb` (hostile): allocates and writes 1 MiB chunks forever, keeping every one alive.
//!
//! Exists to show that the host's memory limit stops a guest that keeps growing its linear
//! memory: the failed growth aborts the guest.

use core::hint::black_box;

use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// Size of each allocation, in bytes.
const CHUNK_BYTES: usize = 1 << 20;

/// The memory-bomb extension.
struct MemoryBomb;

impl Extension for MemoryBomb {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "exhausts-memory".into()]
    }

    fn invoke(_request: Request) -> Result<Response, ExtensionError> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // A non-zero fill writes every byte, so every page is really touched.
            let chunk = black_box(vec![0xA5_u8; CHUNK_BYTES]);
            chunks.push(chunk);
            black_box(&mut chunks);
        }
    }
}

register_extension!(MemoryBomb);
