//! `infinite-loop` (hostile): spins forever, never returning and never checking cancellation.
//!
//! Exists to show that the host's fuel and deadline limits stop a guest that will not stop.

use core::hint::black_box;

use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// The infinite-loop extension.
struct InfiniteLoop;

impl Extension for InfiniteLoop {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "spins-forever".into()]
    }

    fn invoke(_request: Request) -> Result<Response, ExtensionError> {
        let mut counter: u64 = 0;
        // `black_box` keeps the optimiser from proving the loop has no effect.
        loop {
            counter = black_box(counter.wrapping_add(1));
        }
    }
}

register_extension!(InfiniteLoop);
