//! Resilience profiles: named bundles of retry and breaker parameters (`critical`, `balanced`,
//! `tolerant`, or any the platform defines), and routes that pick a profile, required features
//! and a fallback chain per extension. Plain data read from `symphony.toml`'s `[conductor]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::breaker::BreakerPolicy;
use super::fallback::FallbackStep;
use super::retry::RetryPolicy;

/// The profile used when a route names none.
pub const DEFAULT_PROFILE: &str = "balanced";

/// Retry and breaker parameters chosen together.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceProfile {
    /// Retry of transient errors.
    pub retry: RetryPolicy,
    /// The circuit breaker of each extension called under this profile.
    pub breaker: BreakerPolicy,
}

impl ResilienceProfile {
    /// `critical`: work that must complete — more attempts over a longer request deadline and a
    /// larger retry share, and a breaker that needs more evidence before refusing.
    #[must_use]
    pub fn critical() -> Self {
        Self {
            retry: RetryPolicy::default().max_attempts(5).request_deadline_ms(30_000).budget_ratio(0.3),
            breaker: BreakerPolicy::default().minimum_calls(20).failure_ratio(0.6),
        }
    }

    /// `balanced`: the defaults of each layer (3 attempts, 10 s request deadline, 20 % retry
    /// budget; breaker at 50 % failures over 10 s once 10 calls were seen).
    #[must_use]
    pub fn balanced() -> Self {
        Self::default()
    }

    /// `tolerant`: best-effort work whose caller copes with failure — one retry, a short
    /// request deadline, and a breaker that opens early and stays open longer to protect the
    /// platform rather than the call.
    #[must_use]
    pub fn tolerant() -> Self {
        Self {
            retry: RetryPolicy::default().max_attempts(2).request_deadline_ms(3_000).budget_ratio(0.1),
            breaker: BreakerPolicy::default().minimum_calls(5).failure_ratio(0.3).open_ms(5_000),
        }
    }

    /// The three built-in profiles by name.
    #[must_use]
    pub fn built_in() -> BTreeMap<String, ResilienceProfile> {
        BTreeMap::from([
            ("critical".to_owned(), Self::critical()),
            ("balanced".to_owned(), Self::balanced()),
            ("tolerant".to_owned(), Self::tolerant()),
        ])
    }
}

/// How calls to one extension are conducted.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The extension name this route applies to.
    pub extension: String,
    /// Profile name (default: the conductor's default profile).
    pub profile: Option<String>,
    /// Features a fallback must provide to be taken.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Steps tried in order when the extension cannot serve.
    #[serde(default)]
    pub fallback: Vec<FallbackStep>,
}

/// The `[conductor]` section: profiles (built-ins plus the platform's own) and routes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConductorConfig {
    /// Profile used when a route names none.
    pub default_profile: String,
    /// Every profile by name.
    pub profiles: BTreeMap<String, ResilienceProfile>,
    /// Per-extension routes.
    pub routes: Vec<Route>,
}

impl Default for ConductorConfig {
    fn default() -> Self {
        Self {
            default_profile: DEFAULT_PROFILE.to_owned(),
            profiles: ResilienceProfile::built_in(),
            routes: Vec::new(),
        }
    }
}

impl ConductorConfig {
    /// The route for an extension name, if any.
    #[must_use]
    pub fn route(&self, extension: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.extension == extension)
    }

    /// The profile name that applies to an extension (route's, else the default).
    #[must_use]
    pub fn profile_name(&self, extension: &str) -> &str {
        self.route(extension).and_then(|r| r.profile.as_deref()).unwrap_or(&self.default_profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_differ_where_documented() {
        let profiles = ResilienceProfile::built_in();
        assert_eq!(profiles["critical"].retry.max_attempts, 5);
        assert_eq!(profiles["balanced"], ResilienceProfile::default());
        assert_eq!(profiles["tolerant"].retry.max_attempts, 2);
        assert!(profiles["tolerant"].breaker.failure_ratio < profiles["critical"].breaker.failure_ratio);
    }

    #[test]
    fn routes_pick_profiles_and_default_otherwise() {
        let config = ConductorConfig {
            routes: vec![Route {
                extension: "flaky".into(),
                profile: Some("critical".into()),
                ..Route::default()
            }],
            ..ConductorConfig::default()
        };
        assert_eq!(config.profile_name("flaky"), "critical");
        assert_eq!(config.profile_name("echo"), DEFAULT_PROFILE);
    }
}
