//! Tenants (`[[tenants]]` in `symphony.toml`): who may call a served platform, what, and how
//! much. Each has an id, the sha256 of its API key (the key itself is never stored), the
//! extensions and workflows it may call (names or `*` patterns; none by default), the highest
//! admission class its calls may claim, and its quotas: calls in flight at once, fuel per
//! minute (a token bucket), its share of the reservation pool, and the largest request body.
//!
//! ```toml
//! [[tenants]]
//! id = "acme"
//! api_key_sha256 = "…64 hex digits…"   # printf %s "$KEY" | sha256sum
//! extensions = ["echo", "text-*"]
//! workflows = ["report"]
//! max_priority = "recommended"        # optional | recommended | essential
//! [tenants.quotas]
//! concurrent_calls = 4
//! fuel_per_minute = 200_000_000
//! reservation_share = 0.5             # of the pool's memory and fuel budgets, held at once
//! max_body_bytes = "256 KiB"
//! ```

use serde::Deserialize;
use sha2::{Digest, Sha256};

use symphony_types::byte_size;
use symphony_types::capability::pattern_matches;
use symphony_types::manifest::Priority;

/// Calls a tenant may have in flight at once, by default.
pub const DEFAULT_CONCURRENT_CALLS: u32 = 8;
/// Fuel a tenant may burn per minute, by default, in fuel units.
pub const DEFAULT_FUEL_PER_MINUTE: u64 = 1_000_000_000;
/// Largest request body a tenant may send, by default, in bytes (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 20;
/// Share of the reservation pool's budgets a tenant's calls may hold at once, by default (all).
pub const DEFAULT_RESERVATION_SHARE: f64 = 1.0;
/// Highest admission class a tenant may claim, by default: `essential` is granted explicitly.
pub const DEFAULT_MAX_PRIORITY: Priority = Priority::Recommended;

/// A tenant's quotas (`[tenants.quotas]`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantQuotas {
    /// Calls in flight at once; a workflow run holds one for as long as it runs.
    pub concurrent_calls: u32,
    /// Fuel per minute, in fuel units: the size of the token bucket, refilled continuously.
    pub fuel_per_minute: u64,
    /// Share (0 < share ≤ 1) of the reservation pool's memory and fuel budgets its calls may
    /// hold at once, counted by their limits as the pool counts them; 1: the whole pool, no
    /// bound beyond the pool's own admission.
    pub reservation_share: f64,
    /// Largest request body, in bytes.
    #[serde(with = "byte_size")]
    pub max_body_bytes: u64,
}

impl Default for TenantQuotas {
    fn default() -> Self {
        Self {
            concurrent_calls: DEFAULT_CONCURRENT_CALLS,
            fuel_per_minute: DEFAULT_FUEL_PER_MINUTE,
            reservation_share: DEFAULT_RESERVATION_SHARE,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Its id (lowercase letters, digits, `-`): in metrics, health and the audit log.
    pub id: String,
    /// sha256 (64 lowercase hex digits) of its API key.
    pub api_key_sha256: String,
    /// Extensions it may call: names or `*` patterns. Empty: none.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Workflows it may run: names or `*` patterns. Empty: none.
    #[serde(default)]
    pub workflows: Vec<String>,
    /// Highest admission class its calls may claim (and the class they are capped at).
    #[serde(default = "default_max_priority")]
    pub max_priority: Priority,
    /// Its quotas.
    #[serde(default)]
    pub quotas: TenantQuotas,
}

fn default_max_priority() -> Priority {
    DEFAULT_MAX_PRIORITY
}

/// sha256 (lowercase hex) of an API key, as `api_key_sha256` holds it.
#[must_use]
pub fn api_key_sha256(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl TenantConfig {
    /// Whether `key` is this tenant's (compared by hash, in constant time over the digest).
    #[must_use]
    pub fn key_matches(&self, key: &str) -> bool {
        let presented = api_key_sha256(key);
        presented.len() == self.api_key_sha256.len()
            && presented.bytes().zip(self.api_key_sha256.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Whether it may call the extension named `name`.
    #[must_use]
    pub fn allows(&self, name: &str) -> bool {
        self.extensions.iter().any(|pattern| pattern_matches(pattern, name))
    }

    /// Whether it may run the workflow named `name`.
    #[must_use]
    pub fn allows_workflow(&self, name: &str) -> bool {
        self.workflows.iter().any(|pattern| pattern_matches(pattern, name))
    }
}

/// 1-based line of `key` inside the `index`-th `[[tenants]]` table of `text` (or of the
/// table's header when the key is not written there).
#[must_use]
pub fn line_of(text: &str, index: usize, key: &str) -> Option<usize> {
    let key = key.rsplit('.').next().unwrap_or(key);
    let mut seen = 0usize;
    let mut header = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("[[tenants]]") {
            if header.is_some() {
                break;
            }
            if seen == index {
                header = Some(number + 1);
            }
            seen += 1;
        } else if header.is_some() {
            if trimmed.starts_with("[[") {
                break;
            }
            if trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')) {
                return Some(number + 1);
            }
        }
    }
    header
}

/// The first invalid field of `tenants`, as (`tenants[i].field`, why).
#[must_use]
pub fn invalid_field(tenants: &[TenantConfig]) -> Option<(String, String)> {
    for (index, tenant) in tenants.iter().enumerate() {
        let field = |name: &str| format!("tenants[{index}].{name}");
        if tenant.id.is_empty()
            || !tenant.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Some((
                field("id"),
                format!("`{}` is not a valid id: use lowercase letters, digits and `-`", tenant.id),
            ));
        }
        if tenants[..index].iter().any(|t| t.id == tenant.id) {
            return Some((field("id"), format!("tenant id `{}` is used twice", tenant.id)));
        }
        if tenant.api_key_sha256.len() != 64
            || !tenant.api_key_sha256.chars().all(|c| c.is_ascii_digit() || matches!(c, 'a'..='f'))
        {
            return Some((
                field("api_key_sha256"),
                "must be the key's sha256: 64 lowercase hex digits (printf %s \"$KEY\" | sha256sum)".into(),
            ));
        }
        if tenants[..index].iter().any(|t| t.api_key_sha256 == tenant.api_key_sha256) {
            return Some((field("api_key_sha256"), "two tenants share one API key".into()));
        }
        let quotas = &tenant.quotas;
        for (name, zero) in [
            ("quotas.concurrent_calls", quotas.concurrent_calls == 0),
            ("quotas.fuel_per_minute", quotas.fuel_per_minute == 0),
            ("quotas.max_body_bytes", quotas.max_body_bytes == 0),
        ] {
            if zero {
                return Some((field(name), "must be greater than 0".into()));
            }
        }
        if !(quotas.reservation_share > 0.0 && quotas.reservation_share <= 1.0) {
            return Some((
                field("quotas.reservation_share"),
                format!("must be a share above 0 and at most 1, not {}", quotas.reservation_share),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str, key: &str) -> TenantConfig {
        TenantConfig {
            id: id.into(),
            api_key_sha256: api_key_sha256(key),
            extensions: vec!["text-*".into()],
            workflows: vec!["rep*".into()],
            max_priority: DEFAULT_MAX_PRIORITY,
            quotas: TenantQuotas::default(),
        }
    }

    #[test]
    fn keys_match_by_hash_and_extensions_by_pattern() {
        let acme = tenant("acme", "s3cret");
        assert!(acme.key_matches("s3cret") && !acme.key_matches("s3cret ") && !acme.key_matches(""));
        assert!(acme.allows("text-stats") && !acme.allows("echo"));
        assert!(acme.allows_workflow("report") && !acme.allows_workflow("generate"));
        assert_eq!(invalid_field(std::slice::from_ref(&acme)), None);
        let twice = invalid_field(&[acme.clone(), tenant("acme", "other")]);
        assert_eq!(twice.map(|(f, _)| f).as_deref(), Some("tenants[1].id"));
        let shared = invalid_field(&[acme.clone(), tenant("beta", "s3cret")]);
        assert_eq!(shared.map(|(f, _)| f).as_deref(), Some("tenants[1].api_key_sha256"));
        let mut share = acme.clone();
        for wrong in [0.0, 1.5, f64::NAN] {
            share.quotas.reservation_share = wrong;
            let field = invalid_field(std::slice::from_ref(&share)).map(|(f, _)| f);
            assert_eq!(field.as_deref(), Some("tenants[0].quotas.reservation_share"), "{wrong}");
        }
        let mut bad = acme;
        bad.api_key_sha256 = "s3cret".into();
        assert_eq!(invalid_field(&[bad]).map(|(f, _)| f).as_deref(), Some("tenants[0].api_key_sha256"));
    }

    #[test]
    fn lines_are_found_inside_the_right_tenant() {
        let text =
            "[[tenants]]\nid = \"a\"\n\n[[tenants]]\nid = \"a\"\n[tenants.quotas]\nfuel_per_minute = 0\n";
        assert_eq!(line_of(text, 1, "id"), Some(5));
        assert_eq!(line_of(text, 1, "quotas.fuel_per_minute"), Some(7));
        assert_eq!(line_of(text, 0, "extensions"), Some(1), "not written: the table's header");
    }
}
