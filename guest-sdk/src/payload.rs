//! [`Payload`]: bytes tagged with a content type, and typed encoders/decoders for JSON and
//! postcard.
//!
//! Decoding failures are the caller's fault, so they become
//! [`ExtensionError::InvalidInput`]; encoding failures are the extension's, so they become
//! [`ExtensionError::Internal`]. The content type is never enforced by the decoders: call
//! [`Payload::require_content_type`] first when an extension must insist on one.

use serde::{Deserialize, Serialize};

use crate::ExtensionError;

/// Bytes tagged with what they are, as exchanged with the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    /// MIME type of [`bytes`](Self::bytes), such as [`Payload::JSON`].
    pub content_type: String,
    /// The encoded content.
    pub bytes: Vec<u8>,
}

impl Payload {
    /// Content type of JSON payloads, the host's default.
    pub const JSON: &'static str = "application/json";
    /// Content type of [postcard](https://docs.rs/postcard) payloads.
    pub const POSTCARD: &'static str = "application/postcard";
    /// Content type of opaque binary payloads.
    pub const OCTET_STREAM: &'static str = "application/octet-stream";

    /// A payload of `bytes` tagged `content_type`.
    pub fn new(content_type: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Self { content_type: content_type.into(), bytes: bytes.into() }
    }

    /// `value` encoded as JSON, tagged [`Payload::JSON`].
    ///
    /// # Errors
    /// [`ExtensionError::Internal`] if `value` cannot be represented in JSON (for example a map
    /// with non-string keys).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, ExtensionError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| ExtensionError::internal(format!("cannot encode JSON output: {e}")))?;
        Ok(Self::new(Self::JSON, bytes))
    }

    /// `value` encoded with postcard, tagged [`Payload::POSTCARD`].
    ///
    /// # Errors
    /// [`ExtensionError::Internal`] if `value` cannot be encoded by postcard (for example a
    /// sequence of unknown length).
    pub fn postcard<T: Serialize + ?Sized>(value: &T) -> Result<Self, ExtensionError> {
        let bytes = postcard::to_allocvec(value)
            .map_err(|e| ExtensionError::internal(format!("cannot encode postcard output: {e}")))?;
        Ok(Self::new(Self::POSTCARD, bytes))
    }

    /// Decodes the bytes as JSON into `T`, whatever the content type says.
    ///
    /// # Errors
    /// [`ExtensionError::InvalidInput`] carrying serde's message if the bytes are not valid
    /// JSON or do not match `T` (missing field, wrong type, ...).
    pub fn parse_json<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ExtensionError> {
        serde_json::from_slice(&self.bytes).map_err(|e| ExtensionError::invalid_input(e.to_string()))
    }

    /// Decodes the bytes as postcard into `T`, whatever the content type says.
    ///
    /// Postcard is not self-describing: bytes meant for another type may decode without error.
    /// Pair this with [`require_content_type`](Self::require_content_type) when that matters.
    ///
    /// # Errors
    /// [`ExtensionError::InvalidInput`] carrying postcard's message if the bytes do not decode
    /// as `T`.
    pub fn parse_postcard<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ExtensionError> {
        postcard::from_bytes(&self.bytes).map_err(|e| ExtensionError::invalid_input(e.to_string()))
    }

    /// True when the content type is `expected`, ignoring ASCII case and any parameters
    /// (`application/json; charset=utf-8` is [`Payload::JSON`]).
    pub fn has_content_type(&self, expected: &str) -> bool {
        let essence = self.content_type.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case(expected)
    }

    /// Checks the content type with [`has_content_type`](Self::has_content_type).
    ///
    /// # Errors
    /// [`ExtensionError::InvalidInput`] naming both types when they differ.
    pub fn require_content_type(&self, expected: &str) -> Result<(), ExtensionError> {
        if self.has_content_type(expected) {
            Ok(())
        } else {
            Err(ExtensionError::invalid_input(format!(
                "expected content type {expected}, got {:?}",
                self.content_type
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: i32,
        label: String,
    }

    fn point() -> Point {
        Point { x: 7, label: "seven".into() }
    }

    #[test]
    fn json_round_trips_and_is_tagged() -> Result<(), ExtensionError> {
        let payload = Payload::json(&point())?;
        assert_eq!(payload.content_type, Payload::JSON);
        assert_eq!(payload.parse_json::<Point>()?, point());
        Ok(())
    }

    #[test]
    fn postcard_round_trips_and_is_tagged() -> Result<(), ExtensionError> {
        let payload = Payload::postcard(&point())?;
        assert_eq!(payload.content_type, Payload::POSTCARD);
        assert_eq!(payload.parse_postcard::<Point>()?, point());
        Ok(())
    }

    #[test]
    fn bad_json_is_invalid_input_with_serde_message() {
        let payload = Payload::new(Payload::JSON, br#"{"x": 1}"#.to_vec());
        let error = payload.parse_json::<Point>();
        let serde_says =
            serde_json::from_slice::<Point>(&payload.bytes).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            matches!((&error, &serde_says), (Err(ExtensionError::InvalidInput(m)), Err(s)) if m == s),
            "{error:?} should carry {serde_says:?}"
        );
        let garbage = Payload::new(Payload::JSON, b"not json".to_vec());
        assert!(matches!(garbage.parse_json::<Point>(), Err(ExtensionError::InvalidInput(_))));
    }

    #[test]
    fn truncated_postcard_is_invalid_input() {
        let payload = Payload::new(Payload::POSTCARD, vec![0x0e]);
        assert!(matches!(payload.parse_postcard::<Point>(), Err(ExtensionError::InvalidInput(_))));
    }

    #[test]
    fn json_borrows_from_the_payload() -> Result<(), ExtensionError> {
        let payload = Payload::json(&["a", "b"])?;
        let parts: Vec<&str> = payload.parse_json()?;
        assert_eq!(parts, ["a", "b"]);
        Ok(())
    }

    #[test]
    fn content_type_match_ignores_case_and_parameters() {
        let payload = Payload::new("Application/JSON; charset=utf-8", Vec::new());
        assert!(payload.has_content_type(Payload::JSON));
        assert!(payload.require_content_type(Payload::JSON).is_ok());
        assert!(matches!(
            payload.require_content_type(Payload::POSTCARD),
            Err(ExtensionError::InvalidInput(_))
        ));
    }
}
