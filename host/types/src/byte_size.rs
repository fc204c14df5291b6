//! Byte sizes in config files: a plain integer of bytes, or a string such as `"64 MiB"`.
//!
//! Used through `#[serde(with = "byte_size")]`; values are always held as `u64` bytes.

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Bytes(u64),
    Text(String),
}

/// Parse `"64 MiB"`, `"512KiB"`, `"1 GiB"`, `"1000 B"` or `"4096"` into bytes.
///
/// # Errors
/// A message saying what form is expected.
pub fn parse(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.replace('_', "").parse().map_err(|_| {
        format!("`{text}` is not a size: expected e.g. 65536, \"64 KiB\", \"32 MiB\", \"1 GiB\"")
    })?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        other => return Err(format!("unknown size unit `{other}`: use B, KiB, MiB, GiB or TiB")),
    };
    number.checked_mul(factor).ok_or_else(|| format!("`{text}` overflows 64 bits"))
}

/// Serialize bytes as a plain integer.
///
/// # Errors
/// Whatever the serializer returns.
pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(*value)
}

/// Deserialize an integer or a size string.
///
/// # Errors
/// When the value is neither.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    match Raw::deserialize(deserializer)? {
        Raw::Bytes(n) => Ok(n),
        Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom),
    }
}

/// The same for `Option<u64>` fields.
pub mod optional {
    use super::{Raw, parse};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize an optional size as an integer or nothing.
    ///
    /// # Errors
    /// Whatever the serializer returns.
    pub fn serialize<S: Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_some(v),
            None => serializer.serialize_none(),
        }
    }

    /// Deserialize an optional integer or size string.
    ///
    /// # Errors
    /// When the value is neither.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        match Option::<Raw>::deserialize(deserializer)? {
            None => Ok(None),
            Some(Raw::Bytes(n)) => Ok(Some(n)),
            Some(Raw::Text(text)) => parse(&text).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse("64 MiB"), Ok(64 << 20));
        assert_eq!(parse("512KiB"), Ok(512 << 10));
        assert_eq!(parse("1_000"), Ok(1000));
        assert_eq!(parse("2 GiB"), Ok(2 << 30));
        assert!(parse("12 MB").is_err());
        assert!(parse("lots").is_err());
    }
}
