//! Per-call resource limits as plain data, with their units, defaults and ceilings.
//!
//! Every limit is one row of the table below: its field, its [`LimitName`], its unit, its named
//! default and its shipped ceiling. [`Limits`] (what one call may consume), [`DeclaredLimits`]
//! (what a manifest or a policy file asks for, every field optional), [`LimitName::ALL`], the
//! accessors, the config overlay, the ceiling clamp and the audit rows are all generated from
//! that one table, so a new limit cannot be forgotten in one of them. Turning a declaration
//! into effective limits under a platform policy is `policy`'s job; enforcing them inside a
//! `Store` is the sandbox's (in `symphony-host`).

use serde::{Deserialize, Serialize};

use crate::byte_size;

/// Bytes every kept log record weighs on top of its message and fields, so that a flood of
/// empty records spends the byte budget too (about what the host holds per record besides
/// the text: level, flags and vector headers).
pub const LOG_RECORD_OVERHEAD_BYTES: u64 = 32;
/// Bytes every log field weighs on top of its key and value.
pub const LOG_FIELD_OVERHEAD_BYTES: u64 = 16;
/// Longest target a denial record keeps, in bytes (a guest-chosen HTTP authority, say); the
/// rest is cut.
pub const DENIAL_TARGET_BYTES: usize = 256;

/// Generates the limit types from one table. Each row: doc, field, [`LimitName`] variant, unit,
/// default constant and value, shipped ceiling, and the serde module a declaration parses with.
macro_rules! limit_table {
    ($(
        #[doc = $doc:literal]
        $field:ident: $variant:ident, $unit:literal,
        $default_name:ident = $default:expr, ceiling $ceiling:expr, parse $with:literal;
    )*) => {
        $(
            #[doc = concat!("Default: ", $doc, " (", $unit, ").")]
            pub const $default_name: u64 = $default;
        )*

        /// What one call may consume. Every value is enforced by the sandbox.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub struct Limits {
            $(
                #[doc = concat!($doc, ", in ", $unit, ".")]
                pub $field: u64,
            )*
        }

        impl Default for Limits {
            fn default() -> Self {
                Self { $($field: $default_name,)* }
            }
        }

        /// Ceilings no manifest can exceed, as shipped when `symphony.toml` says nothing.
        pub const DEFAULT_CEILINGS: Limits = Limits { $($field: $ceiling,)* };

        impl Limits {
            $(
                #[doc = concat!("Set: ", $doc, ", in ", $unit, ".")]
                #[must_use]
                pub const fn $field(mut self, value: u64) -> Self {
                    self.$field = value;
                    self
                }
            )*

            /// The value of one limit.
            #[must_use]
            pub fn get(&self, name: LimitName) -> u64 {
                match name { $(LimitName::$variant => self.$field,)* }
            }

            /// Set one limit.
            pub fn set(&mut self, name: LimitName, value: u64) {
                match name { $(LimitName::$variant => self.$field = value,)* }
            }
        }

        /// Limits as a manifest (or a policy file's `defaults`/`ceilings`) declares them: every
        /// field optional; the policy fills the gaps and clamps.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct DeclaredLimits {
            $(
                #[doc = concat!($doc, ", in ", $unit, ".")]
                #[serde(default, with = $with, skip_serializing_if = "Option::is_none")]
                pub $field: Option<u64>,
            )*
        }

        impl DeclaredLimits {
            /// The declared value of one limit, if any.
            #[must_use]
            pub fn get(&self, name: LimitName) -> Option<u64> {
                match name { $(LimitName::$variant => self.$field,)* }
            }
        }

        /// Names one limit, for reports that walk all of them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum LimitName {
            $(
                #[doc = concat!("[`Limits::", stringify!($field), "`]")]
                $variant,
            )*
        }

        impl LimitName {
            /// Every limit, in report order.
            pub const ALL: &'static [LimitName] = &[$(Self::$variant,)*];

            /// The field name used in manifests, policy files and reports.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => stringify!($field),)* }
            }

            /// The unit the value is in.
            #[must_use]
            pub fn unit(self) -> &'static str {
                match self { $(Self::$variant => $unit,)* }
            }

            /// What the limit bounds.
            #[must_use]
            pub fn description(self) -> &'static str {
                match self { $(Self::$variant => $doc,)* }
            }
        }
    };
}

limit_table! {
    /// Fuel per call
    fuel: Fuel, "fuel units",
        DEFAULT_FUEL = 200_000_000, ceiling 10_000_000_000, parse "plain";
    /// Wall-clock deadline per call
    deadline_ms: DeadlineMs, "ms",
        DEFAULT_DEADLINE_MS = 5_000, ceiling 60_000, parse "plain";
    /// Total linear memory per instance across all its memories
    memory_bytes: MemoryBytes, "bytes",
        DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024, ceiling 1024 * 1024 * 1024, parse "byte_size::optional";
    /// Total table elements per instance across all its tables
    table_elements: TableElements, "elements",
        DEFAULT_TABLE_ELEMENTS = 20_000, ceiling 100_000, parse "plain";
    /// Core instances one component instantiation may create
    instances: Instances, "instances",
        DEFAULT_INSTANCES = 32, ceiling 256, parse "plain";
    /// Input payload size (content type plus bytes)
    input_bytes: InputBytes, "bytes",
        DEFAULT_INPUT_BYTES = 1024 * 1024, ceiling 64 * 1024 * 1024, parse "byte_size::optional";
    /// Output payload size (content type plus bytes)
    output_bytes: OutputBytes, "bytes",
        DEFAULT_OUTPUT_BYTES = 1024 * 1024, ceiling 64 * 1024 * 1024, parse "byte_size::optional";
    /// Log volume kept per call (messages, fields and a fixed weight per record and field)
    log_bytes: LogBytes, "bytes",
        DEFAULT_LOG_BYTES = 64 * 1024, ceiling 1024 * 1024, parse "byte_size::optional";
    /// Log records kept per call; later ones are dropped and counted
    log_records: LogRecords, "records",
        DEFAULT_LOG_RECORDS = 1_024, ceiling 65_536, parse "plain";
    /// Guest error message kept (longer ones are cut, with a marker saying how much)
    error_message_bytes: ErrorMessageBytes, "bytes",
        DEFAULT_ERROR_MESSAGE_BYTES = 4 * 1024, ceiling 64 * 1024, parse "byte_size::optional";
    /// Progress updates kept per call; the latest fraction is always known
    progress_updates: ProgressUpdates, "updates",
        DEFAULT_PROGRESS_UPDATES = 256, ceiling 65_536, parse "plain";
    /// Progress messages kept per call
    progress_bytes: ProgressBytes, "bytes",
        DEFAULT_PROGRESS_BYTES = 16 * 1024, ceiling 1024 * 1024, parse "byte_size::optional";
    /// Distinct denied-capability records kept per call; attempts past it are counted together
    denial_records: DenialRecords, "records",
        DEFAULT_DENIAL_RECORDS = 64, ceiling 1_024, parse "plain";
    /// What `describe` may return: name, version and features together
    metadata_bytes: MetadataBytes, "bytes",
        DEFAULT_METADATA_BYTES = 4 * 1024, ceiling 64 * 1024, parse "byte_size::optional";
    /// Features `describe` may list
    metadata_features: MetadataFeatures, "features",
        DEFAULT_METADATA_FEATURES = 64, ceiling 1_024, parse "plain";
    /// Host resources (streams, pollables, sockets, requests) alive at once in one call
    resources: Resources, "resources",
        DEFAULT_RESOURCES = 4_096, ceiling 100_000, parse "plain";
    /// Timeout for each phase of an outbound HTTP request (connect, first byte, between bytes)
    http_timeout_ms: HttpTimeoutMs, "ms",
        DEFAULT_HTTP_TIMEOUT_MS = 5_000, ceiling 30_000, parse "plain";
    /// Cap on one outbound HTTP response body
    http_response_bytes: HttpResponseBytes, "bytes",
        DEFAULT_HTTP_RESPONSE_BYTES = 1024 * 1024, ceiling 16 * 1024 * 1024, parse "byte_size::optional";
}

/// `Option<u64>` fields of [`DeclaredLimits`] that take plain integers (counts, fuel units,
/// milliseconds), with the same serde shape as [`byte_size::optional`].
mod plain {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_some(v),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        Option::<u64>::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_round_trips_through_its_name() {
        let mut limits = Limits::default();
        for (i, &name) in LimitName::ALL.iter().enumerate() {
            limits.set(name, 1_000 + i as u64);
        }
        for (i, &name) in LimitName::ALL.iter().enumerate() {
            assert_eq!(limits.get(name), 1_000 + i as u64, "{}", name.as_str());
        }
        let names: std::collections::BTreeSet<&str> = LimitName::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(names.len(), LimitName::ALL.len(), "names are unique");
    }

    #[test]
    fn defaults_sit_within_the_shipped_ceilings() {
        for &name in LimitName::ALL {
            assert!(Limits::default().get(name) <= DEFAULT_CEILINGS.get(name), "{}", name.as_str());
            assert!(Limits::default().get(name) > 0, "{}", name.as_str());
        }
    }

    #[test]
    fn declarations_parse_sizes_only_where_the_unit_is_bytes() {
        let declared: DeclaredLimits =
            toml::from_str("memory_bytes = \"2 MiB\"\nlog_records = 10\nerror_message_bytes = \"1 KiB\"")
                .unwrap();
        assert_eq!(declared.memory_bytes, Some(2 << 20));
        assert_eq!(declared.log_records, Some(10));
        assert_eq!(declared.error_message_bytes, Some(1024));
        assert!(toml::from_str::<DeclaredLimits>("log_records = \"1 KiB\"").is_err());
        assert!(toml::from_str::<DeclaredLimits>("log_recrods = 1").is_err());
    }
}
