//! One audit record on disk: its exact byte encoding, its hash, and checking a line against its
//! own hash. Linking records into a chain (seq and prev) is `verify`'s and the writer's job.
//!
//! A record is one line of compact JSON with the members in this fixed order:
//!
//! ```text
//! {"schema":1,"seq":N,"ts_ms":T,"extension":"name@version"|null,"event":"kind","details":{..},"prev":"<64 hex>","hash":"<64 hex>"}
//! ```
//!
//! **Hash.** `hash` is the lowercase hex sha256 of the line's *body*: the exact bytes of the
//! line (without its `\n`) with the trailing `,"hash":"<64 hex>"` member removed, i.e.
//! `sha256(line[..len - 75] ++ "}")`. Hashing bytes rather than re-serialised values means a
//! verifier never depends on JSON key order or number formatting.
//!
//! **Chain.** `prev` is the previous record's `hash` (64 zeros for the first record of a chain)
//! and `seq` counts up by one from 1. Because the body contains `prev`, each hash commits to every
//! record before it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::event::AuditEvent;
use super::verify::ChainBreak;

/// The `schema` written into every record by this host.
pub const AUDIT_SCHEMA_VERSION: u32 = 1;

/// `prev` of the first record of a chain: 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Length of a hex sha256, in characters.
const HASH_HEX_LEN: usize = 64;
/// What precedes the hash at the end of every line.
const HASH_MEMBER_PREFIX: &[u8] = b",\"hash\":\"";
/// Length of the trailing `,"hash":"<64 hex>"}`, in bytes.
const HASH_SUFFIX_LEN: usize = HASH_MEMBER_PREFIX.len() + HASH_HEX_LEN + 2;

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Format version ([`AUDIT_SCHEMA_VERSION`]).
    pub schema: u32,
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When the event was recorded, in milliseconds since the Unix epoch (the caller's clock at
    /// [`AuditLog::record`](super::AuditLog::record); not guaranteed monotonic across threads).
    pub ts_ms: u64,
    /// `name@version` of the extension concerned, `None` for platform events.
    pub extension: Option<String>,
    /// Snake_case event kind (see [`AuditEvent::kind`]).
    pub event: String,
    /// The event's details.
    pub details: serde_json::Value,
    /// Hash of the previous record ([`GENESIS_PREV`] for the first).
    pub prev: String,
    /// Hash of this record's body.
    pub hash: String,
}

impl AuditRecord {
    /// The typed event, or `None` for an event kind this host does not know (written by a newer
    /// host).
    #[must_use]
    pub fn parse_event(&self) -> Option<AuditEvent> {
        let tagged = serde_json::json!({"event": self.event, "details": self.details});
        serde_json::from_value(tagged).ok()
    }
}

/// Where the next record goes: its `seq` and `prev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainHead {
    pub(crate) next_seq: u64,
    pub(crate) prev: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub(crate) fn genesis() -> Self {
        Self { next_seq: 1, prev: GENESIS_PREV.to_owned() }
    }

    /// The head after `record`.
    pub(crate) fn after(record: &AuditRecord) -> Self {
        Self { next_seq: record.seq.saturating_add(1), prev: record.hash.clone() }
    }
}

#[derive(Serialize)]
struct RecordBody<'a> {
    schema: u32,
    seq: u64,
    ts_ms: u64,
    extension: Option<&'a str>,
    #[serde(flatten)]
    event: &'a AuditEvent,
    prev: &'a str,
}

/// Encode the record at `head` as one `\n`-terminated line and advance `head` past it.
pub(crate) fn encode_line(
    head: &mut ChainHead,
    ts_ms: u64,
    extension: Option<&str>,
    event: &AuditEvent,
) -> Result<Vec<u8>, serde_json::Error> {
    let body = RecordBody {
        schema: AUDIT_SCHEMA_VERSION,
        seq: head.next_seq,
        ts_ms,
        extension,
        event,
        prev: &head.prev,
    };
    let mut line = serde_json::to_vec(&body)?;
    let hash = hex::encode(Sha256::digest(&line));
    // `line` ends with the body's closing `}`: reopen it to append the hash member.
    line.pop();
    line.extend_from_slice(HASH_MEMBER_PREFIX);
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    head.next_seq = head.next_seq.saturating_add(1);
    head.prev = hash;
    Ok(line)
}

/// Parse one line (without its `\n`) and check it against its own hash.
pub(crate) fn check_line(line: &[u8]) -> Result<AuditRecord, ChainBreak> {
    let unparsable = |detail: &str| ChainBreak::Unparsable { detail: detail.to_owned() };
    let Some(body_len) = line.len().checked_sub(HASH_SUFFIX_LEN) else {
        return Err(unparsable("too short to hold a record"));
    };
    let suffix = &line[body_len..];
    let stored_hex = &suffix[HASH_MEMBER_PREFIX.len()..HASH_MEMBER_PREFIX.len() + HASH_HEX_LEN];
    let well_formed = suffix.starts_with(HASH_MEMBER_PREFIX)
        && suffix.ends_with(b"\"}")
        && stored_hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return Err(unparsable("does not end with a \"hash\" member of 64 lowercase hex digits"));
    }
    let record: AuditRecord =
        serde_json::from_slice(line).map_err(|e| ChainBreak::Unparsable { detail: e.to_string() })?;
    if record.schema != AUDIT_SCHEMA_VERSION {
        return Err(ChainBreak::UnsupportedSchema { found: record.schema });
    }
    let computed = hex::encode(Sha256::new().chain_update(&line[..body_len]).chain_update(b"}").finalize());
    if computed != record.hash {
        return Err(ChainBreak::HashMismatch { stored: record.hash, computed });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_for(event: &AuditEvent) -> (Vec<u8>, ChainHead) {
        let mut head = ChainHead::genesis();
        let line = encode_line(&mut head, 1_700_000_000_000, Some("echo@1.0.0"), event).unwrap();
        (line, head)
    }

    #[test]
    fn encoding_has_fixed_field_order_and_a_verifiable_hash() {
        let (line, head) = line_for(&AuditEvent::circuit_closed(5));
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(text.starts_with(
            "{\"schema\":1,\"seq\":1,\"ts_ms\":1700000000000,\"extension\":\"echo@1.0.0\",\
             \"event\":\"circuit_closed\",\"details\":{\"open_ms\":5},\"prev\":\"0000"
        ));
        assert!(text.ends_with("\"}\n"));
        let record = check_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(record.seq, 1);
        assert_eq!(record.prev, GENESIS_PREV);
        assert_eq!(head, ChainHead { next_seq: 2, prev: record.hash.clone() });
        assert_eq!(record.parse_event(), Some(AuditEvent::circuit_closed(5)));
    }

    #[test]
    fn hash_is_sha256_of_the_line_without_its_hash_member() {
        let (line, _) = line_for(&AuditEvent::quarantined("x"));
        let record = check_line(&line[..line.len() - 1]).unwrap();
        let text = String::from_utf8(line).unwrap();
        let body = text.trim_end().replace(&format!(",\"hash\":\"{}\"", record.hash), "");
        assert_eq!(hex::encode(Sha256::digest(body.as_bytes())), record.hash);
    }

    #[test]
    fn an_edited_value_is_a_hash_mismatch() {
        let (line, _) = line_for(&AuditEvent::quarantined("abc"));
        let text = String::from_utf8(line).unwrap().replace("abc", "abd");
        let err = check_line(text.trim_end().as_bytes()).unwrap_err();
        assert!(matches!(err, ChainBreak::HashMismatch { .. }), "{err:?}");
    }

    #[test]
    fn broken_json_and_missing_hash_are_unparsable() {
        assert!(matches!(check_line(b"{}"), Err(ChainBreak::Unparsable { .. })));
        let (line, _) = line_for(&AuditEvent::quarantined("abc"));
        let mut broken = line[..line.len() - 1].to_vec();
        broken[1] = b'X';
        assert!(matches!(check_line(&broken), Err(ChainBreak::Unparsable { .. })));
    }

    #[test]
    fn unknown_event_kinds_still_verify_but_do_not_parse_as_events() {
        let (line, _) = line_for(&AuditEvent::quarantined("abc"));
        let record = check_line(&line[..line.len() - 1]).unwrap();
        let newer = AuditRecord { event: "from_the_future".into(), ..record };
        assert_eq!(newer.parse_event(), None);
    }
}
