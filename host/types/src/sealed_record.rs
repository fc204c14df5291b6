//! Sealed records: a stored body behind a schema version and the sha256 of the body, so a
//! record from another schema or damaged on disk is detected and never trusted.
//!
//! Layout: schema (u16, little-endian) · sha256 of the body (32 bytes) · body. The health store
//! and the workflow journal keep their records this way.

use sha2::{Digest, Sha256};

/// Bytes before the body: schema (2) + sha256 (32).
pub const HEADER_BYTES: usize = 2 + 32;

/// Why a stored record was not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordDamage {
    /// Shorter than its header.
    #[error("record of {len} bytes is shorter than its header")]
    Truncated {
        /// Its length in bytes.
        len: usize,
    },
    /// Written under another schema.
    #[error("schema {found} is not the supported {supported}")]
    Schema {
        /// The record's schema.
        found: u16,
        /// The schema this build reads.
        supported: u16,
    },
    /// The body does not hash to the stored sha256.
    #[error("checksum mismatch: the record was damaged")]
    Checksum,
}

/// `body` sealed under `schema`.
#[must_use]
pub fn seal(schema: u16, body: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER_BYTES + body.len());
    record.extend_from_slice(&schema.to_le_bytes());
    record.extend_from_slice(&Sha256::digest(body));
    record.extend_from_slice(body);
    record
}

/// The body of `record`, checked against `schema` and its sha256.
///
/// # Errors
/// [`RecordDamage`] when it is short, of another schema or damaged.
pub fn unseal(schema: u16, record: &[u8]) -> Result<&[u8], RecordDamage> {
    if record.len() < HEADER_BYTES {
        return Err(RecordDamage::Truncated { len: record.len() });
    }
    let found = u16::from_le_bytes([record[0], record[1]]);
    if found != schema {
        return Err(RecordDamage::Schema { found, supported: schema });
    }
    let (digest, body) = record[2..].split_at(32);
    if Sha256::digest(body).as_slice() != digest {
        return Err(RecordDamage::Checksum);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_comes_back_and_any_flipped_byte_is_caught() {
        let sealed = seal(3, b"{\"a\":1}");
        assert_eq!(unseal(3, &sealed), Ok(&b"{\"a\":1}"[..]));
        for at in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[at] ^= 0x01;
            assert!(unseal(3, &bad).is_err(), "flipping byte {at} went unnoticed");
        }
        assert_eq!(unseal(4, &sealed), Err(RecordDamage::Schema { found: 3, supported: 4 }));
        assert_eq!(unseal(3, &sealed[..5]), Err(RecordDamage::Truncated { len: 5 }));
    }
}
