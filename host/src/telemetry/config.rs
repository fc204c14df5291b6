//! The `[telemetry]` section of `symphony.toml`: where traces go (an OTLP/HTTP collector) and
//! the bounds that keep exporting them off every call's path — how many finished spans may
//! wait for export and how long one export may take. Without `otlp_endpoint` nothing is
//! exported and spans cost next to nothing. Validation is here; the exporter is
//! [`Telemetry`](super::Telemetry)'s.

use serde::Deserialize;

/// Finished spans that may wait for export by default, in spans.
pub const DEFAULT_QUEUE_SPANS: usize = 2_048;
/// Most spans a config may let wait, in spans (each waiting span holds its attributes).
pub const MAX_QUEUE_SPANS: usize = 1_000_000;
/// Time one export may take by default, in milliseconds.
pub const DEFAULT_EXPORT_TIMEOUT_MS: u64 = 2_000;
/// Longest export timeout a config may set, in milliseconds.
pub const MAX_EXPORT_TIMEOUT_MS: u64 = 60_000;
/// The `service.name` every span's resource carries by default.
pub const DEFAULT_SERVICE_NAME: &str = "symphony";
/// Longest `service_name`, in bytes.
pub const MAX_SERVICE_NAME_BYTES: usize = 255;

/// Trace export settings (`[telemetry]`). Every field has a default; `otlp_endpoint` absent
/// means export is off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP collector, `http://host:port` or `https://host:port`; spans
    /// are posted to its `/v1/traces`. `None`: no export.
    pub otlp_endpoint: Option<String>,
    /// Finished spans that may wait for export, in spans; a span finishing while the queue is
    /// full is dropped and counted.
    pub queue_spans: usize,
    /// Time one export (one HTTP request with a batch of spans) may take, in milliseconds.
    pub export_timeout_ms: u64,
    /// The `service.name` resource attribute of every exported span.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            queue_spans: DEFAULT_QUEUE_SPANS,
            export_timeout_ms: DEFAULT_EXPORT_TIMEOUT_MS,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
        }
    }
}

impl TelemetryConfig {
    /// Whether spans are exported.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.otlp_endpoint.is_some()
    }

    /// Where spans are posted: the endpoint's `/v1/traces`, when export is on.
    #[must_use]
    pub fn traces_url(&self) -> Option<String> {
        self.otlp_endpoint.as_deref().map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    }

    /// The first field that is out of bounds, with why (`telemetry.<field>`, message).
    #[must_use]
    pub fn invalid_field(&self) -> Option<(&'static str, String)> {
        if let Some(endpoint) = &self.otlp_endpoint
            && let Err(why) = check_endpoint(endpoint)
        {
            return Some(("telemetry.otlp_endpoint", why));
        }
        if !(1..=MAX_QUEUE_SPANS).contains(&self.queue_spans) {
            return Some(("telemetry.queue_spans", format!("must be between 1 and {MAX_QUEUE_SPANS} spans")));
        }
        if !(1..=MAX_EXPORT_TIMEOUT_MS).contains(&self.export_timeout_ms) {
            return Some((
                "telemetry.export_timeout_ms",
                format!("must be between 1 and {MAX_EXPORT_TIMEOUT_MS} milliseconds"),
            ));
        }
        if self.service_name.trim().is_empty() || self.service_name.len() > MAX_SERVICE_NAME_BYTES {
            return Some((
                "telemetry.service_name",
                format!("must be a non-empty name of at most {MAX_SERVICE_NAME_BYTES} bytes"),
            ));
        }
        None
    }
}

/// `http://host:port` or `https://host:port` (an optional trailing `/`), nothing else: the
/// exporter adds `/v1/traces` itself.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let expected = "must be http://host:port or https://host:port (e.g. \"http://127.0.0.1:4318\")";
    let uri: http::Uri = endpoint.parse().map_err(|e| format!("{expected}: {e}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let has_port = uri.authority().is_some_and(|a| a.port_u16().is_some() && !a.host().is_empty());
    let bare = matches!(uri.path(), "" | "/") && uri.query().is_none();
    let no_user = uri.authority().is_none_or(|a| !a.as_str().contains('@'));
    if scheme_ok && has_port && bare && no_user {
        Ok(())
    } else {
        Err(format!("{expected}, not {endpoint:?}"))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::PlatformConfig;

    use super::*;

    fn load(text: &str) -> Result<PlatformConfig, symphony_types::config_file::ConfigFileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("symphony.toml");
        std::fs::write(&path, text).unwrap();
        PlatformConfig::load_file(&path)
    }

    #[test]
    fn the_telemetry_section_is_off_by_default_and_every_field_reaches_the_config() {
        let telemetry = load("").unwrap().telemetry;
        assert_eq!(telemetry, TelemetryConfig::default());
        assert!(!telemetry.enabled());
        assert_eq!(telemetry.traces_url(), None);

        let telemetry = load(
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\nqueue_spans = 7\n\
             export_timeout_ms = 150\nservice_name = \"edge-7\"\n",
        )
        .unwrap()
        .telemetry;
        assert!(telemetry.enabled());
        assert_eq!(telemetry.traces_url().as_deref(), Some("http://127.0.0.1:4318/v1/traces"));
        assert_eq!(telemetry.queue_spans, 7);
        assert_eq!(telemetry.export_timeout_ms, 150);
        assert_eq!(telemetry.service_name, "edge-7");
    }

    #[test]
    fn unset_telemetry_fields_keep_their_defaults() {
        let telemetry = load("[telemetry]\notlp_endpoint = \"https://collector:4318/\"\n").unwrap().telemetry;
        assert_eq!(telemetry.traces_url().as_deref(), Some("https://collector:4318/v1/traces"));
        assert_eq!(telemetry.queue_spans, DEFAULT_QUEUE_SPANS);
        assert_eq!(telemetry.export_timeout_ms, DEFAULT_EXPORT_TIMEOUT_MS);
        assert_eq!(telemetry.service_name, DEFAULT_SERVICE_NAME);
    }

    #[test]
    fn a_bad_otlp_endpoint_names_its_file_line_and_field() {
        for bad in [
            "127.0.0.1:4318",
            "grpc://127.0.0.1:4317",
            "http://127.0.0.1",
            "http://127.0.0.1:4318/v1/traces",
            "http://127.0.0.1:4318/?x=1",
            "http://user:secret@127.0.0.1:4318",
            "not a url",
            "",
        ] {
            let err = load(&format!("# traces\n[telemetry]\notlp_endpoint = {bad:?}\n")).unwrap_err();
            assert_eq!(
                (err.line, err.field.as_deref()),
                (Some(3), Some("telemetry.otlp_endpoint")),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("symphony.toml:3"), "{err}");
        }
    }

    #[test]
    fn out_of_bounds_telemetry_fields_and_unknown_ones_are_refused_with_their_line() {
        for (text, field) in [
            ("queue_spans = 0", "telemetry.queue_spans"),
            ("queue_spans = 1_000_001", "telemetry.queue_spans"),
            ("export_timeout_ms = 0", "telemetry.export_timeout_ms"),
            ("export_timeout_ms = 60_001", "telemetry.export_timeout_ms"),
            ("service_name = \" \"", "telemetry.service_name"),
        ] {
            let err = load(&format!("[telemetry]\n{text}\n")).unwrap_err();
            assert_eq!((err.line, err.field.as_deref()), (Some(2), Some(field)), "{text}: {err}");
        }
        let err = load("[telemetry]\notlp_endpont = \"http://127.0.0.1:4318\"\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
    }
}
