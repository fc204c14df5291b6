//! What an audit record says happened: [`AuditEvent`], one variant per event kind, each carrying
//! its typed details so callers never build JSON by hand and an event can never carry another
//! event's details.
//!
//! Serialised adjacently tagged: `"event":"<snake_case kind>","details":{...}`. Encoding the
//! whole record and hashing it is `record`'s job.

use std::path::Path;

use serde::{Deserialize, Serialize};

use symphony_types::error::HostError;

/// Something security-relevant that happened to an extension or to the platform.
///
/// The variant name is the record's `event` (snake_case); its fields are the record's `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// An extension's component was compiled (or loaded from the cache) and linked.
    ExtensionLoaded {
        /// Lowercase hex sha256 of the component bytes.
        sha256: String,
        /// WIT API version the component exports (`1.0.0`).
        api_version: String,
    },
    /// A call was stopped because it hit a limit.
    LimitBreached {
        /// Which limit, as the [`HostError::kind`] that reported it (`out_of_fuel`,
        /// `memory_limit`, ...).
        kind: String,
        /// The limit in force, in the unit of `kind` (fuel units, milliseconds, bytes,
        /// elements or instances).
        limit: u64,
        /// What the call used or asked for, in the same unit. For fuel, deadline and stack the
        /// guest is stopped at the limit, so this equals `limit`.
        value: u64,
    },
    /// The guest asked for a capability it was not granted.
    CapabilityDenied {
        /// The capability (`http`, `fs.read`, ...).
        capability: String,
        /// What it was asked for (a URL, a path, ...).
        target: String,
    },
    /// A component's `describe()` disagreed with its manifest; it was refused at load.
    IdentityMismatch {
        /// `name@version` the manifest declares.
        manifest: String,
        /// `name@version` the component says it is.
        component: String,
        /// Features the manifest declares that the component does not provide.
        missing_features: Vec<String>,
    },
    /// A component's bytes did not match its pinned sha256.
    HashMismatch {
        /// The component file.
        path: String,
        /// Pinned lowercase hex sha256.
        expected_sha256: String,
        /// Lowercase hex sha256 of the bytes found.
        actual_sha256: String,
    },
    /// A component no pin vouches for was loaded because the embedder opted out of pins by name
    /// (`Runtime::allow_unpinned`).
    UnpinnedAllowed {
        /// The component file.
        path: String,
        /// Lowercase hex sha256 of the bytes loaded.
        sha256: String,
    },
    /// The extension was taken out of service.
    Quarantined {
        /// Why.
        reason: String,
    },
    /// The extension was put back into service.
    QuarantineLifted {
        /// Why (or who decided).
        reason: String,
    },
    /// A platform setting changed.
    PolicyChanged {
        /// Dotted name of the setting (`policy.ceilings.fuel`).
        setting: String,
        /// Previous value, rendered as text.
        old: String,
        /// New value, rendered as text.
        new: String,
    },
    /// A circuit breaker opened: calls to the extension fail fast for a while.
    CircuitOpened {
        /// Failures per 100 calls in the breaker's window when it tripped (or the probe failed).
        failure_percent: u64,
        /// How long it stays open before probing, in milliseconds.
        cooldown_ms: u64,
    },
    /// A circuit breaker closed again after a successful probe.
    CircuitClosed {
        /// How long it was open, in milliseconds.
        open_ms: u64,
    },
    /// The health monitor found an anomaly and acted on it.
    AnomalyDetected {
        /// The detector (`profile_violation`, `approaching_limit`, ...).
        anomaly: String,
        /// What was done (`record`, `warn`, `throttle`, `quarantine`).
        action: String,
        /// The detector's evidence: the numbers compared and the window.
        evidence: serde_json::Value,
    },
    /// An extension's concurrency was lowered for a while.
    Throttled {
        /// Concurrent calls it keeps.
        concurrency: u32,
        /// How long, in milliseconds.
        period_ms: u64,
    },
    /// A time finding was put down to the host's own load (every active extension slowed
    /// down together), so the extension was not blamed.
    HostContention {
        /// The detector whose finding was not raised.
        anomaly: String,
        /// The finding and the host's shift, for people.
        evidence: String,
    },
    /// A served tenant's request refused by its quotas, allow-list or priority cap, before
    /// the guest ran.
    TenantRefused {
        /// The tenant's id.
        tenant: String,
        /// The refusal's kind (`fuel_quota`, `concurrency_quota`, `reservation_share`,
        /// `forbidden`, `priority_not_allowed`).
        reason: String,
        /// What was refused, in words.
        message: String,
    },
    /// What a served tenant used since its previous usage record (written every minute while
    /// it is used, and when the server stops).
    TenantUsage {
        /// The tenant's id.
        tenant: String,
        /// Calls served.
        calls: u64,
        /// Fuel its calls and runs burnt, in fuel units.
        fuel: u64,
        /// Requests refused.
        refusals: u64,
        /// The period these figures cover, in milliseconds.
        period_ms: u64,
    },
    /// The writer found the log's last record unreadable and started a new chain after it.
    /// Written by the audit log itself; the break stays in the file for `verify` to report.
    ChainRestarted {
        /// 1-based line number of the record that could not be continued from.
        broken_line: u64,
        /// Why it could not be continued from.
        reason: String,
    },
}

impl AuditEvent {
    /// The snake_case event kind written to the record's `event` field.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ExtensionLoaded { .. } => "extension_loaded",
            Self::LimitBreached { .. } => "limit_breached",
            Self::CapabilityDenied { .. } => "capability_denied",
            Self::HashMismatch { .. } => "hash_mismatch",
            Self::UnpinnedAllowed { .. } => "unpinned_allowed",
            Self::IdentityMismatch { .. } => "identity_mismatch",
            Self::Quarantined { .. } => "quarantined",
            Self::QuarantineLifted { .. } => "quarantine_lifted",
            Self::PolicyChanged { .. } => "policy_changed",
            Self::CircuitOpened { .. } => "circuit_opened",
            Self::CircuitClosed { .. } => "circuit_closed",
            Self::ChainRestarted { .. } => "chain_restarted",
            Self::AnomalyDetected { .. } => "anomaly_detected",
            Self::Throttled { .. } => "throttled",
            Self::HostContention { .. } => "host_contention",
            Self::TenantRefused { .. } => "tenant_refused",
            Self::TenantUsage { .. } => "tenant_usage",
        }
    }

    /// `extension_loaded` for a component with this hash and API version.
    #[must_use]
    pub fn extension_loaded(sha256: &str, api_version: impl std::fmt::Display) -> Self {
        Self::ExtensionLoaded { sha256: sha256.to_owned(), api_version: api_version.to_string() }
    }

    /// `limit_breached` for a limit of kind `kind` (a [`HostError::kind`]).
    #[must_use]
    pub fn limit_breached(kind: &str, limit: u64, value: u64) -> Self {
        Self::LimitBreached { kind: kind.to_owned(), limit, value }
    }

    /// `capability_denied` for `capability` on `target`.
    #[must_use]
    pub fn capability_denied(capability: &str, target: &str) -> Self {
        Self::CapabilityDenied { capability: capability.to_owned(), target: target.to_owned() }
    }

    /// `hash_mismatch` for the component at `path`.
    #[must_use]
    pub fn hash_mismatch(path: &Path, expected_sha256: &str, actual_sha256: &str) -> Self {
        Self::HashMismatch {
            path: path.display().to_string(),
            expected_sha256: expected_sha256.to_owned(),
            actual_sha256: actual_sha256.to_owned(),
        }
    }

    /// `unpinned_allowed` for the component at `path` with this hash.
    #[must_use]
    pub fn unpinned_allowed(path: &Path, sha256: &str) -> Self {
        Self::UnpinnedAllowed { path: path.display().to_string(), sha256: sha256.to_owned() }
    }

    /// `quarantined` for `reason`.
    #[must_use]
    pub fn quarantined(reason: impl Into<String>) -> Self {
        Self::Quarantined { reason: reason.into() }
    }

    /// `quarantine_lifted` for `reason`.
    #[must_use]
    pub fn quarantine_lifted(reason: impl Into<String>) -> Self {
        Self::QuarantineLifted { reason: reason.into() }
    }

    /// `anomaly_detected` for detector `anomaly`, acted on with `action`, with its `evidence`.
    #[must_use]
    pub fn anomaly_detected(anomaly: &str, action: &str, evidence: serde_json::Value) -> Self {
        Self::AnomalyDetected { anomaly: anomaly.to_owned(), action: action.to_owned(), evidence }
    }

    /// `throttled` to `concurrency` concurrent calls for `period_ms` milliseconds.
    #[must_use]
    pub fn throttled(concurrency: u32, period_ms: u64) -> Self {
        Self::Throttled { concurrency, period_ms }
    }

    /// `host_contention`: detector `anomaly`'s finding was the host's load, not the extension's.
    #[must_use]
    pub fn host_contention(anomaly: &str, evidence: String) -> Self {
        Self::HostContention { anomaly: anomaly.to_owned(), evidence }
    }

    /// `policy_changed` for `setting` going from `old` to `new`.
    #[must_use]
    pub fn policy_changed(setting: &str, old: impl std::fmt::Display, new: impl std::fmt::Display) -> Self {
        Self::PolicyChanged { setting: setting.to_owned(), old: old.to_string(), new: new.to_string() }
    }

    /// `circuit_opened` at `failure_percent` failures per 100 calls, open for `cooldown_ms`
    /// milliseconds.
    #[must_use]
    pub fn circuit_opened(failure_percent: u64, cooldown_ms: u64) -> Self {
        Self::CircuitOpened { failure_percent, cooldown_ms }
    }

    /// `circuit_closed` after being open for `open_ms` milliseconds.
    #[must_use]
    pub fn circuit_closed(open_ms: u64) -> Self {
        Self::CircuitClosed { open_ms }
    }

    /// The event a sandbox error is worth auditing as: limit breaches become `limit_breached`,
    /// a pin mismatch becomes `hash_mismatch`. Other errors (guest traps, bad manifests) are
    /// not security events and give `None`.
    #[must_use]
    pub fn from_host_error(err: &HostError) -> Option<Self> {
        let (limit, value) = match err {
            HostError::OutOfFuel { limit_fuel } => (*limit_fuel, *limit_fuel),
            HostError::DeadlineExceeded { limit_ms } => (*limit_ms, *limit_ms),
            HostError::StackOverflow { limit_bytes } => (*limit_bytes, *limit_bytes),
            HostError::MemoryLimit { requested_bytes, limit_bytes } => (*limit_bytes, *requested_bytes),
            HostError::TableLimit { requested_elements, limit_elements } => {
                (*limit_elements, *requested_elements)
            }
            HostError::InstanceLimit { needed, limit } => (*limit, *needed),
            HostError::InputTooLarge { size_bytes, limit_bytes }
            | HostError::OutputTooLarge { size_bytes, limit_bytes } => (*limit_bytes, *size_bytes),
            HostError::HashMismatch { path, expected_sha256, actual_sha256, .. } => {
                return Some(Self::hash_mismatch(path, expected_sha256, actual_sha256));
            }
            HostError::IdentityMismatch { manifest, component, missing_features } => {
                return Some(Self::IdentityMismatch {
                    manifest: manifest.clone(),
                    component: component.clone(),
                    missing_features: missing_features.clone(),
                });
            }
            HostError::MetadataTooLarge { .. } => (0, 0),
            _ => return None,
        };
        if let HostError::MetadataTooLarge { size_bytes, limit_bytes, features, limit_features } = err {
            return Some(if size_bytes > limit_bytes {
                Self::limit_breached(err.kind(), *limit_bytes, *size_bytes)
            } else {
                Self::limit_breached(err.kind(), *limit_features, *features)
            });
        }
        Some(Self::limit_breached(err.kind(), limit, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_event_and_details() {
        let json = serde_json::to_value(AuditEvent::limit_breached("memory_limit", 10, 12)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "limit_breached", "details": {"kind": "memory_limit", "limit": 10, "value": 12}})
        );
    }

    #[test]
    fn kind_matches_the_serialised_tag() {
        let events = [
            AuditEvent::extension_loaded("ab", "1.0.0"),
            AuditEvent::limit_breached("out_of_fuel", 1, 1),
            AuditEvent::capability_denied("http", "https://example.com"),
            AuditEvent::hash_mismatch(Path::new("x.wasm"), "aa", "bb"),
            AuditEvent::IdentityMismatch {
                manifest: "liar@1.0.0".into(),
                component: "totally-trusted@9.9.9".into(),
                missing_features: vec!["echo".into()],
            },
            AuditEvent::quarantined("too many breaches"),
            AuditEvent::quarantine_lifted("operator"),
            AuditEvent::anomaly_detected(
                "profile_violation",
                "quarantine",
                serde_json::json!({"ratio": 44.5}),
            ),
            AuditEvent::throttled(1, 60_000),
            AuditEvent::policy_changed("policy.ceilings.fuel", 1, 2),
            AuditEvent::circuit_opened(5, 30_000),
            AuditEvent::circuit_closed(30_000),
            AuditEvent::ChainRestarted { broken_line: 3, reason: "unparsable".into() },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["event"], event.kind());
            assert!(json["details"].is_object(), "{json}");
            let back: AuditEvent = serde_json::from_value(json).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn limit_breaches_and_pin_mismatches_are_audited_other_errors_are_not() {
        let fuel = AuditEvent::from_host_error(&HostError::OutOfFuel { limit_fuel: 7 });
        assert_eq!(fuel, Some(AuditEvent::limit_breached("out_of_fuel", 7, 7)));
        let memory =
            AuditEvent::from_host_error(&HostError::MemoryLimit { requested_bytes: 20, limit_bytes: 10 });
        assert_eq!(memory, Some(AuditEvent::limit_breached("memory_limit", 10, 20)));
        let mismatch = AuditEvent::from_host_error(&HostError::HashMismatch {
            path: "a.wasm".into(),
            expected_sha256: "aa".into(),
            actual_sha256: "bb".into(),
            pins_file: ".symphony/pins.toml".into(),
            manifest: "extension.toml".into(),
        });
        assert!(matches!(mismatch, Some(AuditEvent::HashMismatch { .. })));
        let trap = HostError::GuestTrap {
            code: symphony_types::error::TrapCode::Unreachable,
            message: String::new(),
        };
        assert_eq!(AuditEvent::from_host_error(&trap), None);
    }
}
