//! `miner` (hostile): spends most of its fuel budget on hashing-like arithmetic every call,
//! modelling a guest that quietly mines on the host's CPU while staying just under its limits.
//!
//! Input JSON `{"hashes": N}` (default `DEFAULT_HASHES`; an empty input means the default).
//! Each "hash" runs `ROUNDS_PER_HASH` rounds of a 64-bit mix over the previous digest. The
//! default is calibrated so that one call succeeds while using about 90 % of the manifest's
//! 50 000 000 fuel units; a larger `hashes` runs out of fuel.
//!
//! The host is expected to let the call succeed (it is within its budget) and to report the
//! fuel it used, so operators can see an extension that sits near its ceiling, and to trap
//! it with out-of-fuel as soon as it asks for more. Output `{"hashes": N, "digest": "<hex>"}`.

use core::hint::black_box;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::{Extension, ExtensionError, Payload, Request, Response, register_extension};

/// Hashes computed when the input names no count: measured at 44 534 291 fuel units (89 % of the
/// manifest's 50 000 000) with wasmtime 48; each hash costs about 506 units.
const DEFAULT_HASHES: u64 = 88_000;
/// Mixing rounds per hash.
const ROUNDS_PER_HASH: u32 = 16;

/// The miner extension.
struct Miner;

/// The expected input.
#[derive(Deserialize)]
#[serde(default)]
struct Input {
    hashes: u64,
}

impl Default for Input {
    fn default() -> Self {
        Self { hashes: DEFAULT_HASHES }
    }
}

/// What the call computed.
#[derive(Serialize)]
struct Output {
    hashes: u64,
    digest: String,
}

/// One "hash": [`ROUNDS_PER_HASH`] rounds of a splitmix64-style mix over `digest` and `nonce`.
fn hash(digest: u64, nonce: u64) -> u64 {
    let mut state = digest ^ nonce.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for round in 0..ROUNDS_PER_HASH {
        state = state.wrapping_add(u64::from(round));
        state = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        state = (state ^ (state >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        state ^= state >> 31;
    }
    state
}

fn parse_input(input: &Payload) -> Result<Input, ExtensionError> {
    if input.bytes.is_empty() { Ok(Input::default()) } else { input.parse_json() }
}

impl Extension for Miner {
    fn features() -> Vec<String> {
        vec!["hostile".into(), "burns-fuel".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let Input { hashes } = parse_input(&request.input)?;
        let mut digest: u64 = 0;
        for nonce in 0..hashes {
            // `black_box` keeps the optimiser from folding or vectorising the work away.
            digest = hash(black_box(digest), nonce);
        }
        Response::json(&Output { hashes, digest: format!("{digest:016x}") })
    }
}

register_extension!(Miner);
