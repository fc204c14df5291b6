//! [`HealthStatus`]: what an extension says about its own health when asked outside a request
//! (`handler.health`, API 1.1.0). Asking is the host's (`LoadedExtension::health`);
//! what the conductor does with breakers and health events is the conductor's business.

use serde::Serialize;

/// An extension's own account of its health.
///
/// Guests built against API 1.0.0 cannot report one: for them the host answers [`Ready`]
/// without running the guest, exactly what a 1.1.0 guest that keeps the SDK's default says.
/// Callers that must tell "said ready" from "assumed ready" check
/// the host's `ApiVersion::exports_health`.
///
/// [`Ready`]: HealthStatus::Ready
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum HealthStatus {
    /// Ready to serve every request it handles.
    Ready,
    /// Serving, but with less; the guest's explanation.
    Degraded(String),
    /// Not serving now; the guest's explanation. Callers may route elsewhere.
    Unavailable(String),
}

impl HealthStatus {
    /// True for [`Ready`](Self::Ready) and [`Degraded`](Self::Degraded): the extension still
    /// takes requests.
    #[must_use]
    pub fn is_serving(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready => f.write_str("ready"),
            Self::Degraded(reason) => write!(f, "degraded: {reason}"),
            Self::Unavailable(reason) => write!(f, "unavailable: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_a_status_tag() {
        let json = serde_json::to_value(HealthStatus::Degraded("slow".into())).unwrap();
        assert_eq!(json, serde_json::json!({"status": "degraded", "reason": "slow"}));
        let json = serde_json::to_value(HealthStatus::Ready).unwrap();
        assert_eq!(json, serde_json::json!({"status": "ready"}));
    }

    #[test]
    fn only_unavailable_stops_serving() {
        assert!(HealthStatus::Ready.is_serving());
        assert!(HealthStatus::Degraded("slow".into()).is_serving());
        assert!(!HealthStatus::Unavailable("down".into()).is_serving());
    }
}
