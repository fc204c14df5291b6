//! Per-call resource limits as plain data, with their units and defaults.
//!
//! [`Limits`] is what one call may consume; [`DeclaredLimits`] is what a manifest asks for (every
//! field optional). Turning a declaration into effective limits under a platform policy is
//! `policy`'s job; enforcing them inside a `Store` is [`limiter`]'s and the sandbox's.

pub mod limiter;

use serde::{Deserialize, Serialize};

use crate::byte_size;

/// Default fuel per call, in fuel units (about one per wasm instruction).
pub const DEFAULT_FUEL: u64 = 200_000_000;
/// Default wall-clock deadline per call, in milliseconds.
pub const DEFAULT_DEADLINE_MS: u64 = 5_000;
/// Default total linear memory per instance, in bytes.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// Default total table elements per instance.
pub const DEFAULT_TABLE_ELEMENTS: u64 = 20_000;
/// Default core instances per component instance.
pub const DEFAULT_INSTANCES: u64 = 32;
/// Default input size per call, in bytes.
pub const DEFAULT_INPUT_BYTES: u64 = 1024 * 1024;
/// Default output size per call, in bytes.
pub const DEFAULT_OUTPUT_BYTES: u64 = 1024 * 1024;
/// Default log volume kept per call, in bytes (messages plus fields).
pub const DEFAULT_LOG_BYTES: u64 = 64 * 1024;
/// Default timeout for each phase of a granted outbound HTTP request (connect, first byte,
/// between bytes), in milliseconds.
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 5_000;
/// Default cap on one outbound HTTP response body, in bytes.
pub const DEFAULT_HTTP_RESPONSE_BYTES: u64 = 1024 * 1024;

/// What one call may consume. Every value is enforced by the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Fuel per call, in fuel units.
    pub fuel: u64,
    /// Wall-clock deadline per call, in milliseconds.
    pub deadline_ms: u64,
    /// Total linear memory per instance across all its memories, in bytes.
    #[serde(with = "byte_size")]
    pub memory_bytes: u64,
    /// Total table elements per instance across all its tables.
    pub table_elements: u64,
    /// Core instances one component instantiation may create.
    pub instances: u64,
    /// Input payload size (content type plus bytes), in bytes.
    #[serde(with = "byte_size")]
    pub input_bytes: u64,
    /// Output payload size (content type plus bytes), in bytes.
    #[serde(with = "byte_size")]
    pub output_bytes: u64,
    /// Log volume kept per call, in bytes; the rest is dropped and counted.
    #[serde(with = "byte_size")]
    pub log_bytes: u64,
    /// Timeout for each phase of an outbound HTTP request, in milliseconds.
    pub http_timeout_ms: u64,
    /// Cap on one outbound HTTP response body, in bytes.
    #[serde(with = "byte_size")]
    pub http_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            deadline_ms: DEFAULT_DEADLINE_MS,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            instances: DEFAULT_INSTANCES,
            input_bytes: DEFAULT_INPUT_BYTES,
            output_bytes: DEFAULT_OUTPUT_BYTES,
            log_bytes: DEFAULT_LOG_BYTES,
            http_timeout_ms: DEFAULT_HTTP_TIMEOUT_MS,
            http_response_bytes: DEFAULT_HTTP_RESPONSE_BYTES,
        }
    }
}

impl Limits {
    /// Set fuel per call, in fuel units.
    #[must_use]
    pub fn fuel(mut self, fuel_units: u64) -> Self {
        self.fuel = fuel_units;
        self
    }
    /// Set the deadline per call, in milliseconds.
    #[must_use]
    pub fn deadline_ms(mut self, milliseconds: u64) -> Self {
        self.deadline_ms = milliseconds;
        self
    }
    /// Set total linear memory per instance, in bytes.
    #[must_use]
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }
    /// Set total table elements per instance.
    #[must_use]
    pub fn table_elements(mut self, elements: u64) -> Self {
        self.table_elements = elements;
        self
    }
    /// Set core instances per component instantiation.
    #[must_use]
    pub fn instances(mut self, instances: u64) -> Self {
        self.instances = instances;
        self
    }
    /// Set input size per call, in bytes.
    #[must_use]
    pub fn input_bytes(mut self, bytes: u64) -> Self {
        self.input_bytes = bytes;
        self
    }
    /// Set output size per call, in bytes.
    #[must_use]
    pub fn output_bytes(mut self, bytes: u64) -> Self {
        self.output_bytes = bytes;
        self
    }
    /// Set log volume kept per call, in bytes.
    #[must_use]
    pub fn log_bytes(mut self, bytes: u64) -> Self {
        self.log_bytes = bytes;
        self
    }
    /// Set the timeout per outbound HTTP request phase, in milliseconds.
    #[must_use]
    pub fn http_timeout_ms(mut self, milliseconds: u64) -> Self {
        self.http_timeout_ms = milliseconds;
        self
    }
    /// Set the cap on one outbound HTTP response body, in bytes.
    #[must_use]
    pub fn http_response_bytes(mut self, bytes: u64) -> Self {
        self.http_response_bytes = bytes;
        self
    }
}

/// Limits as a manifest declares them: every field optional, the policy fills the gaps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredLimits {
    /// Fuel per call, in fuel units.
    pub fuel: Option<u64>,
    /// Wall-clock deadline per call, in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Total linear memory per instance, in bytes (integer or "64 MiB").
    #[serde(default, with = "byte_size::optional")]
    pub memory_bytes: Option<u64>,
    /// Total table elements per instance.
    pub table_elements: Option<u64>,
    /// Core instances per component instantiation.
    pub instances: Option<u64>,
    /// Input size per call, in bytes.
    #[serde(default, with = "byte_size::optional")]
    pub input_bytes: Option<u64>,
    /// Output size per call, in bytes.
    #[serde(default, with = "byte_size::optional")]
    pub output_bytes: Option<u64>,
    /// Log volume kept per call, in bytes.
    #[serde(default, with = "byte_size::optional")]
    pub log_bytes: Option<u64>,
    /// Timeout per outbound HTTP request phase, in milliseconds.
    pub http_timeout_ms: Option<u64>,
    /// Cap on one outbound HTTP response body, in bytes.
    #[serde(default, with = "byte_size::optional")]
    pub http_response_bytes: Option<u64>,
}

/// Names one limit, for reports that walk all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitName {
    /// [`Limits::fuel`]
    Fuel,
    /// [`Limits::deadline_ms`]
    DeadlineMs,
    /// [`Limits::memory_bytes`]
    MemoryBytes,
    /// [`Limits::table_elements`]
    TableElements,
    /// [`Limits::instances`]
    Instances,
    /// [`Limits::input_bytes`]
    InputBytes,
    /// [`Limits::output_bytes`]
    OutputBytes,
    /// [`Limits::log_bytes`]
    LogBytes,
    /// [`Limits::http_timeout_ms`]
    HttpTimeoutMs,
    /// [`Limits::http_response_bytes`]
    HttpResponseBytes,
}

impl LimitName {
    /// Every limit, in report order.
    pub const ALL: [LimitName; 10] = [
        Self::Fuel,
        Self::DeadlineMs,
        Self::MemoryBytes,
        Self::TableElements,
        Self::Instances,
        Self::InputBytes,
        Self::OutputBytes,
        Self::LogBytes,
        Self::HttpTimeoutMs,
        Self::HttpResponseBytes,
    ];

    /// The field name used in manifests and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fuel => "fuel",
            Self::DeadlineMs => "deadline_ms",
            Self::MemoryBytes => "memory_bytes",
            Self::TableElements => "table_elements",
            Self::Instances => "instances",
            Self::InputBytes => "input_bytes",
            Self::OutputBytes => "output_bytes",
            Self::LogBytes => "log_bytes",
            Self::HttpTimeoutMs => "http_timeout_ms",
            Self::HttpResponseBytes => "http_response_bytes",
        }
    }

    /// The unit the value is in.
    #[must_use]
    pub fn unit(self) -> &'static str {
        match self {
            Self::Fuel => "fuel units",
            Self::DeadlineMs | Self::HttpTimeoutMs => "ms",
            Self::MemoryBytes
            | Self::InputBytes
            | Self::OutputBytes
            | Self::LogBytes
            | Self::HttpResponseBytes => "bytes",
            Self::TableElements => "elements",
            Self::Instances => "instances",
        }
    }
}

impl Limits {
    /// The value of one limit.
    #[must_use]
    pub fn get(&self, name: LimitName) -> u64 {
        match name {
            LimitName::Fuel => self.fuel,
            LimitName::DeadlineMs => self.deadline_ms,
            LimitName::MemoryBytes => self.memory_bytes,
            LimitName::TableElements => self.table_elements,
            LimitName::Instances => self.instances,
            LimitName::InputBytes => self.input_bytes,
            LimitName::OutputBytes => self.output_bytes,
            LimitName::LogBytes => self.log_bytes,
            LimitName::HttpTimeoutMs => self.http_timeout_ms,
            LimitName::HttpResponseBytes => self.http_response_bytes,
        }
    }

    /// Set one limit.
    pub fn set(&mut self, name: LimitName, value: u64) {
        let slot = match name {
            LimitName::Fuel => &mut self.fuel,
            LimitName::DeadlineMs => &mut self.deadline_ms,
            LimitName::MemoryBytes => &mut self.memory_bytes,
            LimitName::TableElements => &mut self.table_elements,
            LimitName::Instances => &mut self.instances,
            LimitName::InputBytes => &mut self.input_bytes,
            LimitName::OutputBytes => &mut self.output_bytes,
            LimitName::LogBytes => &mut self.log_bytes,
            LimitName::HttpTimeoutMs => &mut self.http_timeout_ms,
            LimitName::HttpResponseBytes => &mut self.http_response_bytes,
        };
        *slot = value;
    }
}

impl DeclaredLimits {
    /// The declared value of one limit, if any.
    #[must_use]
    pub fn get(&self, name: LimitName) -> Option<u64> {
        match name {
            LimitName::Fuel => self.fuel,
            LimitName::DeadlineMs => self.deadline_ms,
            LimitName::MemoryBytes => self.memory_bytes,
            LimitName::TableElements => self.table_elements,
            LimitName::Instances => self.instances,
            LimitName::InputBytes => self.input_bytes,
            LimitName::OutputBytes => self.output_bytes,
            LimitName::LogBytes => self.log_bytes,
            LimitName::HttpTimeoutMs => self.http_timeout_ms,
            LimitName::HttpResponseBytes => self.http_response_bytes,
        }
    }
}
