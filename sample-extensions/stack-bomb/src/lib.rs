//! `stack-bomb` (hostile): recurses without bound until the stack runs out.
//!
//! Exists to show that the host survives a guest overflowing its stack. Each frame keeps a small
//! array alive across the recursive call and uses the call's result, so the recursion cannot be
//! turned into a loop.

use core::hint::black_box;

use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// The stack-bomb extension.
struct StackBomb;

/// Recurses forever: the base case is opaque to the optimiser and never taken.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let mut frame = [depth; 4];
    black_box(&mut frame);
    let below = descend(depth.wrapping_add(1));
    below.wrapping_add(frame[0]).wrapping_add(frame[3])
}

impl Extension for StackBomb {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "overflows-stack".into()]
    }

    fn invoke(_request: Request) -> Result<Response, ExtensionError> {
        let depth = descend(black_box(0));
        Err(ExtensionError::internal(format!("returned from unbounded recursion at {depth}")))
    }
}

register_extension!(StackBomb);
