//! The byte format of one compiled-cache entry: wasmtime's precompiled artifact followed by a
//! fixed-size footer that says which engine and component it belongs to and checksums it.
//!
//! ```text
//! artifact (N bytes) | engine key (32) | component sha256 (32) | N as u64 LE (8) | sha256(artifact) (32) | "SYMCWSM1" (8)
//! ```
//!
//! Decoding checks everything in the footer before handing out the artifact; deserialising it
//! is `compiled_cache`'s job.

use sha2::{Digest, Sha256};

use super::compiled_cache::RebuildReason;

/// Last eight bytes of every entry (the digit is the format version).
const ENTRY_MAGIC: &[u8; 8] = b"SYMCWSM1";
/// Footer size, in bytes.
pub(crate) const FOOTER_BYTES: usize = 32 + 32 + 8 + 32 + ENTRY_MAGIC.len();

/// A 32-byte digest.
pub(crate) type Digest32 = [u8; 32];

/// `artifact` with its footer.
pub(crate) fn encode(artifact: &[u8], engine_key: &Digest32, component_sha256: &Digest32) -> Vec<u8> {
    let mut entry = Vec::with_capacity(artifact.len() + FOOTER_BYTES);
    entry.extend_from_slice(artifact);
    entry.extend_from_slice(engine_key);
    entry.extend_from_slice(component_sha256);
    entry.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
    entry.extend_from_slice(&Sha256::digest(artifact));
    entry.extend_from_slice(ENTRY_MAGIC);
    entry
}

/// The artifact inside `entry`, once its footer proves it complete, unchanged, and made for this
/// engine and component.
pub(crate) fn decode<'a>(
    entry: &'a [u8],
    engine_key: &Digest32,
    component_sha256: &Digest32,
) -> Result<&'a [u8], RebuildReason> {
    let size_bytes = entry.len() as u64;
    let Some(artifact_len) = entry.len().checked_sub(FOOTER_BYTES) else {
        return Err(RebuildReason::Truncated { size_bytes });
    };
    let (artifact, footer) = entry.split_at(artifact_len);
    let (stored_engine, rest) = footer.split_at(32);
    let (stored_component, rest) = rest.split_at(32);
    let (stored_len, rest) = rest.split_at(8);
    let (stored_checksum, magic) = rest.split_at(32);
    let stored_len = stored_len.try_into().map(u64::from_le_bytes).unwrap_or(u64::MAX);
    // A cut-short file ends in the middle of its artifact: no magic, or a length that disagrees.
    if magic != ENTRY_MAGIC || stored_len != artifact_len as u64 {
        return Err(RebuildReason::Truncated { size_bytes });
    }
    if stored_engine != engine_key || stored_component != component_sha256 {
        return Err(RebuildReason::WrongKey);
    }
    if Sha256::digest(artifact).as_slice() != stored_checksum {
        return Err(RebuildReason::ChecksumMismatch);
    }
    Ok(artifact)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENGINE: Digest32 = [1; 32];
    const COMPONENT: Digest32 = [2; 32];

    #[test]
    fn round_trips() {
        let entry = encode(b"artifact", &ENGINE, &COMPONENT);
        assert_eq!(entry.len(), 8 + FOOTER_BYTES);
        assert_eq!(decode(&entry, &ENGINE, &COMPONENT), Ok(&b"artifact"[..]));
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let entry = encode(b"artifact", &ENGINE, &COMPONENT);
        let mut flipped = entry.clone();
        flipped[3] ^= 0x40;
        assert_eq!(decode(&flipped, &ENGINE, &COMPONENT), Err(RebuildReason::ChecksumMismatch));
        let cut = &entry[..entry.len() - 1];
        assert!(matches!(decode(cut, &ENGINE, &COMPONENT), Err(RebuildReason::Truncated { .. })));
        assert!(matches!(
            decode(b"tiny", &ENGINE, &COMPONENT),
            Err(RebuildReason::Truncated { size_bytes: 4 })
        ));
        assert_eq!(decode(&entry, &[9; 32], &COMPONENT), Err(RebuildReason::WrongKey));
        assert_eq!(decode(&entry, &ENGINE, &[9; 32]), Err(RebuildReason::WrongKey));
    }
}
